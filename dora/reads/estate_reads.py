"""Read side of the estate's state: what is live where (version spread), the configured
targets, the automation runs and deploy pipelines (automation lag) and each environment's
settings, as pandas DataFrames.

Split from dora.reads.selectors (the window's facts), whose conventions it follows: one query
per frame, the probes per service and target on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Q
from django.db.models.expressions import RawSQL

from dora.metrics.estate import NON_RESETTING_ACTIONS
from dora.models import AutomationRun, Environment, Service, Status, Target
from dora.reads.frame_io import _frame
from dora.reads.scope import Scope, _estate_tier_q, _service_q, _tier_q
from dora.reads.selectors import DEPLOYMENT_FIELDS, SPREAD_HISTORY, _deployments


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
    (a forward probe of deployment_release_idx by its key), the deployments since the oldest of
    those releases (a range of deployment_target_success_idx per target, kept a probe per target
    by OFFSET 0: flattened, PostgreSQL filtered each target's half year instead), and of those
    the ones without an earlier deployment of their version in [since, at) (one probe of
    deployment_release_idx each). The key is written as that index writes it, so that PostgreSQL
    can use it. None when the scope has no service or no target."""
    found = _services_targets_sql(scope, _tier_q(scope))
    if found is None:
        return None
    services_sql, services_params, targets_sql, targets_params = found
    # The version key (the sha, else the version) as deployment_release_idx writes it.
    key = "COALESCE(NULLIF({t}.sha, ''), {t}.version)"
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
                  AND {key.format(t="x")} = l.key
                  AND {window.format(t="x")} {on_target.format(t="x")}
            ) released
            GROUP BY l.service_id, l.environment_id
        ), since_cut AS MATERIALIZED (  -- per target (with a target, only its own)
            SELECT x.*
            FROM cut c JOIN cand t ON t.service_id = c.service_id
                AND t.environment_id = c.environment_id
            CROSS JOIN LATERAL (
                SELECT x.id, x.service_id, x.environment_id, x.finished_at,
                       {key.format(t="x")} AS key
                FROM dora_deployment x
                WHERE x.service_id = t.service_id AND x.environment_id = t.environment_id
                  AND x.target_id = t.target_id AND x.finished_at >= c.first
                  AND {window.format(t="x")}
                OFFSET 0
            ) x
        ), firsts AS (  -- the first of its version in [since, at): none of it earlier
            SELECT r.id FROM since_cut r
            WHERE NOT EXISTS (
                SELECT 1 FROM dora_deployment y
                WHERE y.service_id = r.service_id AND y.environment_id = r.environment_id
                  AND {key.format(t="y")} = r.key
                  AND {window.format(t="y")} AND y.finished_at < r.finished_at
                  {on_target.format(t="y")}
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
        at,  # since_cut
        since,
        at,
        *target_params,  # firsts
    )
    return RawSQL(sql, params)  # noqa: S611 (values are parameters)


def configured_targets_frame(scope: Scope) -> pd.DataFrame:
    """Targets listed by configuration (always active) in the scope's tier."""
    queryset = Target.objects.filter(configured=True, environment__tier=scope.tier)
    if scope.target:
        queryset = queryset.filter(name=scope.target)
    return _frame(queryset, {"environment": "environment__name", "target": "name"})


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
