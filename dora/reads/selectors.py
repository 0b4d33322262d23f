"""Read side of the metrics: the derived facts of a scope and window as pandas DataFrames.

The only place the metrics read the database. Every selector filters and joins in SQL (one query
per frame, never one per row) and returns the columns its `dora.metrics` function documents,
plus a few descriptive columns for the items behind each figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import pandas as pd
from django.db.models import (
    Count,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.functions import Coalesce

from dora.metrics.failure import ATTEMPT_STATUSES, FAILED_STATUS
from dora.models import (
    Change,
    ChangeArrival,
    Commit,
    Deployment,
    Environment,
    FailureLink,
    Incident,
    Rollout,
    RolloutTarget,
    Service,
    Tier,
)
from dora.reads.frame_io import _frame
from dora.reads.scope import (
    Scope,
    _reached_target,
    _scoped,
    _service_q,
)

HALF_YEAR = timedelta(days=182.5)
# Derivation looks for a rollout's full-estate arrival within 30 days of it going live.
ESTATE_HORIZON = timedelta(days=30)
# Version spread reads this much deployment history before the evaluation time.
SPREAD_HISTORY = HALF_YEAR
FAILED = ("confirmed", "inferred")
COUNTED_KINDS = (Rollout.Kind.CHANGE, Rollout.Kind.CONFIG)


# ---------------------------------------------------------------------------------------------
# Selectors
# ---------------------------------------------------------------------------------------------

ROLLOUT_FIELDS = {
    "rollout_id": "id",
    "service": "service__name",
    "environment": "environment__name",
    "seq": "seq",
    "kind": "kind",
    "sha": "sha",
    "version": "version",
    "first_live_at": "first_live_at",
    "completed_at": "completed_at",
    "last_live_at": "last_live_at",  # the newest deployment: a stopped rollout reads "partial"
    "failure": "failure",
    "restored_at": "restored_at",
    "remediation": "remediation",
    "unattributed": "unattributed",
    "targets_live": "targets_live",
    "targets_active": "targets_active",
    "estate_reached_at": "estate_reached_at",
}


def _rollouts(scope: Scope) -> QuerySet[Rollout]:
    queryset = _scoped(Rollout.objects.all(), scope)
    if scope.target:
        queryset = queryset.filter(_reached_target(scope, "pk"))
    return queryset


def rollouts_frame(scope: Scope, *, since: datetime, until: datetime) -> pd.DataFrame:
    """Rollouts of the scope's tier for frequency, CFR, recovery and rework.

    Every rollout live in [min(since, until - 182.5 d), until) (frequency's F2 rule looks back
    half a year), plus failed rollouts live before `until` and not restored before `since`
    (recovery places them by restored_at; unrestored ones are listed with their age).
    """
    lookback = min(since, until - HALF_YEAR)
    recent = Q(first_live_at__gte=lookback, first_live_at__lt=until)
    restored_late = Q(restored_at__isnull=True) | Q(restored_at__gte=since)
    failed_open = Q(failure__in=FAILED, first_live_at__lt=until) & restored_late
    # Two reads, not one with OR: the recent rollouts by a range of first_live_at, then the
    # few older open failures, instead of filtering every rollout of the tier.
    frames = [
        _frame(_rollouts(scope).filter(recent), ROLLOUT_FIELDS),
        _frame(_rollouts(scope).filter(failed_open & ~recent), ROLLOUT_FIELDS),
    ]
    return pd.concat([f for f in frames if len(f)] or frames[:1], ignore_index=True)


def first_rollout_at(scope: Scope) -> datetime | None:
    """The scope's first rollout in its tier (the frequency badge needs 8 weeks of history)."""
    return min(first_rollouts(scope).values(), default=None)


def first_rollouts(scope: Scope, *, reached_target: bool = True) -> dict[str, datetime]:
    """Each of the scope's services' first rollout in the scope's tier, by service name (a
    service without one is left out); with reached_target, only rollouts that reached the
    scope's target count.

    One statement: per service and environment of the tier, one probe of
    rollout_service_env_live_idx. (A MIN over the joined rollouts read every rollout of the
    tier, so it grew with the history.)
    """
    rollouts = Rollout.objects.filter(
        service_id=OuterRef(OuterRef("pk")), environment_id=OuterRef("pk")
    )
    if reached_target and scope.target:
        rollouts = rollouts.filter(_reached_target(scope, "pk"))
    firsts = (
        Environment.objects.filter(tier=scope.tier)
        .annotate(first=Subquery(rollouts.order_by("first_live_at").values("first_live_at")[:1]))
        .filter(first__isnull=False)
        .order_by("first")
        .values("first")[:1]
    )
    services = Service.objects.filter(_service_q(scope, prefix="")).annotate(first=Subquery(firsts))
    # Without a filter on `first` in SQL, which would evaluate the subquery a second time.
    return {
        name: first
        for name, first in services.values_list("name", "first").order_by()
        if first is not None
    }


