"""Read side of the metrics: the derived facts of a scope and window as pandas DataFrames.

The only place the metrics read the database. Every selector filters and joins in SQL (one query
per frame, never one per row) and returns the columns its `dora.metrics` function documents,
plus a few descriptive columns for the items behind each figure.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
import psycopg
from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import (
    Exists,
    F,
    Max,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
)
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, NullIf

from dora.metrics.estate import NON_RESETTING_ACTIONS
from dora.metrics.levels import DEFAULT_INDUSTRY
from dora.models import (
    AutomationRun,
    Change,
    ChangeArrival,
    Commit,
    Deployment,
    Environment,
    FailureLink,
    Incident,
    OrganisationSettings,
    PipelineRun,
    Rollout,
    RolloutTarget,
    Service,
    Target,
    Team,
    Tier,
)

HALF_YEAR = timedelta(days=182.5)
# Derivation looks for a rollout's full-estate arrival within 30 days of it going live.
ESTATE_HORIZON = timedelta(days=30)
# Version spread reads this much deployment history before the evaluation time.
SPREAD_HISTORY = HALF_YEAR
FAILED = ("confirmed", "inferred")
COUNTED_KINDS = (Rollout.Kind.CHANGE, Rollout.Kind.CONFIG)


class ScopeError(ValueError):
    """A scope names something that does not exist; `parameter` says which input to fix."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class Scope:
    """Which facts a report covers. Filters combine (AND); no service and no team is everything.

    services: service names; team: a team name (its services); kind: app | infra; tier: the
    environment tier (production for the DORA figures); target: a target name (rollouts and
    arrivals that reached it, deployments and automation runs on it).
    tier_named: whether the request named the tier. Automation lag is an estate figure: unless
    the tier was named it covers every environment (METRICS §4.3); the other figures read `tier`.
    """

    services: tuple[str, ...] = ()
    team: str | None = None
    kind: str | None = None
    tier: str = Tier.PRODUCTION
    target: str | None = None
    timezone: str = field(default="UTC", compare=False)
    tier_named: bool = True
    # The DORA 2025 industry its figures are placed against (METRICS §3.6), see scope_resolve.
    industry: str = field(default=DEFAULT_INDUSTRY, compare=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "services": sorted(self.services),
            "team": self.team,
            "kind": self.kind,
            "tier": self.tier,
            "target": self.target,
        }


def scope_resolve(
    *,
    services: Sequence[str] = (),
    team: str | None = None,
    kind: str | None = None,
    tier: str | None = None,
    target: str | None = None,
) -> Scope:
    """A Scope after checking its names exist; ScopeError names the first unknown one.

    The reporting time zone is the team's (METRICS §1), else UTC. No tier: production for the
    DORA figures, every environment for automation lag (`Scope.tier_named`). The 2025 industry
    is the team's (the team named, or the one team all the named services belong to) when it
    has one, else the organisation's, else "all".
    """
    tier_named = tier is not None
    tier = tier or Tier.PRODUCTION
    names = tuple(dict.fromkeys(s for s in services if s))
    # The organisation's industry rides along with the reads the names need anyway.
    organisation = Subquery(OrganisationSettings.objects.values("industry")[:1])
    rows = list(
        Service.objects.filter(name__in=names)
        .annotate(organisation_industry=organisation)
        .values_list("name", "team__name", "team__industry", "organisation_industry")
    )
    known = {row[0] for row in rows}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ScopeError("service", f"unknown service: {', '.join(unknown)}")
    timezone = "UTC"
    if team:
        found = (
            Team.objects.filter(name=team)
            .annotate(organisation_industry=organisation)
            .values_list("timezone", "industry", "organisation_industry")
            .first()
        )
        if found is None:
            raise ScopeError("team", f"unknown team: {team}")
        timezone = found[0] or "UTC"
        industry = found[1] or found[2]
    elif rows:  # services: their team's when they all belong to one team
        teams = {row[1] for row in rows}
        industry = (rows[0][2] if len(teams) == 1 else None) or rows[0][3]
    else:
        industry = organisation_industry()
    if kind is not None and kind not in Service.Kind.values:
        raise ScopeError("kind", f"kind must be one of {', '.join(Service.Kind.values)}")
    if tier not in Tier.values:
        raise ScopeError("tier", f"tier must be one of {', '.join(Tier.values)}")
    if target and not Target.objects.filter(name=target).exists():
        raise ScopeError("target", f"unknown target: {target}")
    return Scope(
        services=names,
        team=team or None,
        kind=kind,
        tier=tier,
        target=target or None,
        timezone=timezone,
        tier_named=tier_named,
        industry=industry or DEFAULT_INDUSTRY,
    )


