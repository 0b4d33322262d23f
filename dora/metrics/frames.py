"""Shared input checks and conversions for the metric functions: columns, UTC, windows, ISO."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

DAY_SECONDS = 86_400.0
WEEK_SECONDS = 7 * DAY_SECONDS


def require_columns(frame: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    """Raise ValueError naming the frame and the missing columns."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing columns {', '.join(missing)}")


def check_aware(moment: datetime, name: str) -> pd.Timestamp:
    """An aware datetime as a UTC Timestamp; naive datetimes are rejected, never guessed."""
    stamp = pd.Timestamp(moment)
    if stamp.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware (UTC), got a naive datetime")
    return stamp.tz_convert("UTC")


def check_window(since: datetime, until: datetime) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The half-open window [since, until) as UTC Timestamps; since must precede until."""
    start = check_aware(since, "since")
    end = check_aware(until, "until")
    if not start < end:
        raise ValueError("since must be before until")
    return start, end


def utc(series: pd.Series, name: str) -> pd.Series:
    """A column of timestamps as datetime64[UTC]; naive values are rejected.

    Empty or all-null columns of any dtype become an all-NaT UTC column.
    """
    if isinstance(series.dtype, pd.DatetimeTZDtype):
        return series.dt.tz_convert("UTC")
    if series.isna().all():
        return pd.Series(pd.NaT, index=series.index, dtype="datetime64[us, UTC]")
    if pd.api.types.is_datetime64_dtype(series.dtype):
        raise ValueError(f"{name}: naive timestamps are rejected; store aware UTC")
    converted = pd.to_datetime(series)
    if not isinstance(converted.dtype, pd.DatetimeTZDtype):
        raise ValueError(f"{name}: naive timestamps are rejected; store aware UTC")
    return converted.dt.tz_convert("UTC")


def in_window(moments: pd.Series, since: pd.Timestamp, until: pd.Timestamp) -> pd.Series:
    """Boolean mask of `since <= moment < until` (NaT is outside)."""
    return (moments >= since) & (moments < until)


def local_days(moments: pd.Series, tz: str) -> pd.Series:
    """The local calendar date (naive midnight) of each moment in the reporting time zone."""
    return moments.dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()


def iso(moment: Any) -> str | None:
    """An aware moment as ISO 8601 UTC with a Z (`2026-03-05T10:00:00Z`); None for missing."""
    if moment is None or pd.isna(moment):
        return None
    stamp = pd.Timestamp(moment).tz_convert("UTC")
    return stamp.isoformat().replace("+00:00", "Z")


def number(value: Any) -> float | None:
    """A plain float (or None for NaN/None), so as_dict() output is JSON-ready."""
    if value is None or pd.isna(value):
        return None
    return float(value)


def as_bool(series: pd.Series) -> pd.Series:
    """A nullable boolean column as plain bool (missing is False)."""
    return series.fillna(False).astype(bool)


def text(series: pd.Series) -> pd.Series:
    """A string column with missing values as ''."""
    return series.fillna("").astype(str)


# A group's figures read each column once as an array (`floats`, `trues`): a pandas reduction
# costs tens of µs of dispatch whatever its length, which was most of a small scope's figure.


def floats(column: pd.Series) -> np.ndarray:
    """A numeric column as float64 with NaN for missing: the column's own array when it is
    float64 already, else converted as `to_numpy(dtype=float, na_value=nan)` does."""
    values = column.to_numpy()
    if values.dtype == np.float64:
        return values
    return column.to_numpy(dtype=float, na_value=np.nan)


def trues(column: pd.Series) -> int:
    """How many values of a boolean column are true (missing ones are not): `column.sum()`
    without pandas' reduction when the column is plain bool."""
    values = column.to_numpy()
    if values.dtype == np.bool_:
        return int(np.count_nonzero(values))
    return int(column.sum())
