"""Promotion gate service: read one request's facts, decide with dora.gates, store the decision.

Reads are a fixed handful of indexed statements whatever the estate's size, prepared once per
connection on PostgreSQL: the service's deployments in the two environments since the version
first reached `from` (or the last 30 days), each target's latest one before that, the version's
failed rollouts, each automation instance as intake keeps it (dora.instances), the service's
unresolved incidents, and the infra stacks it depends on (transitively, read with its name).
The instances are read by dora.reads.promotion_instances, the stored policy resolved by
dora.reads.promotion_policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection

from dora import gates
from dora.intake import derive
from dora.models import (
    GateDecision,
)
from dora.out_of_band import OPEN_CONDITION
from dora.prepared import aware, duration, json_param, prepared_rows
from dora.reads.promotion_instances import _automation_instances
from dora.reads.promotion_policy import _policy_resolved

# How far back the deployments of `from` are read when the version never went live there (each
# target's latest one before is read too, so the active targets and the deploy pipeline's lag
# are exact whatever the environment's target_idle_after).
READ_HORIZON = timedelta(days=30)


class PromotionNotFound(LookupError):
    """The request names a service or environment the estate does not have (HTTP 404)."""

    def __init__(self, what: str, name: str, known: list[str]) -> None:
        self.what, self.name, self.known = what, name, known
        hint = (
            f"; known: {', '.join(known[:10])}{' ...' if len(known) > 10 else ''}" if known else ""
        )
        super().__init__(f"unknown {what} '{name}'{hint}")


@dataclass(frozen=True)
class PromotionRequest:
    service: str
    version: str
    from_env: str
    to_env: str
    pipeline_run: str = ""


def promotion_decide(
    request: PromotionRequest,
    *,
    now: datetime,
    requested_by: str,
    body: Mapping[str, Any] | None = None,
) -> tuple[GateDecision, gates.GateDecision]:
    """Evaluate the gate for `request` at `now` and store the decision with its inputs."""
    facts, policy = promotion_facts(request, now=now)
    decision = gates.promotion_evaluate(facts, policy)
    stored = GateDecision(
        evaluated_at=now,
        service=request.service,
        version=request.version,
        from_env=request.from_env,
        to_env=request.to_env,
        pipeline_run=request.pipeline_run,
        requested_by=requested_by,
        allowed=decision.allowed,
        checks=[check.as_dict() for check in decision.checks],
        request=dict(body) if body is not None else _request_body(request),
    )
    asynchronous = connection.vendor == "postgresql" and not (
        settings.DORA_GATE_DURABLE_DECISIONS or not connection.get_autocommit()
    )
    prepared_rows(
        _DECISION_INSERT_ASYNC_SQL if asynchronous else _DECISION_INSERT_SQL,
        {
            "id": stored.id.hex if connection.vendor != "postgresql" else stored.id,
            "evaluated_at": now,
            "service": stored.service,
            "version": stored.version,
            "from_env": stored.from_env,
            "to_env": stored.to_env,
            "pipeline_run": stored.pipeline_run,
            "requested_by": stored.requested_by,
            "allowed": stored.allowed,
            "checks": json_param(stored.checks),
            "request": json_param(stored.request),
        },
    )
    return stored, decision


_DECISION_INSERT_SQL = """
INSERT INTO dora_gatedecision (id, evaluated_at, service, version, from_env, to_env,
    pipeline_run, requested_by, allowed, checks, request)
VALUES (%(id)s, %(evaluated_at)s, %(service)s, %(version)s, %(from_env)s, %(to_env)s,
    %(pipeline_run)s, %(requested_by)s, %(allowed)s, %(checks)s, %(request)s)
"""
# PostgreSQL, unless DORA_GATE_DURABLE_DECISIONS: the same INSERT committed asynchronously
# (synchronous_commit off for its own transaction only; the connection's setting is untouched).
_DECISION_INSERT_ASYNC_SQL = """
WITH async AS (SELECT set_config('synchronous_commit', 'off', true))
INSERT INTO dora_gatedecision (id, evaluated_at, service, version, from_env, to_env,
    pipeline_run, requested_by, allowed, checks, request)
