"""Integration frequency (METRICS §4.4): how often developers merge to the default branch."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from dora.metrics.frames import check_window, in_window, local_days, require_columns, utc
from dora.metrics.levels import DAY
from dora.metrics.stats import Duration, Rate, duration_summary, rate

COMMIT_COLUMNS = ("repo", "sha", "author", "authored_at")
CHANGE_COLUMNS = ("change_id", "repo", "author", "created_at", "merged_at", "closed_at", "start")
# DORA's trunk-based development targets (§4.4).
TARGET_MERGES_PER_DEV_DAY = 1.0
TARGET_BRANCH_LIFETIME_SECONDS = DAY
TARGET_OPEN_BRANCHES = 3


@dataclass(frozen=True)
class Integration:
    """Integration frequency figures (no CONTRACT §4 key yet)."""

    developer_days: int
    daily_integration: Rate
    merges: int
    merges_per_developer_day: float | None
    branch_lifetime: Duration
    open_branches: dict[str, int]
    items: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)

    @property
    def targets_met(self) -> dict[str, bool | None]:
        """Merge at least daily, branches living < 1 day, <= 3 open branches per repo."""
        per_day = self.merges_per_developer_day
        p50 = self.branch_lifetime.p50
        return {
            "daily": None if per_day is None else per_day >= TARGET_MERGES_PER_DEV_DAY,
            "branch_lifetime": None if p50 is None else p50 < TARGET_BRANCH_LIFETIME_SECONDS,
            "open_branches": max(self.open_branches.values(), default=0) <= TARGET_OPEN_BRANCHES,
        }

    def as_dict(self) -> dict[str, Any]:
        return {
            "developer_days": self.developer_days,
            "days_with_merge": self.daily_integration.numerator,
            "daily_integration_rate": self.daily_integration.rate,
            "daily_integration_ci95": (
                list(self.daily_integration.ci95) if self.daily_integration.ci95 else None
            ),
            "merges": self.merges,
            "merges_per_developer_day": self.merges_per_developer_day,
            "branch_lifetime": self.branch_lifetime.as_dict(),
            "open_branches": self.open_branches,
            "targets_met": self.targets_met,
        }


def integration_frequency(
    commits: pd.DataFrame,
    changes: pd.DataFrame,
    *,
    since: datetime,
    until: datetime,
    tz: str = "UTC",
) -> Integration:
    """Per developer-day with commits in [since, until): the share with a merge to the default
    branch, merges per developer-day, branch lifetime, and open branches per repo at `until`.

    commits: dora.models.Commit rows of the scope's repos: repo, sha, author (str),
      authored_at (aware datetime).
    changes: integrations to the default branch and open PRs: change_id (int; null for a direct
      push), repo, author (str), created_at, merged_at, closed_at (aware datetimes, the last two
      nullable), start (aware datetime: first commit authored, Change.started_at). A direct push
      is a row with merged_at = its push time (committed_at) and start = its authored_at.

    - A developer-day is (author, local date in `tz`) with >= 1 commit authored; it "has a merge"
      when the same author merged a change that local day. Author names must match between
      commits and changes (the selector maps identities).
    - merges_per_developer_day = merges in the window / developer-days.
    - branch lifetime = merged_at - start over merges in the window (durations <= 0 left out).
    - open branches: PRs (change_id not null) created before `until`, neither merged nor closed
      before it.
    """
    start, end = check_window(since, until)
    require_columns(commits, COMMIT_COLUMNS, "commits")
    require_columns(changes, CHANGE_COLUMNS, "changes")
    authored = utc(commits["authored_at"], "commits.authored_at")
    in_range = in_window(authored, start, end)
    dev_days = pd.DataFrame(
        {"author": commits.loc[in_range, "author"], "day": local_days(authored[in_range], tz)}
    ).drop_duplicates()

    frame = changes.copy()
    for column in ("created_at", "merged_at", "closed_at", "start"):
        frame[column] = utc(frame[column], f"changes.{column}")
    merged = frame[in_window(frame["merged_at"], start, end)].copy()
    merged["day"] = local_days(merged["merged_at"], tz)
    lifetime = (merged["merged_at"] - merged["start"]).dt.total_seconds()
    merged["branch_lifetime_seconds"] = lifetime.where(lifetime > 0)

    merge_days = merged[["author", "day"]].drop_duplicates().assign(has_merge=True)
    items = dev_days.merge(merge_days, on=["author", "day"], how="left")
    items["has_merge"] = items["has_merge"].fillna(False).astype(bool)
    with_merge = int(items["has_merge"].sum())

    is_open = (
        frame["change_id"].notna()
        & (frame["created_at"] < end)
        & ~(frame["merged_at"] < end)
        & ~(frame["closed_at"] < end)
    )
    open_branches = {str(k): int(v) for k, v in frame.loc[is_open, "repo"].value_counts().items()}
    n_days = len(items)
    return Integration(
        developer_days=n_days,
        daily_integration=rate(with_merge, n_days),
        merges=len(merged),
        merges_per_developer_day=len(merged) / n_days if n_days else None,
        branch_lifetime=duration_summary(merged["branch_lifetime_seconds"]),
        open_branches=dict(sorted(open_branches.items())),
        items=items.sort_values(["day", "author"]).reset_index(drop=True),
    )
