"""Change lead time and merge-to-production (METRICS §3.2), and the change start rule (§2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from dora.metrics.frames import (
    as_bool,
    check_window,
    floats,
    in_window,
    require_columns,
    trues,
    utc,
)
from dora.metrics.levels import (
    LATEST_BENCHMARK,
    LEAD_TIME,
    MIN_CHANGES_LEAD_TIME,
    graded,
)
from dora.metrics.stats import Duration, duration_summary

ARRIVAL_COLUMNS = (
    "change_id",
    "commit_sha",
    "service",
    "rollout_id",
    "start",
    "merged_at",
    "arrived_at",
    "unattributed",
)


@dataclass(frozen=True)
class LeadTime:
    """CONTRACT §4 `lead_time` (DURATION + invalid, unattributed) and `merge_to_production`."""

    duration: Duration
    invalid: int
    unattributed: int
    merge_to_production: Duration
    items: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.duration.as_dict(),
            "invalid": self.invalid,
            "unattributed": self.unattributed,
        }


def change_start(
    first_authored_at: pd.Series, created_at: pd.Series, merged_at: pd.Series
) -> pd.Series:
    """A change's start (§2): earliest authored_at of its commits, else the PR's created_at;
    created_at also when that earliest authored_at is after the merge (rewritten history).

    first_authored_at comes from the PR's own commit list, which survives squash merges (the
    squash commit's date is the merge time) and rebases (a rebase keeps author dates).
    """
    first = utc(first_authored_at, "first_authored_at")
    created = utc(created_at, "created_at")
    merged = utc(merged_at, "merged_at")
    start = first.where(first.notna(), created)
    after_merge = first.notna() & merged.notna() & (first > merged)
    return start.where(~after_merge, created)


def lead_time_items(arrivals: pd.DataFrame, *, since: datetime, until: datetime) -> pd.DataFrame:
    """Changes with a production arrival in [since, until), one row per (service, change).

    arrivals: one row per production ChangeArrival joined to its Change:
      change_id (int, null for a direct push), commit_sha (str, the direct push's sha, else ''),
      service (str), rollout_id (int), start (aware datetime: Change.started_at, or the pushed
      commit's authored_at), merged_at (aware datetime: Change.merged_at, or the pushed commit's
      committed_at; may be null), arrived_at (aware datetime), unattributed (bool: arrived with
      the service's first rollout, so it has no predecessor to be timed against).

    Adds lead_time_seconds, merge_to_production_seconds (null when not timed) and invalid
    (a duration <= 0, or no start). Unattributed changes are listed, not timed.
    """
    start, end = check_window(since, until)
    require_columns(arrivals, ARRIVAL_COLUMNS, "arrivals")
    frame = arrivals.loc[:, list(ARRIVAL_COLUMNS)].copy()
    for column in ("start", "merged_at", "arrived_at"):
        frame[column] = utc(frame[column], f"arrivals.{column}")
    frame["unattributed"] = as_bool(frame["unattributed"])
    frame = frame[in_window(frame["arrived_at"], start, end)]
    # A change arrives once per service: keep its first arrival if the frame repeats it.
    frame = (
        frame.sort_values(["arrived_at", "rollout_id"], kind="stable")
        # A direct push has no change_id and is told apart by its sha (NaN ids compare equal).
        .drop_duplicates(["service", "change_id", "commit_sha"])
    )
    lead = (frame["arrived_at"] - frame["start"]).dt.total_seconds()
    merge = (frame["arrived_at"] - frame["merged_at"]).dt.total_seconds()
    timed = ~frame["unattributed"]
    frame["invalid"] = timed & ~(lead > 0)
    frame["lead_time_seconds"] = lead.where(timed & (lead > 0))
    frame["merge_to_production_seconds"] = merge.where(timed & (merge > 0))
    return frame.reset_index(drop=True)


def lead_time_for_changes(
    arrivals: pd.DataFrame,
    *,
    since: datetime,
    until: datetime,
    benchmark: int = LATEST_BENCHMARK,
) -> LeadTime:
    """Per change arriving in production in [since, until): arrival - start (and - merged_at).

    Columns: see `lead_time_items`. Durations <= 0 (clock skew, rewritten history) are left out
    and counted in `invalid`; changes of a first rollout are counted in `unattributed` and not
    timed. merge_to_production leaves out durations <= 0 and changes without merged_at.
    Category by p50 (D1–D6); the level needs n >= 10 changes.
    """
    return lead_time_of(lead_time_items(arrivals, since=since, until=until), benchmark=benchmark)


def lead_time_of(items: pd.DataFrame, *, benchmark: int = LATEST_BENCHMARK) -> LeadTime:
    """`lead_time_for_changes` of a scope from its rows of `lead_time_items` (which, over many
    services, gives each the rows it would get alone).

    Each column is read once as an array: a scope of a page is a few dozen rows, where pandas'
    per-call cost was most of the figure."""
    lead = graded(
        duration_summary(floats(items["lead_time_seconds"])),
        LEAD_TIME,
        year=benchmark,
        min_n=MIN_CHANGES_LEAD_TIME,
    )
    merge = graded(
        duration_summary(floats(items["merge_to_production_seconds"])),
        LEAD_TIME,
        year=benchmark,
        min_n=MIN_CHANGES_LEAD_TIME,
    )
    return LeadTime(
        duration=lead,
        invalid=trues(items["invalid"]),
        unattributed=trues(items["unattributed"]),
        merge_to_production=merge,
        items=items,
    )