# The organisation's reporting time zone: the configuration has no `organisation: timezone:`
# yet, so the organisation's windows and pooled figures use UTC (METRICS §1).
ORGANISATION_TIMEZONE = "UTC"


def scope_zone(scope: Scope) -> str:
    """The time zone a scope's window is read in (dora.window): the team's; the services'
    team's when they all belong to one team with the same zone; else the organisation's."""
    if scope.team:
        return scope.timezone
    if scope.services:
        zones = set(
            Service.objects.filter(name__in=scope.services).values_list("team__timezone", flat=True)
        )
        if len(zones) == 1:
            return zones.pop() or ORGANISATION_TIMEZONE
    return ORGANISATION_TIMEZONE


def organisation_industry() -> str:
    """The organisation's 2025 industry (`organisation: industry:` in the config), else "all"."""
    stored = OrganisationSettings.objects.values_list("industry", flat=True).first()
    return stored or DEFAULT_INDUSTRY


# ---------------------------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------------------------


def _service_q(scope: Scope, prefix: str = "service__") -> Q:
    q = Q()
    if scope.services:
        q &= Q(**{f"{prefix}name__in": scope.services})
    if scope.team:
        q &= Q(**{f"{prefix}team__name": scope.team})
    if scope.kind:
        q &= Q(**{f"{prefix}kind": scope.kind})
    return q


def _tier_q(scope: Scope, prefix: str = "environment__") -> Q:
    return Q(**{f"{prefix}tier": scope.tier})


def _scoped(queryset: QuerySet, scope: Scope) -> QuerySet:
    return queryset.filter(_service_q(scope), _tier_q(scope))


def _reached_target(scope: Scope, rollout_ref: str) -> Exists:
    """A rollout with a deployment on the scope's target."""
    return Exists(
        Deployment.objects.filter(rollout_id=OuterRef(rollout_ref), target__name=scope.target)
    )


def _frame(queryset: QuerySet, columns: dict[str, Any]) -> pd.DataFrame:
    """Rows of `queryset` as a DataFrame; columns maps output name -> field path or expression."""
    fields = {name: F(path) if isinstance(path, str) else path for name, path in columns.items()}
    # values() cannot reuse a model field's name for an expression: alias, then rename.
    aliased = {f"_{name}": expr for name, expr in fields.items()}
    values = queryset.annotate(**aliased).values_list(*aliased).order_by()
    if connections[values.db].vendor == "postgresql":
        return _frame_copy(values, list(columns))
    return pd.DataFrame.from_records(list(values), columns=list(columns))


def _array_literal(values: list[Any]) -> Any:
    """A list of ints or plain strings (ids, shas) as a PostgreSQL array literal: quoting one
    string is far cheaper than psycopg adapting 100,000 values. Other lists are left as they are.
    """
    if all(type(v) is int for v in values):
        return "{" + ",".join(map(str, values)) + "}"
    if all(type(v) is str for v in values):
        quoted = (v.replace("\\", "\\\\").replace('"', '\\"') for v in values)
        return "{" + ",".join(f'"{v}"' for v in quoted) + "}"
    return values


TEXT_FIELDS = ("CharField", "TextField", "SlugField", "EmailField", "URLField")