SELECT %(id)s, %(evaluated_at)s, %(service)s, %(version)s, %(from_env)s, %(to_env)s,
    %(pipeline_run)s, %(requested_by)s, %(allowed)s, %(checks)s, %(request)s
FROM async
"""


def decision_body(stored: GateDecision) -> dict[str, Any]:
    """The response of CONTRACT §5 for a stored decision."""
    return {
        "allowed": stored.allowed,
        "decision_id": str(stored.id),
        "evaluated_at": stored.evaluated_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "service": stored.service,
        "version": stored.version,
        "from": stored.from_env,
        "to": stored.to_env,
        "pipeline_run": stored.pipeline_run or None,
        "checks": stored.checks,
    }


def _request_body(request: PromotionRequest) -> dict[str, Any]:
    body = {
        "service": request.service,
        "version": request.version,
        "from": request.from_env,
        "to": request.to_env,
    }
    if request.pipeline_run:
        body["pipeline_run"] = request.pipeline_run
    return body


# ---------------------------------------------------------------------------------------------
# Facts: a handful of indexed statements, the same ones for every request
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Named:
    id: int
    name: str
    stale_after: timedelta | None = None
    idle_after: timedelta | None = None


def promotion_facts(
    request: PromotionRequest, *, now: datetime, derive_pending: bool = True
) -> tuple[gates.PromotionFacts, gates.Policy]:
    """The snapshot and policy for one request; PromotionNotFound for unknown names.

    Events of the service stored but not derived yet in `from` or `to` (an intake still
    deriving, a sync that derives when done) are derived first and the facts read again, so a
    decision never rests on facts known to be behind; a pair whose derivation failed is in the
    facts as underived (the facts_derived check).
    """
    service, source, destination, policy, fingerprint, stacks = _names(request)
    at = {"now": now, "service": service.id, "source": source.id, "destination": destination.id}
    version = {"version": request.version, "sha": request.version.lower()}
    horizon = now - READ_HORIZON
    first_seen, envs, others = _environments_facts(
        {**at, **version, "horizon": horizon},
        {source.id: source, destination.id: destination},
    )
    pending = [row for row in others if row[0] == "pending"]
    if derive_pending and any(row[1] is None for row in pending):
        derive.pairs_pending_derive(
            [(service.id, env_id) for _, failed, _, env_id, *_ in pending if failed is None],
            now=now,
        )
        return promotion_facts(request, now=now, derive_pending=False)
    failures, incidents = _failures_and_incidents(
        [r for r in others if r[0] not in ("pending", "out_of_band")]
    )
    facts = gates.PromotionFacts(
        service=service.name,
        version=request.version,
        source=envs[source.id],
        destination=envs[destination.id],
        now=now,
        failures=failures if first_seen else (),
        automation=_automation_instances(at, service_name=service.name, fingerprint=fingerprint),
        incidents=incidents,
        underived=tuple(
            gates.UnderivedFacts(
                environment=env_name, error=error or "not derived yet", failed_at=aware(failed)
            )
            for _, failed, _, _, error, _, env_name, _ in sorted(pending, key=lambda r: r[6])
            if failed is not None or not derive_pending
        ),
        stacks=stacks,
        out_of_band=_out_of_band([r for r in others if r[0] == "out_of_band"], service.name),
    )
    return facts, policy


def _names(
    request: PromotionRequest,
) -> tuple[_Named, _Named, _Named, gates.Policy, str | None, frozenset[str]]:
    """The service, the two environments, the policy, on PostgreSQL the fingerprint of the
    infra stacks' kept instances (`_automation_instances`), and the infra stacks the service
    depends on."""
    named: dict[tuple[str, str], _Named] = {}
    policy_rows = []
    fingerprint = None
    stacks: set[str] = set()
    for row in prepared_rows(
        _NAMES_SQL + (_FINGERPRINT_SQL if connection.vendor == "postgresql" else ""),
        {
            "service": request.service,
            "source": request.from_env,
            "destination": request.to_env,
        },
    ):
        what, pk, name, stale = row[0], row[1], row[2], row[8]
        if what == "fingerprint":
            fingerprint = name
        elif what == "stack":
            stacks.add(name)
        elif what in ("defaults", "rule"):
            policy_rows.append(row)
        else:
            named[(what, name)] = _Named(
                id=pk, name=name, stale_after=duration(stale), idle_after=duration(row[7])
            )
    if ("service", request.service) not in named:
        known = [
            name for (name,) in prepared_rows("SELECT name FROM dora_service ORDER BY name", {})
        ]
        raise PromotionNotFound("service", request.service, known)
    for name in (request.from_env, request.to_env):
        if ("environment", name) not in named:
            known = [
                n
                for (n,) in prepared_rows(
                    'SELECT name FROM dora_environment ORDER BY "order", name', {}
                )
            ]
            raise PromotionNotFound("environment", name, known)
    source = named[("environment", request.from_env)]
    policy = _policy_resolved(
        request.service, source.name, request.to_env, source.stale_after, tuple(policy_rows)
    )
    return (
        named[("service", request.service)],
        source,
        named[("environment", request.to_env)],
        policy,
        fingerprint,
        frozenset(stacks),
    )


# The service, the two environments, the infra stacks the service depends on (its `depends_on`,
# transitively: a recursive walk of a few index probes) and the gate policy that may apply
# (`gates.defaults`, one row, and the rules naming this service and environments or none), in
# one statement. Columns: kind, id, name (a rule's service), from_env, to_env, checks, position,
# min_soak (an environment's target_idle_after), stale_after, severity, max_spread; the first
# branch types the NULLs for the others.
_NAMES_SQL = """
WITH RECURSIVE stack (id) AS (
    SELECT d.to_service_id FROM dora_service_depends_on d
    JOIN dora_service s ON s.id = d.from_service_id
    WHERE s.name = %(service)s
    UNION
    SELECT d.to_service_id FROM dora_service_depends_on d JOIN stack ON d.from_service_id = stack.id
)
SELECT 'service', id, name, CAST(NULL AS text), CAST(NULL AS text), CAST(NULL AS text),
    CAST(NULL AS integer), CAST(NULL AS interval), CAST(NULL AS interval), CAST(NULL AS text),
    CAST(NULL AS integer)
