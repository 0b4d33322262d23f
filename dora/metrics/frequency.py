"""Deployment frequency (METRICS §3.1): production rollouts per period, category and level."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property, lru_cache
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
NAT = np.iinfo(np.int64).min  # NaT as int64


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
    it returns them and as a group of them stays).

    Each column is read once as an array and the window's calendar (`_window_calendar`) is
    worked out once per window and zone: a page asks this of ~600 scopes of a few dozen rows,
    where pandas' per-call cost was most of the figure."""
    start, end = check_window(since, until)
    live = frame["first_live_at"]
    # In integer ns: the column's unit (seconds, say) may not hold the window's microseconds.
    nanos = live.array.as_unit("ns").asi8
    if not _increasing(nanos):  # rows without a moment never count
        frame = frame[live.notna()].sort_values("first_live_at", kind="stable")
        live = frame["first_live_at"]
        nanos = live.array.as_unit("ns").asi8
    calendar = _window_calendar(start, end, tz)
    first, last, half_year_ago = (
        int(i) for i in np.searchsorted(nanos, [start.value, end.value, calendar.half_year_ago])
    )
    counted_flags = frame["counted"].to_numpy(dtype=bool)
    counted = counted_flags[first:last]

    n = int(np.count_nonzero(counted))
    per_day = n / (calendar.seconds / DAY_SECONDS)
    weeks_in_window = calendar.seconds / WEEK_SECONDS
    per_week = n / weeks_in_window
    lo, hi = poisson_ci(n)

    days = _day_numbers(live.array, nanos, first, last, counted, tz)
    deploy_days = len(days)
    mondays, week_counts = _deploy_days_per_week(days, calendar)
    median_per_week = _median(np.sort(week_counts))
    median_per_month = _median_deploy_days_per_month(days, calendar)
    gaps = frame["gap_seconds"].to_numpy(dtype=float)[first:last][counted]
    gap = np.sort(gaps[~np.isnan(gaps)])

    history = int(np.count_nonzero(counted_flags[:last]))  # counted before the window's end
    recent = int(np.count_nonzero(counted_flags[half_year_ago:last]))
    category = None
    if history:
        category = frequency_category(
            median_deploy_days_per_week=median_per_week,
            rollouts_per_deploy_day=n / deploy_days if deploy_days else 0.0,
            median_deploy_days_per_month=median_per_month,
            rollouts_last_half_year=recent,
        )
    if first_rollout_at is None and len(live):
        first_rollout_at = live.array[0]
    sufficient = category is not None and frequency_badge_allowed(first_rollout_at, end)
    level = level_for_category(DEPLOYMENT_FREQUENCY, category, benchmark) if sufficient else None

    # Redeploys and rollbacks are never counted (`frequency_frame`): look among the others.
    kinds = frame["kind"].to_numpy()[first:last][~counted]
    return Frequency(
        rollouts=n,
        per_day=per_day,
        per_week=per_week,
        deploy_days_per_week=median_per_week if n or history else None,
        median_gap_seconds=_median(gap) if len(gap) else None,
        category=category,
        level=level,
        redeploys=int(np.count_nonzero(kinds == "redeploy")),
        rollbacks=int(np.count_nonzero(kinds == "rollback")),
        deploy_days=deploy_days,
        per_week_ci95=(lo / weeks_in_window, hi / weeks_in_window),
        sufficient=sufficient,
        _frame=frame,
        _window_rows=(first, last),
        _week_counts=(mondays, week_counts),
    )


def _increasing(nanos: np.ndarray) -> bool:
    """pandas' `is_monotonic_increasing` of a datetime column given as its int64 ns (NaT is
    int64's minimum): False when any value is NaT."""
    if not nanos.size:
        return True
    return bool(nanos[0] != NAT) and bool(np.all(nanos[1:] >= nanos[:-1]))


def _median(values: np.ndarray) -> float:
    """`float(np.median(values))` of a sorted sample without NaN (counts or seconds), by
    np.median's arithmetic: the middle value, or the mean of the middle two."""
    middle = len(values) // 2
    if len(values) % 2:
        return float(values[middle])
    return (float(values[middle - 1]) + float(values[middle])) / 2


@dataclass(frozen=True)
class _Calendar:
    """A window's local calendar in one zone, as the frequency figure counts it."""

    seconds: float  # the window's length
    half_year_ago: int  # ns since the epoch: the F2 rule's start
    first_day: int  # the first and last local date it touches, as day numbers
    last_day: int
    mondays: np.ndarray  # the ISO weeks counted (`_deploy_days_per_week`), as day numbers


@lru_cache(maxsize=256)
def _window_calendar(start: pd.Timestamp, end: pd.Timestamp, tz: str) -> _Calendar:
    """The calendar of [start, end) in `tz`: the same for every scope of a page's window."""
    local_start = start.tz_convert(tz).tz_localize(None)
    local_end = end.tz_convert(tz).tz_localize(None)
    first_day, last_day = _day_range(local_start, local_end)
    mondays = np.arange(_monday(first_day), int(_monday(last_day)) + 1, 7, dtype=np.int64)
    day_ns = 86_400 * 10**9
    start_ns, end_ns = local_start.value, local_end.value
    overlap = np.minimum((mondays + 7) * day_ns, end_ns) - np.maximum(mondays * day_ns, start_ns)
    kept = mondays[overlap >= day_ns * 7 // 2]
    # When no week is at least half inside (a window under 3.5 days) every week it touches is.
    kept = kept if kept.size else mondays
    kept.setflags(write=False)
    return _Calendar(
        seconds=(end - start).total_seconds(),
        half_year_ago=(end - pd.Timedelta(seconds=HALF_YEAR)).value,
        first_day=first_day,
        last_day=last_day,
        mondays=kept,
    )


def _day_numbers(
    moments: Any, nanos: np.ndarray, first: int, last: int, counted: np.ndarray, tz: str
) -> np.ndarray:
    """The distinct local dates in `tz` of the counted moments of rows [first, last) (`moments`
    an aware array, `nanos` its int64 ns) as days since 1970-01-01, sorted. In UTC a date is
    the ns floored to whole days, as numpy's cast to datetime64[D] floors."""
    if tz == "UTC":
        return np.unique(nanos[first:last][counted] // (86_400 * 10**9))
    local = moments[first:last][counted].tz_convert(tz).tz_localize(None)
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


def _deploy_days_per_week(days: np.ndarray, calendar: _Calendar) -> tuple[np.ndarray, np.ndarray]:
    """Distinct deploy days (`days`: distinct day numbers, see `_day_numbers`) per ISO week
    (Monday start) for the weeks the window covers: the weeks' Mondays (day numbers) and
    their counts.

    A week counts when at least half of it lies in the window, so a window edge a few hours
    into a week does not add a spurious zero; when no week qualifies (a window under 3.5 days)
    every week it touches counts (`_window_calendar`).
    """
    kept = calendar.mondays
    weeks = _monday(days)
    at = np.searchsorted(kept, weeks)
    inside = at < kept.size
    inside[inside] = kept[at[inside]] == weeks[inside]
    return kept, np.bincount(at[inside], minlength=kept.size)


def _median_deploy_days_per_month(days: np.ndarray, calendar: _Calendar) -> float:
    """Median deploy days (`days`: distinct day numbers) per 30-day block, counted back from
    the window's last local day."""
    blocks = max(1, (calendar.last_day - calendar.first_day + 1) // MONTH_DAYS)
    back = (calendar.last_day - days) // MONTH_DAYS
    counts = np.bincount(back[(back >= 0) & (back < blocks)], minlength=blocks)
    return _median(np.sort(counts))