def _frame_copy(values: QuerySet, columns: list[str]) -> pd.DataFrame:
    """The rows of a values_list() of `_<column>` annotations, read with COPY ... TO STDOUT as
    CSV and parsed by pandas: no Python object per cell, which at a few hundred thousand rows is
    most of the time (bench/metrics.py). Columns are typed from the annotations' fields:
    timestamps as datetime64[us, UTC], booleans as bool, text as str, numbers as pandas infers
    (an integer column with nulls is float, as from_records makes it).

    Timestamps travel as integer microseconds since the epoch, exact (timestamptz has
    microsecond resolution and EXTRACT returns numeric): formatting and parsing ISO text cost
    PostgreSQL and pandas about a microsecond a cell, several seconds of a full report."""
    connection = connections[values.db]
    compiler = values.query.get_compiler(using=values.db)
    kinds = {
        name: values.query.annotations[f"_{name}"].output_field.get_internal_type()
        for name in columns
    }
    try:
        statement, params = compiler.as_sql()
    except EmptyResultSet:
        # Django proves some filters match nothing and compiles no SQL (`tier__in=[]`: the
        # development tier has no earlier tiers). The header alone, parsed below like any other
        # result, gives the empty frame its usual columns and types.
        header = ",".join(f"_{name}" for name in columns) + "\n"
        return _frame_csv_parse(io.BytesIO(header.encode()), columns, kinds)
    params = tuple(_array_literal(p) if isinstance(p, list) else p for p in params)
    buffer = io.BytesIO()
    started = time.perf_counter()
    connection.ensure_connection()
    raw = connection.connection
    # COPY takes no parameters: bind them client-side (psycopg's own quoting).
    query = psycopg.ClientCursor(raw).mogrify(statement, params)
    quote = connection.ops.quote_name
    outputs = ", ".join(
        f"(EXTRACT(EPOCH FROM {quote('_' + name)}) * 1000000)::bigint AS {quote('_' + name)}"
        if kind == "DateTimeField"
        else quote("_" + name)
        for name, kind in kinds.items()
    )
    query = f"SELECT {outputs} FROM ({query}) AS rows"  # noqa: S608 (names quoted, values bound)
    with raw.cursor() as cursor:
        copy_sql = f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true, NULL '\\N')"
        with cursor.copy(copy_sql) as copy:
            for block in copy:
                buffer.write(block)
    if connection.queries_logged:  # as Django logs its own queries (debug, query-count tests)
        connection.queries_log.append(
            {"sql": copy_sql, "time": f"{time.perf_counter() - started:.3f}"}
        )
    buffer.seek(0)
    return _frame_csv_parse(buffer, columns, kinds)


def _frame_csv_parse(buffer: io.BytesIO, columns: list[str], kinds: dict[str, str]) -> pd.DataFrame:
    """The CSV `_frame_copy` reads (a header of `_<column>` names, then rows), typed by the
    annotations' field kinds."""
    text_columns = [f"_{n}" for n, kind in kinds.items() if kind in TEXT_FIELDS]
    moment_columns = [f"_{n}" for n, kind in kinds.items() if kind == "DateTimeField"]
    frame = pd.read_csv(
        buffer,
        keep_default_na=False,
        na_values=["\\N"],
        dtype={**dict.fromkeys(text_columns, str), **dict.fromkeys(moment_columns, "Int64")},
    )
    frame.columns = columns
    for name, kind in kinds.items():
        if kind == "DateTimeField" and frame.empty:  # typed as an empty ISO column was
            frame[name] = pd.to_datetime(frame[name].astype(str), format="ISO8601", utc=True)
        elif kind == "DateTimeField":
            frame[name] = pd.to_datetime(frame[name], unit="us", utc=True)
        elif kind == "BooleanField":
            frame[name] = frame[name].map({"t": True, "f": False, True: True, False: False})
    return frame


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
    return _rollouts(scope).aggregate(first=Min("first_live_at"))["first"]


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
    queryset = _deployments(scope).filter(
        status="success",
        finished_at__gte=at - SPREAD_HISTORY if since is None else since,
        finished_at__lt=at,
    )
    if since is None and connections[queryset.db].vendor == "postgresql":
        queryset = queryset.filter(id__in=_spread_rows(queryset))
    return _frame(queryset, DEPLOYMENT_FIELDS)


