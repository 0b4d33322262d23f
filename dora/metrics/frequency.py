"""Deployment frequency (METRICS §3.1): production rollouts per period, category and level."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from dora.metrics.frames import (
    DAY_SECONDS,
    WEEK_SECONDS,
    check_window,
    require_columns,
    text,
    utc,
)
from dora.metrics.levels import (
    DEPLOYMENT_FREQUENCY,
    HALF_YEAR,
    LATEST_BENCHMARK,
    frequency_badge_allowed,
    frequency_category,
    level_for_category,
)
from dora.metrics.stats import poisson_ci

COUNTED_KINDS = ("change", "config")
ROLLOUT_COLUMNS = ("rollout_id", "service", "environment", "kind", "first_live_at")
MONTH_DAYS = 30


@dataclass(frozen=True)
class Frequency:
    """CONTRACT §4 `deployment_frequency`, plus what METRICS asks to report beside it."""

    rollouts: int
    per_day: float
    per_week: float
    deploy_days_per_week: float | None
    median_gap_seconds: float | None
    category: str | None
    level: str | None
    # Beside the contract figure: redeploys and rollbacks are reported, not counted (§3.1);
    # exact Poisson 95% interval of the weekly rate (§6).
    redeploys: int = 0
    rollbacks: int = 0
    deploy_days: int = 0
    per_week_ci95: tuple[float, float] | None = None
    # The badge's history rule (§3.6) is met: a level (tier years) or a 2025 placement is shown.
    sufficient: bool = False
    # What `weeks` and `items` are built from, on first use: most scopes of a page need neither
    # (a level or a cell), and building them was most of a small scope's figure.
    _frame: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)
    _window_rows: tuple[int, int] = field(default=(0, 0), compare=False, repr=False)
    _week_counts: tuple[np.ndarray, np.ndarray] = field(
        default=(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)),
        compare=False,
        repr=False,
    )

    @cached_property
    def weeks(self) -> pd.DataFrame:
        """Deploy days per ISO week of the window (`_deploy_days_per_week`): week, deploy_days."""
        mondays, counts = self._week_counts
        return pd.DataFrame(
            {"week": mondays.astype("datetime64[D]").astype(object), "deploy_days": counts}
        )

    @cached_property
    def items(self) -> pd.DataFrame:
        """The window's rollouts (counted or not), in time order, indexed from 0."""
        first, last = self._window_rows
        return self._frame.iloc[first:last].reset_index(drop=True)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rollouts": self.rollouts,
            "per_day": self.per_day,
            "per_week": self.per_week,
            "deploy_days_per_week": self.deploy_days_per_week,
            "median_gap_seconds": self.median_gap_seconds,
            "category": self.category,
            "level": self.level,
        }


def deployment_frequency(
    rollouts: pd.DataFrame,
    *,
    since: datetime,
    until: datetime,
    tz: str = "UTC",
    benchmark: int = LATEST_BENCHMARK,
    first_rollout_at: datetime | None = None,
) -> Frequency:
    """Production rollouts of kind change/config placed by `first_live_at` in [since, until).

    rollouts: one row per production rollout (dora.models.Rollout), any kind, and for the F2
      rule and the badge also rollouts before `since` (at least 182.5 days before `until`):
      rollout_id (int), service (str), environment (str), kind (str: change, config, redeploy,
      rollback), first_live_at (aware datetime).
    tz: reporting time zone for day and ISO-week (Monday) buckets.
    first_rollout_at: the service's first production rollout; default the earliest
      `first_live_at` in the frame. The level is withheld unless it is >= 8 weeks before until.

    - Each row is one rollout however many targets it reached, so a version shipped to many
      targets counts once. Redeploys and rollbacks are counted beside it, not in it.
    - deploy_days_per_week: median over the ISO weeks (local dates) at least half inside the
      window (all weeks it touches when none is), weeks without a rollout counting as 0.
    - median deploy days per 30-day month (F3): 30-day blocks of local dates counted back from
      the last day of the window, whole blocks only (the whole window when it is shorter).
    - median_gap_seconds: median time between consecutive counted rollouts of the same
      (service, environment), gaps pooled; a gap is placed by its later rollout.
    """
    return frequency_of(
        frequency_frame(rollouts),
        since=since,
        until=until,
        tz=tz,
        benchmark=benchmark,
        first_rollout_at=first_rollout_at,
    )


