"""Read side of the metrics: the derived facts of a scope and window as pandas DataFrames.

The only place the metrics read the database. Every selector filters and joins in SQL (one query
per frame, never one per row) and returns the columns its `dora.metrics` function documents,
plus a few descriptive columns for the items behind each figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import (
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce

from dora.metrics.estate import NON_RESETTING_ACTIONS
from dora.models import (
    AutomationRun,
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
    Status,
    Target,
    Tier,
)
from dora.reads.frame_io import _frame
from dora.reads.scope import (
    Scope,
    _estate_tier_q,
    _reached_target,
    _scoped,
    _service_q,
    _tier_q,
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
    """
    queryset = _scoped(ChangeArrival.objects.all(), scope).filter(
        arrived_at__gte=since - ESTATE_HORIZON, arrived_at__lt=until
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


# The columns `deploy_failure_rate` reads; its items list DEPLOYMENT_FIELDS.
DEPLOYMENT_ATTEMPT_FIELDS = ("service", "environment", "status", "finished_at")


def deployments_frame(
    scope: Scope, *, since: datetime, until: datetime, described: bool = True
) -> pd.DataFrame:
    """Target deployments finished in [since, until) (deploy failure rate).

    described=False reads only DEPLOYMENT_ATTEMPT_FIELDS, the figure's columns: the same rows
    (target is a constrained foreign key: its join drops none) without the ids, shas, versions
    and targets that only the items list, a third of the bytes at 150,000 deployments.
    """
    queryset = _deployments(scope).filter(finished_at__gte=since, finished_at__lt=until)
    if described:
        return _frame(queryset, DEPLOYMENT_FIELDS)
    return _frame(queryset, {name: DEPLOYMENT_FIELDS[name] for name in DEPLOYMENT_ATTEMPT_FIELDS})


def live_deployments_frame(
    scope: Scope, *, at: datetime, since: datetime | None = None
) -> pd.DataFrame:
    """Successful deployments in the half year before `at` (version spread at `at`).

    A version still live but first released more than half a year earlier is dated from its
    first deployment inside that history. With `since`: every successful deployment in
    [since, at), so that version spread at any moment from since + half a year to `at` reads
    the one frame (dora.targets' weekly history).
    """
    start = at - SPREAD_HISTORY if since is None else since
    queryset = _deployments(scope).filter(
        status="success", finished_at__gte=start, finished_at__lt=at
    )
    if since is None and connections[queryset.db].vendor == "postgresql":
        rows = _spread_rows(scope, since=start, at=at)
        queryset = queryset.filter(id__in=rows) if rows is not None else queryset.none()
    return _frame(queryset, DEPLOYMENT_FIELDS)


def _services_targets_sql(
    scope: Scope, tier: Q
) -> tuple[str, tuple[Any, ...], str, tuple[Any, ...]] | None:
    """The SQL (and parameters) of the ids of the scope's services and of the targets of the
    environments `tier` selects (the scope's target only, when it names one), for probes per
    service and target; None when Django proves either empty."""
    services = Service.objects.filter(_service_q(scope, prefix="")).values("id")
    targets = Target.objects.filter(tier)
    if scope.target:
        targets = targets.filter(name=scope.target)
    try:
        services_sql, services_params = services.query.sql_with_params()
        targets_sql, targets_params = targets.values("id").query.sql_with_params()
    except EmptyResultSet:
        return None
    return services_sql, tuple(services_params), targets_sql, tuple(targets_params)


def _spread_rows(scope: Scope, *, since: datetime, at: datetime) -> RawSQL | None:
    """The ids of the scope's successful deployments in [since, at) that `version_spread` can
    tell apart from the whole history: each target's latest one(s), and the first deployment(s)
    of every version released since the oldest of those latest versions. Releases before it only
    shift every release number of the (service, environment) by the same amount; the spread is
    unchanged. At 300,000 deployments in half a year this leaves a few thousand rows.

    Found by index probes, not a pass over the half year: each target's latest (a backward probe
    of deployment_target_success_idx per service and target), each live version's first release
    (by its sha or version), then the deployments since the oldest of those releases that are
    the first of their version. None when the scope has no service or no target."""
    found = _services_targets_sql(scope, _tier_q(scope))
    if found is None:
        return None
    services_sql, services_params, targets_sql, targets_params = found
    key = "CASE WHEN {t}.sha <> '' THEN {t}.sha ELSE {t}.version END"
    same_key = "(({t}.sha <> '' AND {t}.sha = {k}) OR ({t}.sha = '' AND {t}.version = {k}))"
    # With a target, only its deployments count, as in the scoped history.
    on_target = f"AND {{t}}.target_id IN ({targets_sql})" if scope.target else ""
    window = "{t}.status = 'success' AND {t}.finished_at >= %s AND {t}.finished_at < %s"
    sql = f"""
        WITH cand AS MATERIALIZED (
            SELECT s.id AS service_id, t.environment_id, t.id AS target_id
            FROM dora_service s CROSS JOIN dora_target t
            WHERE s.id IN ({services_sql}) AND t.id IN ({targets_sql})
        ), live AS MATERIALIZED (
            SELECT d.id, d.service_id, d.environment_id, {key.format(t="d")} AS key
            FROM cand c
            CROSS JOIN LATERAL (
                SELECT max(x.finished_at) AS m FROM dora_deployment x
                WHERE x.service_id = c.service_id AND x.environment_id = c.environment_id
                  AND x.target_id = c.target_id AND {window.format(t="x")}
            ) latest
            JOIN dora_deployment d ON d.service_id = c.service_id
                AND d.environment_id = c.environment_id AND d.target_id = c.target_id
                AND d.status = 'success' AND d.finished_at = latest.m
        ), cut AS MATERIALIZED (
            SELECT l.service_id, l.environment_id, min(released.first) AS first
            FROM (SELECT DISTINCT service_id, environment_id, key FROM live) l
            CROSS JOIN LATERAL (
                SELECT min(x.finished_at) AS first FROM dora_deployment x
                WHERE x.service_id = l.service_id AND x.environment_id = l.environment_id
                  AND {window.format(t="x")} {on_target.format(t="x")}
                  AND {same_key.format(t="x", k="l.key")}
            ) released
            GROUP BY l.service_id, l.environment_id
        ), since_cut AS (
            SELECT x.id, x.service_id, x.environment_id, x.finished_at,
                   {key.format(t="x")} AS key
            FROM cut c JOIN dora_deployment x ON x.service_id = c.service_id
                AND x.environment_id = c.environment_id
            WHERE x.finished_at >= c.first AND {window.format(t="x")} {on_target.format(t="x")}
        ), firsts AS (  -- the first of its version in [since, at): none of it earlier
            SELECT r.id FROM since_cut r
            WHERE NOT EXISTS (
                SELECT 1 FROM dora_deployment y
                WHERE y.service_id = r.service_id AND y.environment_id = r.environment_id
                  AND {window.format(t="y")} AND y.finished_at < r.finished_at
                  {on_target.format(t="y")} AND {same_key.format(t="y", k="r.key")}
            )
        )
        SELECT id FROM live UNION SELECT id FROM firsts
    """  # noqa: S608 (the subqueries are Django's SQL, values are parameters)
    target_params = tuple(targets_params) if scope.target else ()
    params = (
        *services_params,
        *targets_params,
        since,
        at,  # live
        since,
        at,
        *target_params,  # cut
        since,
        at,
        *target_params,  # since_cut
        since,
        at,
        *target_params,  # firsts
    )
    return RawSQL(sql, params)  # noqa: S611 (values are parameters)


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


def configured_targets_frame(scope: Scope) -> pd.DataFrame:
    """Targets listed by configuration (always active) in the scope's tier."""
    queryset = Target.objects.filter(configured=True, environment__tier=scope.tier)
    if scope.target:
        queryset = queryset.filter(name=scope.target)
    return _frame(queryset, {"environment": "environment__name", "target": "name"})


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


def automation_runs_frame(
    scope: Scope, *, until: datetime, since: datetime | None = None
) -> pd.DataFrame:
    """Automation runs finished before `until` (automation lag at `until`, evidence chart), in
    the scope's tier when it names one, else in every environment.

    With `since`, on PostgreSQL, only the runs those two read: the runs finished in
    [since, until), each instance's latest run of each status before `since` (the evidence's
    gap before its first run in the window), its latest run and its latest resetting success.
    """
    queryset = AutomationRun.objects.filter(
        _service_q(scope), _estate_tier_q(scope), finished_at__lt=until
    )
    if scope.target:
        queryset = queryset.filter(target__name=scope.target)
    if since is not None and connections[queryset.db].vendor == "postgresql":
        queryset = AutomationRun.objects.filter(id__in=_lag_rows(scope, since=since, until=until))
    return _frame(
        queryset,
        {
            "run_id": "external_id",
            "service": "service__name",
            "environment": "environment__name",
            "target": "target__name",
            "action": "action",
            "status": "status",
            "finished_at": "finished_at",
            "trigger": "trigger",
            "version": "version",
        },
    )


def _lag_rows(scope: Scope, *, since: datetime, until: datetime) -> RawSQL:
    """The ids of the runs finished before `until` that `automation_lag` and
    `automation_evidence` read: those finished from `since` on; per instance (service,
    environment, target) its latest run, which makes it an instance, its latest successful run
    that resets the lag (not a plan), and its latest run of each status before `since`. A few
    thousand rows instead of two years of schedules.

    The instances are the scope's services times the targets of its environments (a run's
    environment is its target's), and each part is a probe or a range of one index per
    instance (automationrun_instance_idx, automationrun_reset_idx, automationrun_status_idx),
    so the read grows with the estate and the window, not the history. (Picking the same rows
    from all the scope's runs before `until` read them all.)
    """
    services = Service.objects.filter(_service_q(scope, prefix="")).values("id")
    targets = Target.objects.filter(_estate_tier_q(scope))
    if scope.target:
        targets = targets.filter(name=scope.target)
    services_sql, services_params = services.query.sql_with_params()
    targets_sql, targets_params = targets.values("id").query.sql_with_params()
    instance = (
        "r.service_id = i.service_id AND r.environment_id = i.environment_id "
        "AND r.target_id = i.target_id"
    )
    latest = "ORDER BY r.finished_at DESC, r.id DESC LIMIT 1"
    # "Each status" is each Status value: intake accepts no other (dora.intake.schema.STATUSES).
    # `action <> 'plan'` is implied ("plan" is a non-resetting action); spelled out, it lets
    # PostgreSQL use automationrun_reset_idx, whose condition it is.
    assert "plan" in NON_RESETTING_ACTIONS
    return RawSQL(  # noqa: S611 (the subqueries are Django's SQL, values are parameters)
        f"""
        WITH i AS MATERIALIZED (
            SELECT s.id AS service_id, t.environment_id, t.id AS target_id
            FROM dora_service s CROSS JOIN dora_target t
            WHERE s.id IN ({services_sql}) AND t.id IN ({targets_sql})
        )
        SELECT r.id FROM i JOIN dora_automationrun r ON {instance}
        WHERE r.finished_at >= %s AND r.finished_at < %s
        UNION
        SELECT before.id FROM i CROSS JOIN unnest(%s::varchar[]) AS st(status)
        CROSS JOIN LATERAL (
            SELECT r.id FROM dora_automationrun r
            WHERE {instance} AND r.status = st.status AND r.finished_at < %s {latest}
        ) before
        UNION
        SELECT last.id FROM i CROSS JOIN LATERAL (
            SELECT r.id FROM dora_automationrun r
            WHERE {instance} AND r.finished_at < %s {latest}
        ) last
        UNION
        SELECT reset.id FROM i CROSS JOIN LATERAL (
            SELECT r.id FROM dora_automationrun r
            WHERE {instance} AND r.status = 'success' AND r.action <> ALL(%s::varchar[])
              AND r.action <> 'plan' AND r.finished_at < %s {latest}
        ) reset
        """,  # noqa: S608 (the subqueries are Django's SQL, values are parameters)
        (
            *services_params,
            *targets_params,
            since,
            until,
            list(Status.values),
            since,
            until,
            list(NON_RESETTING_ACTIONS),
            until,
        ),
    )


PIPELINE_COLUMNS = [
    "service",
    "environment",
    "target",
    "configured",
    "last_success_at",
]


def deploy_pipelines_frame(scope: Scope, *, until: datetime) -> pd.DataFrame:
    """Each deploy pipeline (a service's deployments to one target of an environment) as of
    `until`, in the scope's tier when it names one, else in every environment (automation lag,
    METRICS §4.3): service, environment, target, configured (the target is configured),
    last_success_at (its latest successful deployment). One statement: for each of the scope's
    services and each target, one probe of deployment_target_success_idx for its latest success
    before `until`; the pairs without one are no pipeline. (Grouping the deployments read every
    success before `until`: it grew with the history.) A deployment's environment is its
    target's (dora.estate keys targets by environment), so the target's tier is the
    deployment's."""
    found = _services_targets_sql(scope, _estate_tier_q(scope))
    rows: list[tuple[Any, ...]] = []
    if found is not None:
        services_sql, services_params, targets_sql, targets_params = found
        with connections[Service.objects.db].cursor() as cursor:
            cursor.execute(
                f"""
                SELECT s.name, e.name, t.name, t.configured, (
                    SELECT max(d.finished_at) FROM dora_deployment d
                    WHERE d.service_id = s.id AND d.environment_id = t.environment_id
                      AND d.target_id = t.id AND d.status = 'success' AND d.finished_at < %s
                )
                FROM dora_service s
                CROSS JOIN dora_target t
                JOIN dora_environment e ON e.id = t.environment_id
                WHERE s.id IN ({services_sql}) AND t.id IN ({targets_sql})
                """,  # noqa: S608 (the subqueries are Django's SQL, values are parameters)
                (until, *services_params, *targets_params),
            )
            # A pair without a success is no pipeline (dropped here: a filter in SQL would
            # evaluate the subquery a second time).
            rows = [row for row in cursor.fetchall() if row[-1] is not None]
    frame = pd.DataFrame.from_records(rows, columns=PIPELINE_COLUMNS)
    frame["last_success_at"] = pd.to_datetime(frame["last_success_at"], utc=True)
    frame["configured"] = frame["configured"].astype(bool)
    return frame


@dataclass(frozen=True)
class EnvironmentSettings:
    """Each environment's `stale_after` (automation lag) and `target_idle_after` (active
    targets: version spread, deploy pipelines), by name: every environment, as automation lag
    may cover them all."""

    stale_after: dict[str, timedelta]
    idle_after: dict[str, timedelta]


def environment_settings() -> EnvironmentSettings:
    rows = list(
        Environment.objects.values_list("name", "stale_after", "target_idle_after").order_by()
    )
    return EnvironmentSettings(
        stale_after={name: stale for name, stale, _ in rows},
        idle_after={name: idle for name, _, idle in rows},
    )