def failure_links_frame(scope: Scope, *, since: datetime, until: datetime) -> pd.DataFrame:
    """Why each change/config rollout live in [since, until) failed: one row per FailureLink."""
    counted = _rollouts(scope).filter(
        kind__in=COUNTED_KINDS, first_live_at__gte=since, first_live_at__lt=until
    )
    return _frame(
        FailureLink.objects.filter(rollout__in=counted.values("id")),
        {
            "rollout_id": "rollout_id",
            "cause": "cause",
            "status": "status",
            "detail": "detail",
            "incident": "incident__external_id",
            "by_rollout_id": "by_rollout_id",
            # For the "why" sentence (dora.failure_words): when the incident opened, and the
            # rollout that rolled back, reverted or hotfixed it.
            "incident_opened_at": "incident__opened_at",
            "by_version": "by_rollout__version",
            "by_sha": "by_rollout__sha",
            "by_live_at": "by_rollout__first_live_at",
        },
    )


# An arrival's columns that only the items list (repo#number, title and where it arrived).
ARRIVAL_DESCRIPTION = ("environment", "repo", "number", "title")
# An arrival's columns from its rollout, by output name.
ARRIVAL_ROLLOUT_FIELDS = {
    "estate_reached_at": "estate_reached_at",
    "targets_active": "targets_active",
    "version": "version",
    "sha": "sha",
}


def arrivals_frame(
    scope: Scope,
    *,
    since: datetime,
    until: datetime,
    rollout_columns: bool = True,
    described: bool = True,
    estate: bool = True,
) -> pd.DataFrame:
    """Change arrivals in the scope's tier joined to their change and rollout.

    Arrivals in [since - 30 d, until): those of the window for lead time, and the earlier ones
    whose full-estate arrival may fall in the window or still be incomplete (derivation stops
    looking 30 days after a rollout went live). Columns of `lead_time_items` and
    `full_estate_lead_time`; a direct push starts at its commit's authored_at and merges at its
    committed_at.

    rollout_columns=False leaves out the rollout's columns (ARRIVAL_ROLLOUT_FIELDS) for
    `arrivals_rollouts_add` to take from a rollouts frame already read: joining Rollout here
    scans every rollout (1.5 million on the bench estate) for a few hundred thousand arrivals.
    described=False leaves out what only the items list (ARRIVAL_DESCRIPTION: environment,
    repo, number, title); the rows are the same, as those joins stay for the tier and start.
    estate=False reads only [since, until): what lead time and the headlines count, without
    the earlier arrivals only the full-estate figures look at.
    """
    queryset = _scoped(ChangeArrival.objects.all(), scope).filter(
        arrived_at__gte=since - ESTATE_HORIZON if estate else since, arrived_at__lt=until
    )
    if scope.target:
        queryset = queryset.filter(_reached_target(scope, "rollout_id"))
    rollout = {name: f"rollout__{path}" for name, path in ARRIVAL_ROLLOUT_FIELDS.items()}
    columns = {
        "change_id": "change_id",
        "commit_sha": "commit_sha",
        "service": "service__name",
        "environment": "environment__name",
        "rollout_id": "rollout_id",
        "repo": "change__repo",
        "number": "change__number",
        "title": "change__title",
        # Kept on the arrival by derivation (dora/intake/change_times.py): no look-up per row.
        "start": "started_at",
        "merged_at": "merged_at",
        "arrived_at": "arrived_at",
        "unattributed": "unattributed",
        **(rollout if rollout_columns else {}),
    }
    if not described:
        columns = {k: v for k, v in columns.items() if k not in ARRIVAL_DESCRIPTION}
    return _frame(queryset, columns)


def arrivals_rollouts_add(arrivals: pd.DataFrame, rollouts: pd.DataFrame) -> pd.DataFrame:
    """`arrivals_frame(..., rollout_columns=False)` with its rollout columns, as
    `arrivals_frame` joins them: from `rollouts` (any frame with rollout_id and those columns,
    the report's `rollouts_frame`), the rollouts it lacks read by id. An arrival whose rollout
    no longer exists is left out, as the inner join leaves it out.
    """
    columns = ["rollout_id", *ARRIVAL_ROLLOUT_FIELDS]
    known = rollouts[columns].drop_duplicates("rollout_id")
    lacking = ~arrivals["rollout_id"].isin(known["rollout_id"])
    missing = sorted({int(i) for i in arrivals.loc[lacking, "rollout_id"]})
    if missing:
        read = _frame(
            Rollout.objects.filter(id__any=missing),
            {"rollout_id": "id", **ARRIVAL_ROLLOUT_FIELDS},
        )
        known = pd.concat([f for f in (known, read) if len(f)] or [known], ignore_index=True)
    return arrivals.merge(known, on="rollout_id", how="inner")


