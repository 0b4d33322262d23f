"""Change failure rate and deploy failure rate (METRICS §3.3) over derived rollout facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from dora.metrics.frames import (
    check_aware,
    check_window,
    in_window,
    require_columns,
    text,
    trues,
    utc,
)
from dora.metrics.frequency import COUNTED_KINDS
from dora.metrics.levels import LATEST_BENCHMARK, MIN_ROLLOUTS_CFR, level_for_failure_rate
from dora.metrics.stats import rate

REMEDIATION_WINDOW = timedelta(hours=72)
ROLLOUT_COLUMNS = ("rollout_id", "service", "environment", "kind", "first_live_at", "failure")
LINK_COLUMNS = ("rollout_id", "cause", "status")
DEPLOYMENT_COLUMNS = ("service", "environment", "status", "finished_at")


@dataclass(frozen=True)
class ChangeFailureRate:
    """CONTRACT §4 `change_failure_rate`."""

    failed: int
    confirmed: int
    inferred: int
    rollouts: int
    rate: float | None
    ci95: tuple[float, float] | None
    provisional: bool
    level: str | None
    items: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "failed": self.failed,
            "confirmed": self.confirmed,
            "inferred": self.inferred,
            "rollouts": self.rollouts,
            "rate": self.rate,
            "ci95": list(self.ci95) if self.ci95 else None,
            "provisional": self.provisional,
            "level": self.level,
        }


@dataclass(frozen=True)
class DeployFailureRate:
    """CONTRACT §4 `deploy_failure_rate`: deployments that failed and never went live."""

    failed: int
    attempts: int
    rate: float | None
    ci95: tuple[float, float] | None = None
    items: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {"failed": self.failed, "attempts": self.attempts, "rate": self.rate}


def change_failure_items(
    rollouts: pd.DataFrame,
    *,
    since: datetime,
    until: datetime,
    failure_links: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The CFR denominator: production change/config rollouts live in [since, until).

    rollouts: dora.models.Rollout rows: rollout_id (int), service (str), environment (str),
      kind (str), first_live_at (aware datetime), failure (str: '' | 'confirmed' | 'inferred',
      as set by derivation from its FailureLinks).
    failure_links (optional, for the "why"): dora.models.FailureLink rows: rollout_id (int),
      cause (str: incident, rollback, revert, hotfix, inferred), status (str), and optionally
      detail (str).

    Adds failed / confirmed / inferred (bool; a rollout with several causes is still one
    failure, confirmed when any cause is) and causes (str: distinct causes, comma-separated).
    """
    start, end = check_window(since, until)
    require_columns(rollouts, ROLLOUT_COLUMNS, "rollouts")
    live = utc(rollouts["first_live_at"], "rollouts.first_live_at")
    kind = text(rollouts["kind"])
    mask = kind.isin(COUNTED_KINDS) & in_window(live, start, end)
    frame = rollouts.loc[mask].copy()
    frame["first_live_at"] = live[mask]
    failure = text(frame["failure"])
    frame["confirmed"] = failure == "confirmed"
    frame["inferred"] = failure == "inferred"
    frame["failed"] = frame["confirmed"] | frame["inferred"]
    frame["causes"] = ""
    if failure_links is not None and len(failure_links):
        require_columns(failure_links, LINK_COLUMNS, "failure_links")
        causes = (
            failure_links.loc[failure_links["rollout_id"].isin(frame["rollout_id"])]
            .drop_duplicates(["rollout_id", "cause"])
            .sort_values(["rollout_id", "cause"])
            .groupby("rollout_id")["cause"]
            .agg(",".join)
        )
        frame["causes"] = frame["rollout_id"].map(causes).fillna("")
    return frame.sort_values("first_live_at").reset_index(drop=True)


def change_failure_rate(
    rollouts: pd.DataFrame,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    benchmark: int = LATEST_BENCHMARK,
    failure_links: pd.DataFrame | None = None,
) -> ChangeFailureRate:
    """Failed / all production change and config rollouts going live in [since, until).

    Columns: see `change_failure_items`. Failure status comes from derivation (explicit incident
    link, rollback, revert or hotfix within 72 h: confirmed; unlinked incident within 24 h:
    inferred), so each rollout counts once however many causes it has. Rollbacks and redeploys
    are not in the denominator. `provisional` when the window ended less than 72 h before
    `now`: a rollback, revert or hotfix may still mark a late rollout failed. The level needs
    >= 20 rollouts; see `levels.level_for_failure_rate` for the 2024 inversion.
    """
    return change_failure_of(
        change_failure_items(rollouts, since=since, until=until, failure_links=failure_links),
        until=until,
        now=now,
        benchmark=benchmark,
    )


def change_failure_of(
    items: pd.DataFrame, *, until: datetime, now: datetime, benchmark: int = LATEST_BENCHMARK
) -> ChangeFailureRate:
    """`change_failure_rate` of a scope from its rows of `change_failure_items` (row-wise, so
    one pass over many services serves each); columns counted on their arrays, as
    `lead_time_of`."""
    moment = check_aware(now, "now")
    confirmed = trues(items["confirmed"])
    inferred = trues(items["inferred"])
    result = rate(confirmed + inferred, len(items))
    level = None
    if result.denominator >= MIN_ROLLOUTS_CFR:
        level = level_for_failure_rate(result.rate, benchmark)
    return ChangeFailureRate(
        failed=result.numerator,
        confirmed=confirmed,
        inferred=inferred,
        rollouts=result.denominator,
        rate=result.rate,
        ci95=result.ci95,
        provisional=bool(moment - check_aware(until, "until") < REMEDIATION_WINDOW),
        level=level,
        items=items,
    )


def deploy_failure_rate(
    deployments: pd.DataFrame, *, since: datetime, until: datetime
) -> DeployFailureRate:
    """Target-level deployment attempts in production that failed and never went live.

    deployments: dora.models.Deployment rows of production environments: service (str),
      environment (str), status (str: success, failure, cancelled, running), finished_at
      (aware datetime); other columns are kept in the items.

    Attempts are finished deployments (success or failure) with finished_at in [since, until);
    cancelled and still-running ones are neither. Counted per target deployment, since a failed
    deployment never formed a rollout.
    """
    start, end = check_window(since, until)
    require_columns(deployments, DEPLOYMENT_COLUMNS, "deployments")
    finished = utc(deployments["finished_at"], "deployments.finished_at")
    status = text(deployments["status"])
    mask = status.isin(ATTEMPT_STATUSES) & in_window(finished, start, end)
    items = deployments.loc[mask].copy()
    items["finished_at"] = finished[mask]
    items["failed"] = status[mask] == FAILED_STATUS
    return deploy_failure_of(
        int(items["failed"].sum()), len(items), items=items.reset_index(drop=True)
    )


# The statuses `deploy_failure_rate` counts as attempts, and the failed one among them: also
# what dora.reads.selectors.deploy_attempt_counts counts in SQL.
ATTEMPT_STATUSES = ("success", "failure")
FAILED_STATUS = "failure"


def deploy_failure_of(
    failed: int, attempts: int, *, items: pd.DataFrame | None = None
) -> DeployFailureRate:
    """`deploy_failure_rate` from its two counts (the attempts, and the failed among them),
    however they were counted: from the rows above, or by PostgreSQL for the full report."""
    result = rate(failed, attempts)
    return DeployFailureRate(
        failed=result.numerator,
        attempts=result.denominator,
        rate=result.rate,
        ci95=result.ci95,
        items=pd.DataFrame() if items is None else items,
    )