def frequency_frame(rollouts: pd.DataFrame) -> pd.DataFrame:
    """The row-wise part of `deployment_frequency`, which needs no window: the rollouts with
    `counted` (kind change or config) and `gap_seconds` (since the previous counted rollout of
    the same service and environment in the frame).

    A frame of many services gives each service the rows it would get alone, so the figures of
    many scopes can share one pass (`frequency_of` on each scope's rows).
    """
    require_columns(rollouts, ROLLOUT_COLUMNS, "rollouts")
    live = utc(rollouts["first_live_at"], "rollouts.first_live_at")
    kind = text(rollouts["kind"])
    counted_mask = kind.isin(COUNTED_KINDS)
    frame = pd.DataFrame(
        {
            "rollout_id": rollouts["rollout_id"],
            "service": rollouts["service"],
            "environment": rollouts["environment"],
            "kind": kind,
            "first_live_at": live,
            "counted": counted_mask,
        }
    )
    # Gaps between consecutive counted rollouts of one (service, environment), placed by the later.
    counted_all = frame[counted_mask].sort_values(["service", "environment", "first_live_at"])
    gaps = counted_all.groupby(["service", "environment"], sort=False)["first_live_at"].diff()
    frame["gap_seconds"] = gaps.dt.total_seconds().reindex(frame.index)
    # In time order, so a window's rows are a slice (frequency_of); a group's rows keep it.
    return frame.sort_values("first_live_at", kind="stable", na_position="last")


def frequency_of(
    frame: pd.DataFrame,
    *,
    since: datetime,
    until: datetime,
    tz: str = "UTC",
    benchmark: int = LATEST_BENCHMARK,
    first_rollout_at: datetime | None = None,
) -> Frequency:
    """`deployment_frequency` of a scope from its rows of `frequency_frame` (in time order, as
    it returns them and as a group of them stays)."""
    start, end = check_window(since, until)
    live = frame["first_live_at"]
    if not live.is_monotonic_increasing:  # rows without a moment never count
        frame = frame[live.notna()].sort_values("first_live_at", kind="stable")
        live = frame["first_live_at"]
    # In integer ns: the column's unit (seconds, say) may not hold the window's microseconds.
    nanos = live.array.as_unit("ns").asi8
    first, last = (int(i) for i in np.searchsorted(nanos, [start.value, end.value]))
    counted_flags = frame["counted"].to_numpy(dtype=bool)
    counted = counted_flags[first:last]

    n = int(counted.sum())
    window_seconds = (end - start).total_seconds()
    per_day = n / (window_seconds / DAY_SECONDS)
    weeks_in_window = window_seconds / WEEK_SECONDS
    per_week = n / weeks_in_window
    lo, hi = poisson_ci(n)

    days = _day_numbers(live.array[first:last][counted], tz)
    deploy_days = len(days)
    local_start = start.tz_convert(tz).tz_localize(None)
    local_end = end.tz_convert(tz).tz_localize(None)
    mondays, week_counts = _deploy_days_per_week(days, local_start, local_end)
    median_per_week = float(np.median(week_counts))
    median_per_month = _median_deploy_days_per_month(days, local_start, local_end)
    gaps = frame["gap_seconds"].to_numpy(dtype=float)[first:last][counted]
    gap = gaps[~np.isnan(gaps)]

    history = int(counted_flags[:last].sum())  # counted rollouts before the window's end
    half_year_ago = np.searchsorted(nanos, (end - pd.Timedelta(seconds=HALF_YEAR)).value)
    recent = int(counted_flags[half_year_ago:last].sum())
    category = None
    if history:
        category = frequency_category(
            median_deploy_days_per_week=median_per_week,
            rollouts_per_deploy_day=n / deploy_days if deploy_days else 0.0,
            median_deploy_days_per_month=median_per_month,
            rollouts_last_half_year=recent,
        )
    if first_rollout_at is None and len(live):
        first_rollout_at = live.iloc[0]
    sufficient = category is not None and frequency_badge_allowed(first_rollout_at, end)
    level = level_for_category(DEPLOYMENT_FREQUENCY, category, benchmark) if sufficient else None

    kinds = frame["kind"].to_numpy()[first:last]
    return Frequency(
        rollouts=n,
        per_day=per_day,
        per_week=per_week,
        deploy_days_per_week=median_per_week if n or history else None,
        median_gap_seconds=float(np.median(gap)) if len(gap) else None,
        category=category,
        level=level,
        redeploys=int((kinds == "redeploy").sum()),
        rollbacks=int((kinds == "rollback").sum()),
        deploy_days=deploy_days,
        per_week_ci95=(lo / weeks_in_window, hi / weeks_in_window),
        sufficient=sufficient,
        _frame=frame,
        _window_rows=(first, last),
        _week_counts=(mondays, week_counts),
    )