def reached_frame(scope: Scope, *, since: datetime, until: datetime) -> pd.DataFrame:
    """Per rollout and target of the arrivals above: when the target first ran its changes."""
    rollouts = _rollouts(scope).filter(
        first_live_at__gte=since - ESTATE_HORIZON, first_live_at__lt=until
    )
    return _frame(
        RolloutTarget.objects.filter(rollout__in=rollouts.values("id")),
        {"rollout_id": "rollout_id", "target": "target__name", "reached_at": "reached_at"},
    )


DEPLOYMENT_FIELDS = {
    "deployment_id": "external_id",
    "source": "source",
    "service": "service__name",
    "environment": "environment__name",
    "target": "target__name",
    "sha": "sha",
    "version": "version",
    "status": "status",
    "finished_at": "finished_at",
    "rollout_id": "rollout_id",
}


def _deployments(scope: Scope) -> QuerySet[Deployment]:
    queryset = _scoped(Deployment.objects.all(), scope)
    if scope.target:
        queryset = queryset.filter(target__name=scope.target)
    return queryset


def deployments_frame(scope: Scope, *, since: datetime, until: datetime) -> pd.DataFrame:
    """Target deployments finished in [since, until) (deploy failure rate and its items; the
    full report counts them in SQL instead, `deploy_attempt_counts`)."""
    queryset = _deployments(scope).filter(finished_at__gte=since, finished_at__lt=until)
    return _frame(queryset, DEPLOYMENT_FIELDS)


def deploy_attempt_counts(scope: Scope, *, since: datetime, until: datetime) -> tuple[int, int]:
    """The failed deployments and the attempts (`dora.metrics.failure.deploy_failure_rate`'s
    two counts: finished in [since, until) with an attempt's status) counted by PostgreSQL: the
    full report needs the figure, not its 150,000 rows."""
    counts = (
        _deployments(scope)
        .filter(finished_at__gte=since, finished_at__lt=until, status__in=ATTEMPT_STATUSES)
        .aggregate(failed=Count("id", filter=Q(status=FAILED_STATUS)), attempts=Count("id"))
    )
    return int(counts["failed"]), int(counts["attempts"])


def integration_frames(
    repos: Iterable[str], *, since: datetime, until: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Commits authored and changes merged (or open) in the repos, for integration frequency.

    Two queries bounded by the window: commits authored in [since, until), and pull requests
    merged in it or still open at `until` (created before it, neither merged nor closed before;
    created at most half a year before). Direct pushes are not told apart from PR commits here,
    so they count as developer-days only. A change's start is its started_at, else created_at.
    """
    names = sorted(set(repos))
    commits = _frame(
        Commit.objects.filter(repo__in=names, authored_at__gte=since, authored_at__lt=until),
        {"repo": "repo", "sha": "sha", "author": "author", "authored_at": "authored_at"},
    )
    merged = Q(merged_at__gte=since, merged_at__lt=until)
    still_open = (
        Q(created_at__lt=until)
        & (Q(merged_at__isnull=True) | Q(merged_at__gte=until))
        & (Q(closed_at__isnull=True) | Q(closed_at__gte=until))
        & Q(created_at__gte=until - HALF_YEAR)
    )
    changes = _frame(
        Change.objects.filter(repo__in=names).filter(merged | still_open),
        {
            "change_id": "id",
            "repo": "repo",
            "author": "author",
            "created_at": "created_at",
            "merged_at": "merged_at",
            "closed_at": "closed_at",
            "start": Coalesce("started_at", "created_at"),
        },
    )
    for frame, columns in (
        (commits, ["authored_at"]),
        (changes, ["created_at", "merged_at", "closed_at", "start"]),
    ):
        for column in columns:  # typed already from PostgreSQL; from SQLite, as Django gives
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return commits, changes


def incidents_frame(scope: Scope, *, since: datetime, until: datetime) -> pd.DataFrame:
    """Incidents opened before `until` and not restored before `since` (time to restore).

    An incident without an environment belongs to the production tier (CONTRACT §1).
    """
    tier = Q(environment__tier=scope.tier)
    if scope.tier == Tier.PRODUCTION:
        tier |= Q(environment__isnull=True)
    queryset = (
        Incident.objects.filter(_service_q(scope), tier, opened_at__lt=until)
        .alias(restored=Coalesce("mitigated_at", "resolved_at"))
        .filter(Q(restored__isnull=True) | Q(restored__gte=since))
    )
    return _frame(
        queryset,
        {
            "incident_id": "external_id",
            "service": "service__name",
            "environment": "environment__name",
            "title": "title",
            "severity": "severity",
            "cause": "cause",
            "opened_at": "opened_at",
            "impact_started_at": "impact_started_at",
            "mitigated_at": "mitigated_at",
            "resolved_at": "resolved_at",
        },
    )