FROM dora_service WHERE name = %(service)s
UNION ALL
SELECT 'environment', id, name, NULL, NULL, NULL, NULL, target_idle_after, stale_after, NULL,
    NULL
FROM dora_environment WHERE name IN (%(source)s, %(destination)s)
UNION ALL
SELECT 'stack', s.id, s.name, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
FROM stack JOIN dora_service s ON s.id = stack.id
WHERE s.kind = 'infra' AND NOT (s.name = %(service)s)
UNION ALL
SELECT 'defaults', NULL, NULL, NULL, NULL, NULL, NULL, min_soak, stale_after, severity, max_spread
FROM dora_gatesettings WHERE id = (SELECT min(id) FROM dora_gatesettings)
UNION ALL
SELECT 'rule', NULL, service, from_env, to_env, CAST(checks AS text), position, NULL, NULL, NULL,
    NULL
FROM dora_gaterule
WHERE service IN ('', %(service)s) AND from_env IN ('', %(source)s)
  AND to_env IN ('', %(destination)s)
"""
# PostgreSQL: a fingerprint of everything the infra stacks' instances that a process keeps
# (`_automation_instances`) are read from. The instance rows are only ever deleted and inserted
# (dora.instances), never updated, and ids never come back, so their count and largest id
# change with every write (of any instance: the whole table is cheaper to fingerprint than the
# stacks' rows); the largest xmin adds a TRUNCATE that restarts the ids (the new rows'
# transaction is younger). The names the rows carry are listed whole: the infra stacks (which
# services are, and their names), the two environments and their targets (a few rows each); an
# application service's own rows answer under the name the request found.
_FINGERPRINT_SQL = """
UNION ALL
SELECT 'fingerprint', NULL, concat_ws('|',
    (SELECT concat_ws(':', count(*), max(id), max(xmin::text::bigint))
     FROM dora_automationinstance),
    (SELECT string_agg(id || '=' || name, ',' ORDER BY id) FROM dora_service
     WHERE kind = 'infra'),
    (SELECT string_agg(e.id || '=' || e.name || ':' || coalesce(t.targets, ''), ',' ORDER BY e.id)
     FROM dora_environment e
     LEFT JOIN LATERAL (
        SELECT string_agg(t.id || '=' || t.name, ',' ORDER BY t.id) AS targets
        FROM dora_target t WHERE t.environment_id = e.id
     ) t ON true
     WHERE e.name IN (%(source)s, %(destination)s))
), NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL
"""
# When the version first went live on a target of `from` (deployment_version_idx, sha index),
# and each target of the two environments with the service's latest successful deployment there
# before the environment's bound: for `from` that first success, or the 30-day horizon when the
# version never went live there (the range read below brings the rest: every check of `from`
# needs each target's deployments from the version's first on, and the one live before it), for
# `to` just after `now` (its live version is all the gate needs there). One backward index probe
# per target (deployment_target_success_idx); the LEFT JOINs keep a row when there is no target
# or no deployment.
_TARGETS_SQL = """
WITH first AS (
    SELECT min(finished_at) AS at FROM dora_deployment
    WHERE service_id = %(service)s AND environment_id = %(source)s AND status = 'success'
      AND finished_at <= %(now)s AND (version = %(version)s OR sha = %(sha)s)
)
SELECT first.at, t.id, t.environment_id, t.name, t.configured,
       d.finished_at, d.id, d.version, d.sha