def _day_numbers(moments: Any, tz: str) -> np.ndarray:
    """The distinct local dates in `tz` of aware moments (an array) as days since 1970-01-01,
    sorted."""
    local = pd.DatetimeIndex(moments).tz_convert(tz).tz_localize(None)
    return np.unique(local.to_numpy().astype("datetime64[D]").astype(np.int64))


def _day_range(local_start: pd.Timestamp, local_end: pd.Timestamp) -> tuple[int, int]:
    """The first and last local date the window [local_start, local_end) touches, as day
    numbers (days since 1970-01-01)."""
    first_day = local_start.normalize()
    last_day = (local_end - pd.Timedelta(microseconds=1)).normalize()
    return (
        int(first_day.to_datetime64().astype("datetime64[D]").astype(np.int64)),
        int(last_day.to_datetime64().astype("datetime64[D]").astype(np.int64)),
    )


def _monday(days: np.ndarray | int) -> np.ndarray | int:
    """The Monday starting the ISO week of day numbers (1970-01-01 was a Thursday)."""
    return days - (days + 3) % 7


def _deploy_days_per_week(
    days: np.ndarray, local_start: pd.Timestamp, local_end: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct deploy days (`days`: distinct day numbers, see `_day_numbers`) per ISO week
    (Monday start) for the weeks the window covers: the weeks' Mondays (day numbers) and
    their counts.

    A week counts when at least half of it lies in the window, so a window edge a few hours
    into a week does not add a spurious zero; when no week qualifies (a window under 3.5 days)
    every week it touches counts.
    """
    first_day, last_day = _day_range(local_start, local_end)
    mondays = np.arange(_monday(first_day), int(_monday(last_day)) + 1, 7, dtype=np.int64)
    day_ns = 86_400 * 10**9
    start_ns, end_ns = local_start.value, local_end.value  # naive local wall time, in ns
    overlap = np.minimum((mondays + 7) * day_ns, end_ns) - np.maximum(mondays * day_ns, start_ns)
    kept = mondays[overlap >= day_ns * 7 // 2]
    if not kept.size:
        kept = mondays
    at = np.searchsorted(kept, _monday(days))
    inside = at < kept.size
    inside[inside] = kept[at[inside]] == _monday(days)[inside]
    return kept, np.bincount(at[inside], minlength=kept.size)


def _median_deploy_days_per_month(
    days: np.ndarray, local_start: pd.Timestamp, local_end: pd.Timestamp
) -> float:
    """Median deploy days (`days`: distinct day numbers) per 30-day block, counted back from
    the window's last local day."""
    first_day, last_day = _day_range(local_start, local_end)
    blocks = max(1, (last_day - first_day + 1) // MONTH_DAYS)
    back = (last_day - days) // MONTH_DAYS
    return float(np.median(np.bincount(back[(back >= 0) & (back < blocks)], minlength=blocks)))