def _spread_rows(history: QuerySet[Deployment]) -> RawSQL:
    """The ids of the deployments in `history` that `version_spread` can tell apart from the
    whole history: each target's latest one(s), and the first deployment(s) of every version
    released since the oldest of those latest versions. Releases before it only shift every release
    number of the (service, environment) by the same amount; the spread is unchanged. At
    300,000 deployments in half a year this leaves a few thousand rows.
    """
    base, params = history.values(
        "id", "service_id", "environment_id", "target_id", "finished_at", "sha", "version"
    ).query.sql_with_params()
    return RawSQL(  # noqa: S611 (base is Django's SQL, values are parameters)
        f"""
        WITH d AS MATERIALIZED (
            SELECT b.id, b.service_id, b.environment_id, b.target_id, b.finished_at,
                   CASE WHEN b.sha <> '' THEN b.sha ELSE b.version END AS key
            FROM ({base}) b
        ), latest AS (
            SELECT service_id, environment_id, target_id, max(finished_at) AS finished_at
            FROM d GROUP BY service_id, environment_id, target_id
        ), live AS (
            SELECT d.id, d.service_id, d.environment_id, d.key
            FROM d JOIN latest USING (service_id, environment_id, target_id, finished_at)
        ), released AS (
            SELECT service_id, environment_id, key, min(finished_at) AS finished_at
            FROM d GROUP BY service_id, environment_id, key
        ), cut AS (
            SELECT l.service_id, l.environment_id, min(r.finished_at) AS finished_at
            FROM live l JOIN released r USING (service_id, environment_id, key)
            GROUP BY l.service_id, l.environment_id
        ), firsts AS (
            SELECT d.id FROM d
            JOIN released r USING (service_id, environment_id, key, finished_at)
            JOIN cut c ON c.service_id = r.service_id AND c.environment_id = r.environment_id
            WHERE r.finished_at >= c.finished_at
        )
        SELECT id FROM live UNION SELECT id FROM firsts
        """,  # noqa: S608 (base is Django's SQL, values are parameters)
        params,
    )


def scope_repos(scope: Scope) -> list[str]:
    """The repositories of the scope's services, sorted; one query."""
    services = Service.objects.filter(_service_q(scope, prefix=""))
    return sorted(
        {repo for repos in services.values_list("repos", flat=True) for repo in (repos or [])}
    )


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


def _estate_tier_q(scope: Scope, prefix: str = "environment__") -> Q:
    """Automation lag's environments: the scope's tier when it was named, else every one."""
    return _tier_q(scope, prefix) if scope.tier_named else Q()


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
        queryset = AutomationRun.objects.filter(id__in=_lag_rows(queryset, since=since))
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


