"""Deployment frequency (METRICS §3.1): production rollouts per period, category and level."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from dora.metrics.frames import (
    DAY_SECONDS,
    WEEK_SECONDS,
    check_window,
    in_window,
    local_days,
    require_columns,
    text,
    utc,
)
from dora.metrics.levels import (
    DEFAULT_BENCHMARK,
    DEPLOYMENT_FREQUENCY,
    HALF_YEAR,
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
    weeks: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)
    items: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)

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
    benchmark: int = DEFAULT_BENCHMARK,
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
    start, end = check_window(since, until)
    require_columns(rollouts, ROLLOUT_COLUMNS, "rollouts")
    live = utc(rollouts["first_live_at"], "rollouts.first_live_at")
    kind = text(rollouts["kind"])
    counted_mask = kind.isin(COUNTED_KINDS)
    window_mask = in_window(live, start, end)

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
    items = frame[window_mask].sort_values("first_live_at").reset_index(drop=True)
    counted = items[items["counted"]]

    n = len(counted)
    window_seconds = (end - start).total_seconds()
    per_day = n / (window_seconds / DAY_SECONDS)
    weeks_in_window = window_seconds / WEEK_SECONDS
    per_week = n / weeks_in_window
    lo, hi = poisson_ci(n)

    days = local_days(counted["first_live_at"], tz)
    deploy_days = int(days.nunique())
    local_start = start.tz_convert(tz).tz_localize(None)
    local_end = end.tz_convert(tz).tz_localize(None)
    first_day = local_start.normalize()
    last_day = (local_end - pd.Timedelta(microseconds=1)).normalize()
    weeks = _deploy_days_per_week(days, local_start, local_end)
    median_per_week = float(weeks["deploy_days"].median())
    median_per_month = _median_deploy_days_per_month(days, first_day, last_day)
    gap = counted["gap_seconds"].dropna()

    history = frame[counted_mask & (live < end)]
    recent = int((history["first_live_at"] >= end - pd.Timedelta(seconds=HALF_YEAR)).sum())
    category = None
    if len(history):
        category = frequency_category(
            median_deploy_days_per_week=median_per_week,
            rollouts_per_deploy_day=n / deploy_days if deploy_days else 0.0,
            median_deploy_days_per_month=median_per_month,
            rollouts_last_half_year=recent,
        )
    if first_rollout_at is None and live.notna().any():
        first_rollout_at = live.min()
    level = None
    if category is not None and frequency_badge_allowed(first_rollout_at, end):
        level = level_for_category(DEPLOYMENT_FREQUENCY, category, benchmark)

    return Frequency(
        rollouts=n,
        per_day=per_day,
        per_week=per_week,
        deploy_days_per_week=median_per_week if n or len(history) else None,
        median_gap_seconds=float(gap.median()) if len(gap) else None,
        category=category,
        level=level,
        redeploys=int((items["kind"] == "redeploy").sum()),
        rollbacks=int((items["kind"] == "rollback").sum()),
        deploy_days=deploy_days,
        per_week_ci95=(lo / weeks_in_window, hi / weeks_in_window),
        weeks=weeks,
        items=items,
    )


def _deploy_days_per_week(
    days: pd.Series, local_start: pd.Timestamp, local_end: pd.Timestamp
) -> pd.DataFrame:
    """Distinct deploy days per ISO week (Monday start) for the weeks the window covers.

    A week counts when at least half of it lies in the window, so a window edge a few hours
    into a week does not add a spurious zero; when no week qualifies (a window under 3.5 days)
    every week it touches counts.
    """
    first_day = local_start.normalize()
    last_day = (local_end - pd.Timedelta(microseconds=1)).normalize()
    first_monday = first_day - pd.Timedelta(days=first_day.weekday())
    last_monday = last_day - pd.Timedelta(days=last_day.weekday())
    mondays = pd.date_range(first_monday, last_monday, freq="7D")
    week_end = mondays + pd.Timedelta(days=7)
    overlap = week_end.where(week_end < local_end, local_end) - mondays.where(
        mondays > local_start, local_start
    )
    kept = mondays[overlap >= pd.Timedelta(days=3.5)]
    if kept.empty:
        kept = mondays
    distinct = days.drop_duplicates()
    week_of = distinct - pd.to_timedelta(distinct.dt.day_of_week, unit="D")
    counts = week_of.value_counts().reindex(kept, fill_value=0)
    return pd.DataFrame({"week": kept.date, "deploy_days": counts.to_numpy()})


def _median_deploy_days_per_month(
    days: pd.Series, first_day: pd.Timestamp, last_day: pd.Timestamp
) -> float:
    """Median deploy days per 30-day block, counted back from the window's last local day."""
    span = (last_day - first_day).days + 1
    blocks = max(1, span // MONTH_DAYS)
    back = (last_day - days.drop_duplicates()).dt.days // MONTH_DAYS
    counts = back[back < blocks].value_counts().reindex(range(blocks), fill_value=0)
    return float(counts.median())