FROM first
LEFT JOIN dora_target t ON t.environment_id IN (%(source)s, %(destination)s)
LEFT JOIN dora_deployment d ON d.id = (
    SELECT d2.id FROM dora_deployment d2
    WHERE d2.service_id = %(service)s AND d2.environment_id = t.environment_id
      AND d2.target_id = t.id AND d2.status = 'success'
      AND d2.finished_at < CASE
          WHEN t.environment_id = %(destination)s THEN %(after_now)s
          WHEN first.at IS NOT NULL THEN first.at
          ELSE %(horizon)s END
    ORDER BY d2.finished_at DESC, d2.id DESC LIMIT 1
)
"""
# The service's successful deployments in `from` from its bound to `now` (a range on
# (service, environment, finished_at)); with them, the version's rollouts in `from` that
# derivation marked failed (rollout_failed_idx), the unresolved incidents on the service
# opened by `now`, in either environment or in none (incident_open_idx), and the service's
# pairs of the two environments still waiting for derivation (derivepending_unique), failed
# or not; and the out-of-band changes of the service and the infra stacks in the two
# environments still open at `now` (dora.out_of_band; outofbandchange environment index).
_SOURCE_SQL = (
    """
SELECT 'deployment', finished_at, id, target_id, version, sha, NULL, NULL
FROM dora_deployment
WHERE service_id = %(service)s AND environment_id = %(source)s AND status = 'success'
  AND finished_at >= %(source_since)s AND finished_at <= %(now)s
UNION ALL
SELECT 'failure', NULL, r.id, NULL, r.failure, l.cause, NULL, NULL
FROM dora_rollout r
LEFT JOIN dora_failurelink l ON l.rollout_id = r.id
WHERE r.service_id = %(service)s AND r.environment_id = %(source)s AND NOT (r.failure = '')
  AND (r.version = %(version)s OR r.sha = %(sha)s)
UNION ALL
SELECT 'incident', i.opened_at, i.id, NULL, i.external_id, i.severity, e.name, i.title
FROM dora_incident i
LEFT JOIN dora_environment e ON e.id = i.environment_id
WHERE i.service_id = %(service)s AND i.resolved_at IS NULL AND i.opened_at <= %(now)s
  AND (i.environment_id IN (%(source)s, %(destination)s) OR i.environment_id IS NULL)
UNION ALL
SELECT 'pending', p.failed_at, p.id, p.environment_id, p.error, NULL, e.name, NULL
FROM dora_derivepending p
JOIN dora_environment e ON e.id = p.environment_id
WHERE p.service_id = %(service)s AND p.environment_id IN (%(source)s, %(destination)s)
UNION ALL
SELECT 'out_of_band', o.changed_at, o.id, o.target_id, o.what, o.actor, e.name, s.name
FROM dora_outofbandchange o
JOIN dora_service s ON s.id = o.service_id
JOIN dora_environment e ON e.id = o.environment_id
JOIN dora_target t ON t.id = o.target_id
WHERE o.environment_id IN (%(source)s, %(destination)s) AND o.changed_at <= %(now)s
  AND (o.service_id = %(service)s OR s.kind = 'infra')
  AND """
    + OPEN_CONDITION
    + """