def _lag_rows(runs: QuerySet[AutomationRun], *, since: datetime) -> RawSQL:
    """The ids of the runs `automation_lag` and `automation_evidence` read from `runs`: those
    finished from `since` on; per instance (service, environment, target) its latest run, which
    makes it an instance, its latest successful run that resets the lag (not a plan), and its
    latest run of each status before `since`. A few thousand rows instead of two years of
    schedules.
    """
    base, params = runs.values(
        "id", "service_id", "environment_id", "target_id", "finished_at", "status", "action"
    ).query.sql_with_params()
    return RawSQL(  # noqa: S611 (base is Django's SQL, values are parameters)
        f"""
        WITH r AS ({base})
        SELECT id FROM r WHERE finished_at >= %s
        UNION
        SELECT id FROM (
            SELECT DISTINCT ON (service_id, environment_id, target_id, status) id
            FROM r WHERE finished_at < %s
            ORDER BY service_id, environment_id, target_id, status, finished_at DESC, id DESC
        ) before
        UNION
        SELECT id FROM (
            SELECT DISTINCT ON (service_id, environment_id, target_id) id
            FROM r ORDER BY service_id, environment_id, target_id, finished_at DESC, id DESC
        ) latest
        UNION
        SELECT id FROM (
            SELECT DISTINCT ON (service_id, environment_id, target_id) id
            FROM r WHERE status = 'success' AND action <> ALL(%s::varchar[])
            ORDER BY service_id, environment_id, target_id, finished_at DESC, id DESC
        ) reset
        """,  # noqa: S608 (base is Django's SQL, values are parameters)
        (*params, since, since, list(NON_RESETTING_ACTIONS)),
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
    last_success_at (its latest successful deployment). One statement: the deployments grouped
    by their ids (deployment_target_success_idx), the names joined to the groups after."""
    queryset = Deployment.objects.filter(
        _service_q(scope), _estate_tier_q(scope), status="success", finished_at__lt=until
    )
    if scope.target:
        queryset = queryset.filter(target__name=scope.target)
    grouped = (
        queryset.values("service_id", "target_id")
        .annotate(last_success_at=Max("finished_at"))
        .order_by()
    )
    try:
        base, params = grouped.query.sql_with_params()
    except EmptyResultSet:
        base, params = "", ()
    rows: list[tuple[Any, ...]] = []
    if base:
        with connections[grouped.db].cursor() as cursor:
            cursor.execute(
                f"""
                SELECT s.name, e.name, t.name, t.configured, g.last_success_at
                FROM ({base}) g
                JOIN dora_service s ON s.id = g.service_id
                JOIN dora_target t ON t.id = g.target_id
                JOIN dora_environment e ON e.id = t.environment_id
                """,  # noqa: S608 (base is Django's SQL, values are parameters)
                params,
            )
            rows = cursor.fetchall()
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


@dataclass(frozen=True)
class ValueStreamFrames:
    """The frames `dora.metrics.value_stream.value_stream` takes."""

    changes: pd.DataFrame
    preprod: pd.DataFrame
    intervals: pd.DataFrame


def _production_approvals(
    scope: Scope, changes: pd.DataFrame, *, since: datetime, until: datetime, approvals: bool
) -> pd.Series:
    """E9 per row of `changes`: the first approval of the rollout that first carried it.

    Of a change's arrivals in the scope's tier, those at its first arrival time (arrived_at, the
    minimum) name the rollout(s) that first carried it; the earliest approved_at among their
    deployments is the approval. Only rollouts with an approval are read, and nothing when no
    deployment carries one (`approvals` false: the common case, answered by a partial index).
    """
    if changes.empty or not approvals:
        return pd.Series(pd.NaT, index=changes.index, dtype="object")
    approved = _frame(
        _arriving(scope, since=since, until=until)
        .filter(rollout__deployments__approved_at__isnull=False)
        .values("change_id", "arrived_at")
        .annotate(approved_at=Min("rollout__deployments__approved_at"))
        .order_by(),
        {"change_id": "change_id", "first": "arrived_at", "approved_at": "approved_at"},
    )
    empty = pd.Series(pd.NaT, index=changes.index, dtype="object")
    if approved.empty or changes.empty:
        return empty
    first = approved.merge(changes[["change_id", "arrived_at"]], on="change_id")
    first = first[first["first"] == first["arrived_at"]]
    by_change = first.groupby("change_id")["approved_at"].min()
    return changes["change_id"].map(by_change)


@dataclass(frozen=True)
class ValueStreamReads:
    """What `value_stream_frames` reads besides each change's arrivals: its changes without
    arrived_at, estate_reached_at and production_approved_at; its preprod and intervals; and
    whether any deployment carries an approval (E9)."""

    changes: pd.DataFrame
    preprod: pd.DataFrame
    intervals: pd.DataFrame
    approvals: bool


def _arriving(scope: Scope, *, since: datetime, until: datetime) -> QuerySet[ChangeArrival]:
    """The value stream's changes that arrived in the scope's tier in [since - 30 d, until)."""
    return _scoped(ChangeArrival.objects.all(), scope).filter(
        change__isnull=False, arrived_at__gte=since - ESTATE_HORIZON, arrived_at__lt=until
    )


def changes_arrived(arrivals: pd.DataFrame) -> pd.DataFrame:
    """Per change (change_id) of an `arrivals_frame`: its first arrived_at and its first
    estate_reached_at, the minimum of each, nulls left out (as SQL's MIN); no direct pushes."""
    rows = arrivals.loc[arrivals["change_id"].notna(), ["arrived_at", "estate_reached_at"]]
    first = rows.groupby(arrivals["change_id"].astype("Int64")).min()
    first.index = first.index.astype("int64")
    return first.reset_index()


def value_stream_frames(
    scope: Scope,
    *,
    since: datetime,
    until: datetime,
    reads: ValueStreamReads | None = None,
    arrivals: pd.DataFrame | None = None,
) -> ValueStreamFrames:
    """Changes whose stage events may fall in [since, until), one row each.

    Changes arriving in the scope's tier in [since - 30 d, until) (their arrival and full-estate
    stages), and changes of the scope's repos merged in the window that have not arrived yet.
    build_at: first successful CI run finished on the merge (or squash) sha. preprod: first
    arrival in each environment of an earlier tier. intervals: CI runs on the merge sha and the
    deployments (with a start) of the rollouts carrying the change (machine process time).
    issue_created_at (E0): the change's. production_approved_at (E9): the earliest approved_at
    among the deployments of the rollout that first carried the change to the scope's tier
    (READINGS.md); NaT without one, and those stages are skipped.

    reads, arrivals: already read (the full report reads its frames on several connections at
    once): this scope and window's `value_stream_reads`, and its `arrivals_frame`, whose rows
    with a change are those arrivals (derived arrivals name an existing service and rollout):
    each change's first arrival is taken from it instead of read again. Not with a target: that
    frame then holds only the arrivals of rollouts that reached the target.
    """
    if reads is None:
        reads = value_stream_reads(scope, since=since, until=until)
    if arrivals is None or scope.target:
        arrived = _frame(
            _arriving(scope, since=since, until=until)
            .values("change_id")
            .annotate(
                arrived_at=Min("arrived_at"), estate_reached_at=Min("rollout__estate_reached_at")
            )
            .order_by(),
            {
                "change_id": "change_id",
                "arrived_at": "arrived_at",
                "estate_reached_at": "estate_reached_at",
            },
        )
    else:
        arrived = changes_arrived(arrivals)
    changes = reads.changes.merge(arrived, on="change_id", how="left")
    changes["production_approved_at"] = _production_approvals(
        scope, changes, since=since, until=until, approvals=reads.approvals
    )
    return ValueStreamFrames(changes=changes, preprod=reads.preprod, intervals=reads.intervals)


def value_stream_reads(scope: Scope, *, since: datetime, until: datetime) -> ValueStreamReads:
    """The reads of `value_stream_frames` that do not need each change's arrivals."""
    arriving = _arriving(scope, since=since, until=until)
    repos = scope_repos(scope)
    unarrived = Change.objects.filter(
        repo__in=repos, merged_at__gte=since, merged_at__lt=until
    ).values("id")
    changes = _frame(
        # A UNION, not an OR of the two conditions: with OR PostgreSQL scans every change.
        Change.objects.filter(id__in=arriving.values("change_id").union(unarrived)),
        {
            "change_id": "id",
            "repo": "repo",
            "number": "number",
            # The sha the change landed as (merge or squash commit): its CI is process time.
            "landed_sha": Coalesce(NullIf("merge_sha", Value("")), "squash_sha"),
            "start": "started_at",
            "created_at": "created_at",
            "ready_at": "ready_at",
            "first_review_at": "first_review_at",
            "merged_at": "merged_at",
            "build_at": "build_at",  # kept by intake (dora/intake/change_times.py)
            "issue_created_at": "issue_created_at",
        },
    )
    ids = [int(i) for i in changes["change_id"]]
    earlier_tiers = [t for t in Tier.values[: Tier.values.index(scope.tier)]]
    preprod = _frame(
        ChangeArrival.objects.filter(
            _service_q(scope), change_id__any=ids, environment__tier__in=earlier_tiers
        )
        .values("change_id", "environment__name", "environment__order")
        .annotate(first=Min("arrived_at")),
        {
            "change_id": "change_id",
            "environment": "environment__name",
            "order": "environment__order",
            "first_live_at": "first",
        },
    )
    shas = sorted({s for s in changes["landed_sha"] if s})
    runs = _frame(
        PipelineRun.objects.filter(sha__any=shas, finished_at__isnull=False),
        {"landed_sha": "sha", "started_at": "started_at", "finished_at": "finished_at"},
    )
    intervals = runs.merge(changes[["change_id", "landed_sha"]], on="landed_sha")[
        ["change_id", "started_at", "finished_at"]
    ]
    # Deploys are machine work on the path too (metrics-background §7.2): the target deployments,
    # with a start time, of the rollouts that carried each change up to the scope's tier.
    deploys = _frame(
        ChangeArrival.objects.filter(
            _service_q(scope),
            change_id__any=ids,
            environment__tier__in=[*earlier_tiers, scope.tier],
            rollout__deployments__started_at__isnull=False,
            rollout__deployments__finished_at__isnull=False,
        ),
        {
            "change_id": "change_id",
            "started_at": "rollout__deployments__started_at",
            "finished_at": "rollout__deployments__finished_at",
        },
    )
    if len(deploys):
        intervals = pd.concat([f for f in (intervals, deploys) if len(f)], ignore_index=True)
    approvals = Deployment.objects.filter(approved_at__isnull=False).exists()
    return ValueStreamReads(
        changes=changes, preprod=preprod, intervals=intervals, approvals=approvals
    )


def change_links(change_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Change id -> (`repo#number`, its provider page URL or "") for the explain lists."""
    ids = sorted({int(i) for i in change_ids})
    return {
        pk: (f"{repo}#{number}", url)
        for pk, repo, number, url in Change.objects.filter(pk__in=ids).values_list(
            "pk", "repo", "number", "url"
        )
    }
