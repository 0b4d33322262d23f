"""Failed deployment recovery time and the legacy time to restore service (METRICS §3.4)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from dora.metrics.frames import (
    check_window,
    floats,
    in_window,
    require_columns,
    text,
    trues,
    utc,
)
from dora.metrics.levels import (
    LATEST_BENCHMARK,
    MIN_RESTORED_RECOVERY,
    RECOVERY,
    graded,
)
from dora.metrics.stats import Duration, duration_summary

ROLLOUT_COLUMNS = (
    "rollout_id",
    "service",
    "environment",
    "first_live_at",
    "failure",
    "restored_at",
)
INCIDENT_COLUMNS = (
    "incident_id",
    "service",
    "environment",
    "opened_at",
    "impact_started_at",
    "mitigated_at",
    "resolved_at",
)


@dataclass(frozen=True)
class RecoveryTime:
    """CONTRACT §4 `recovery_time` (DURATION + unrestored)."""

    duration: Duration
    unrestored: int
    invalid: int = 0
    items: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)
    unrestored_items: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {**self.duration.as_dict(), "unrestored": self.unrestored}


@dataclass(frozen=True)
class TimeToRestore:
    """CONTRACT §4 `time_to_restore` (DURATION); open incidents beside it."""

    duration: Duration
    unrestored: int = 0
    invalid: int = 0
    items: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return self.duration.as_dict()


def recovery_time(
    rollouts: pd.DataFrame,
    *,
    since: datetime,
    until: datetime,
    benchmark: int = LATEST_BENCHMARK,
) -> RecoveryTime:
    """restored_at - first_live_at per failed production rollout, placed by restored_at.

    rollouts: dora.models.Rollout rows: rollout_id (int), service (str), environment (str),
      first_live_at (aware datetime), failure (str: '' | confirmed | inferred), restored_at
      (aware datetime or null; derivation's first present of linked incident mitigated_at,
      remediation rollout first_live_at, incident resolved_at). Rollouts of any window may be
      passed: only failed ones count.

    - items: failed rollouts restored in [since, until), with recovery_seconds; a negative
      duration (restored before it went live: bad data) is flagged invalid and left out.
    - unrestored_items: failed rollouts live before `until` and not restored by then (restored_at
      null or >= until), with age_seconds = until - first_live_at: right-censored, never dropped.
    Category by p50 (D1–D6); the level needs >= 5 restored failures.
    """
    items, unrestored = recovery_items(rollouts, since=since, until=until)
    return recovery_of(items, unrestored, benchmark=benchmark)


def recovery_items(
    rollouts: pd.DataFrame, *, since: datetime, until: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The row-wise part of `recovery_time`: its `items` and `unrestored_items`."""
    start, end = check_window(since, until)
    require_columns(rollouts, ROLLOUT_COLUMNS, "rollouts")
    failed_mask = text(rollouts["failure"]).isin(("confirmed", "inferred"))
    failed = rollouts.loc[failed_mask].copy()
    failed["first_live_at"] = utc(failed["first_live_at"], "rollouts.first_live_at")
    failed["restored_at"] = utc(failed["restored_at"], "rollouts.restored_at")

    items = failed[in_window(failed["restored_at"], start, end)].copy()
    recovery = (items["restored_at"] - items["first_live_at"]).dt.total_seconds()
    items["invalid"] = recovery < 0
    items["recovery_seconds"] = recovery.where(recovery >= 0)

    open_mask = (failed["first_live_at"] < end) & ~(failed["restored_at"] < end)
    unrestored = failed[open_mask].copy()
    unrestored["age_seconds"] = (end - unrestored["first_live_at"]).dt.total_seconds()
    return (
        items.sort_values("restored_at").reset_index(drop=True),
        unrestored.sort_values("first_live_at").reset_index(drop=True),
    )


def recovery_of(
    items: pd.DataFrame, unrestored: pd.DataFrame, *, benchmark: int = LATEST_BENCHMARK
) -> RecoveryTime:
    """`recovery_time` of a scope from its rows of both `recovery_items` frames (row-wise, so
    one pass over many services serves each); columns read once as arrays, as `lead_time_of`."""
    duration = graded(
        duration_summary(floats(items["recovery_seconds"])),
        RECOVERY,
        year=benchmark,
        min_n=MIN_RESTORED_RECOVERY,
    )
    return RecoveryTime(
        duration=duration,
        unrestored=len(unrestored),
        invalid=trues(items["invalid"]),
        items=items,
        unrestored_items=unrestored,
    )


def time_to_restore(
    incidents: pd.DataFrame,
    *,
    since: datetime,
    until: datetime,
    benchmark: int = LATEST_BENCHMARK,
) -> TimeToRestore:
    """Per production incident (external ones included): restore end - impact start.

    incidents: dora.models.Incident rows of production: incident_id (str), service (str),
      environment (str), opened_at, impact_started_at, mitigated_at, resolved_at (aware
      datetimes; all but opened_at may be null); `cause` is ignored here (external counts).

    start = impact_started_at, else opened_at; end = mitigated_at, else resolved_at; placed by
    end in [since, until). A negative duration is flagged invalid and left out. Incidents
    opened before `until` with no end before it are counted in `unrestored`. Category and level
    use the recovery table (this is the 2021/2022 definition of that column); the level needs
    >= 5 restored incidents, the recovery minimum.
    """
    items, still_open = restore_items(incidents, since=since, until=until)
    return restore_of(items, still_open, benchmark=benchmark)


def restore_items(
    incidents: pd.DataFrame, *, since: datetime, until: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The row-wise part of `time_to_restore`: its `items`, and the incidents still open."""
    start, end = check_window(since, until)
    require_columns(incidents, INCIDENT_COLUMNS, "incidents")
    frame = incidents.copy()
    for column in ("opened_at", "impact_started_at", "mitigated_at", "resolved_at"):
        frame[column] = utc(frame[column], f"incidents.{column}")
    frame["impact_start"] = frame["impact_started_at"].fillna(frame["opened_at"])
    frame["restored_at"] = frame["mitigated_at"].fillna(frame["resolved_at"])
    items = frame[in_window(frame["restored_at"], start, end)].copy()
    restore = (items["restored_at"] - items["impact_start"]).dt.total_seconds()
    items["invalid"] = restore < 0
    items["restore_seconds"] = restore.where(restore >= 0)
    still_open = (frame["opened_at"] < end) & ~(frame["restored_at"] < end)
    return items.sort_values("restored_at").reset_index(drop=True), frame[still_open]


def restore_of(
    items: pd.DataFrame, still_open: pd.DataFrame, *, benchmark: int = LATEST_BENCHMARK
) -> TimeToRestore:
    """`time_to_restore` of a scope from its rows of both `restore_items` frames (row-wise, so
    one pass over many services serves each); columns read once as arrays, as `lead_time_of`."""
    duration = graded(
        duration_summary(floats(items["restore_seconds"])),
        RECOVERY,
        year=benchmark,
        min_n=MIN_RESTORED_RECOVERY,
    )
    return TimeToRestore(
        duration=duration,
        unrestored=len(still_open),
        invalid=trues(items["invalid"]),
        items=items,
    )