"""
)


def _environments_facts(
    params: dict[str, Any], names: dict[int, _Named]
) -> tuple[datetime | None, dict[int, gates.EnvironmentFacts], list[tuple[Any, ...]]]:
    """When the version first went live in `from`; the service's successful deployments in
    `from` since then (the last 30 days if never) with each target's latest one before; each
    target's live deployment in `to`; and the rows of `_failures_and_incidents`."""
    params = {**params, "after_now": params["now"] + timedelta(microseconds=1)}
    found = prepared_rows(_TARGETS_SQL, params)
    first_seen = aware(found[0][0])
    targets = [row[1:] for row in found if row[1] is not None]
    target_names = {pk: name for pk, _, name, *_ in targets}
    deployments: dict[int, list[tuple[Any, ...]]] = {env: [] for env in names}
    for pk, env_id, _, _, finished, deployment_id, version, sha in targets:
        if finished is not None:
            deployments[env_id].append((aware(finished), deployment_id, pk, version, sha))
    horizon = params["horizon"]
    since = first_seen or horizon
    others = []
    for row in prepared_rows(_SOURCE_SQL, {**params, "source_since": since}):
        if row[0] == "deployment":
            _, finished, deployment_id, target_id, version, sha, *_ = row
            deployments[params["source"]].append(
                (aware(finished), deployment_id, target_id, version, sha)
            )
        elif row[0] == "out_of_band":  # its target by name (the targets of both are read)
            others.append((*row[:3], target_names.get(row[3], ""), *row[4:]))
        else:
            others.append(row)
    envs = {
        env: gates.EnvironmentFacts(
            name=named.name,
            deployments=tuple(
                gates.TargetDeployment(
                    target=target_names.get(target_id, ""),
                    finished_at=finished,
                    version=version,
                    sha=sha,
                )
                for finished, _, target_id, version, sha in sorted(
                    deployments[env], key=lambda row: row[:2]
                )
            ),
            configured_targets=frozenset(
                name for _, env_id, name, configured, *_ in targets if env_id == env and configured
            ),
            idle_after=named.idle_after or gates.DEFAULT_TARGET_IDLE_AFTER,
        )
        for env, named in names.items()
    }
    return first_seen, envs, others


def _out_of_band(rows: list[tuple[Any, ...]], service: str) -> tuple[gates.OutOfBandChange, ...]:
    """The open out-of-band changes among `_SOURCE_SQL`'s rows, oldest first: the service's
    own, and the infra stacks' (any other service the query returns is one)."""
    found = sorted(
        (aware(changed_at), pk, target, what, actor, environment, name)
        for _, changed_at, pk, target, what, actor, environment, name in rows
    )
    return tuple(
        gates.OutOfBandChange(
            service=name,
            environment=environment,
            target=target,
            infra=name != service,
            changed_at=changed_at,
            actor=actor,
            what=what,
        )
        for changed_at, _, target, what, actor, environment, name in found
    )


def _failures_and_incidents(
    rows: list[tuple[Any, ...]],
) -> tuple[tuple[gates.RolloutFailure, ...], tuple[gates.OpenIncident, ...]]:
    """The failed rollouts and open incidents among `_SOURCE_SQL`'s rows."""
    causes: dict[int, tuple[str, set[str]]] = {}
    incidents = []
    for kind, opened, pk, _, text, other, environment, title in rows:
        if kind == "failure":
            causes.setdefault(pk, (text, set()))[1].update({other} if other else set())
        else:
            incidents.append(
                (
                    aware(opened),
                    pk,
                    gates.OpenIncident(
                        id=text.removeprefix("incident:"),  # the event's own id
                        severity=other,
                        environment=environment or "",
                        opened_at=aware(opened),
                        title=title,
                    ),
                )
            )
    failures = tuple(
        gates.RolloutFailure(status=failure, causes=tuple(sorted(found)))
        for failure, found in causes.values()
    )
    return failures, tuple(incident for *_, incident in sorted(incidents, key=lambda x: x[:2]))
