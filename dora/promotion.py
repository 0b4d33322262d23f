"""Promotion gate service: read one request's facts, decide with dora.gates, store the decision.

Reads are a bounded handful of indexed queries whatever the estate's size: the service's
deployments in the two environments since the version first reached `from` (or the last 30 days),
each target's latest one before that, the version's failed rollouts, each automation instance's
latest runs, and the service's unresolved incidents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import Min, OuterRef, Q, Subquery
from django.utils.dateparse import parse_datetime

from dora import gates
from dora.config import duration_parse
from dora.models import (
    Deployment,
    Environment,
    GateDecision,
    GateRule,
    GateSettings,
    Incident,
    Rollout,
    Service,
    Target,
)


class PromotionNotFound(LookupError):
    """The request names a service or environment the estate does not have (HTTP 404)."""

    def __init__(self, what: str, name: str, known: list[str]) -> None:
        self.what, self.name = what, name
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
    stored = GateDecision.objects.create(
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
    return stored, decision


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
# Facts
# ---------------------------------------------------------------------------------------------


def promotion_facts(
    request: PromotionRequest, *, now: datetime
) -> tuple[gates.PromotionFacts, gates.Policy]:
    """The snapshot and policy for one request; PromotionNotFound for unknown names."""
    service = Service.objects.filter(name=request.service).first()
    if service is None:
        raise PromotionNotFound(
            "service",
            request.service,
            list(Service.objects.order_by("name").values_list("name", flat=True)),
        )
    environments = {
        e.name: e for e in Environment.objects.filter(name__in=[request.from_env, request.to_env])
    }
    for name in (request.from_env, request.to_env):
        if name not in environments:
            raise PromotionNotFound(
                "environment",
                name,
                list(Environment.objects.order_by("order", "name").values_list("name", flat=True)),
            )
    source, destination = environments[request.from_env], environments[request.to_env]
    first_seen = _version_first_success(service, source, request.version, now)
    horizon = now - gates.ACTIVE_TARGET_WINDOW
    facts = gates.PromotionFacts(
        service=service.name,
        version=request.version,
        source=_environment_facts(
            service, source, now, min(first_seen, horizon) if first_seen else horizon
        ),
        destination=_environment_facts(service, destination, now, horizon),
        now=now,
        failures=_version_failures(service, source, request.version) if first_seen else (),
        automation=_automation_instances(service, (source, destination), now),
        incidents=_open_incidents(service, (source, destination), now),
    )
    policy = policy_for(service.name, source, destination)
    return facts, policy


def _version_filter(version: str) -> Q:
    return Q(version=version) | Q(sha=version.lower())


def _version_first_success(
    service: Service, env: Environment, version: str, now: datetime
) -> datetime | None:
    return (
        Deployment.objects.filter(
            _version_filter(version),
            service=service,
            environment=env,
            status="success",
            finished_at__lte=now,
        )
        .aggregate(first=Min("finished_at"))
        .get("first")
    )


def _environment_facts(
    service: Service, env: Environment, now: datetime, since: datetime
) -> gates.EnvironmentFacts:
    """The service's successful deployments in `env` from `since` to `now`, and each target's
    latest one before `since` (so every target's live version is known)."""
    successes = Deployment.objects.filter(
        service=service, environment=env, status="success", finished_at__lte=now
    )
    targets = list(
        Target.objects.filter(environment=env)
        .annotate(
            before=Subquery(
                successes.filter(target=OuterRef("pk"), finished_at__lt=since)
                .order_by("-finished_at", "-id")
                .values("id")[:1]
            )
        )
        .values_list("id", "name", "configured", "before")
    )
    names = {pk: name for pk, name, _, _ in targets}
    earlier = [before for _, _, _, before in targets if before is not None]
    rows = (
        successes.filter(Q(finished_at__gte=since) | Q(id__in=earlier))
        .order_by("finished_at", "id")
        .values_list("target_id", "finished_at", "version", "sha")
    )
    return gates.EnvironmentFacts(
        name=env.name,
        deployments=tuple(
            gates.TargetDeployment(
                target=names.get(target_id, ""), finished_at=finished, version=version, sha=sha
            )
            for target_id, finished, version, sha in rows
        ),
        configured_targets=frozenset(name for _, name, configured, _ in targets if configured),
    )


def _version_failures(
    service: Service, env: Environment, version: str
) -> tuple[gates.RolloutFailure, ...]:
    causes: dict[int, tuple[str, set[str]]] = {}
    for pk, failure, cause in (
        Rollout.objects.filter(_version_filter(version), service=service, environment=env)
        .exclude(failure="")
        .values_list("id", "failure", "failure_links__cause")
    ):
        causes.setdefault(pk, (failure, set()))[1].update({cause} if cause else set())
    return tuple(
        gates.RolloutFailure(status=failure, causes=tuple(sorted(found)))
        for failure, found in causes.values()
    )


# Each instance's latest run, latest lag-resetting success and newest drift check, one index
# probe each (automationrun_instance_idx, _reset_idx, _drift_idx). Instances are the service's and
# every infra stack's (service kind infra) on the targets of the two environments.
_INSTANCES_SQL = """
WITH instance AS (
    SELECT s.name AS service, s.kind, e.name AS environment, t.name AS target,
        (SELECT r.id FROM dora_automationrun r
          WHERE r.service_id = s.id AND r.environment_id = t.environment_id
            AND r.target_id = t.id AND r.finished_at <= %(now)s
          ORDER BY r.finished_at DESC LIMIT 1) AS last_run,
        (SELECT r.id FROM dora_automationrun r
          WHERE r.service_id = s.id AND r.environment_id = t.environment_id
            AND r.target_id = t.id AND r.finished_at <= %(now)s
            AND (r.status = 'success' AND NOT (r.action = 'plan'))
          ORDER BY r.finished_at DESC LIMIT 1) AS last_reset,
        (SELECT r.id FROM dora_automationrun r
          WHERE r.service_id = s.id AND r.environment_id = t.environment_id
            AND r.target_id = t.id AND r.finished_at <= %(now)s
            AND r.drift_detected IS NOT NULL
          ORDER BY r.finished_at DESC LIMIT 1) AS last_drift
    FROM dora_service s
    CROSS JOIN dora_target t
    JOIN dora_environment e ON e.id = t.environment_id
    WHERE (s.id = %(service)s OR s.kind = 'infra')
      AND t.environment_id IN (%(source)s, %(destination)s)
)
SELECT i.service, i.kind, i.environment, i.target,
       reset.finished_at, reset.action, reset.version,
       drift.finished_at, drift.drift_detected
FROM instance i
LEFT JOIN dora_automationrun reset ON reset.id = i.last_reset
LEFT JOIN dora_automationrun drift ON drift.id = i.last_drift
WHERE i.last_run IS NOT NULL
ORDER BY i.environment, i.service, i.target
"""


def _automation_instances(
    service: Service, envs: tuple[Environment, Environment], now: datetime
) -> tuple[gates.AutomationInstance, ...]:
    with connection.cursor() as cursor:
        cursor.execute(
            _INSTANCES_SQL,
            {
                "now": connection.ops.adapt_datetimefield_value(now),
                "service": service.pk,
                "source": envs[0].pk,
                "destination": envs[1].pk,
            },
        )
        rows = cursor.fetchall()
    return tuple(
        gates.AutomationInstance(
            service=name,
            environment=environment,
            target=target,
            infra=kind == Service.Kind.INFRA,
            last_success_at=_aware(reset_at),
            last_success_action=action or "",
            version=version or "",
            version_at=_aware(reset_at),
            drift_checked_at=_aware(drift_at),
            drift_detected=None if drift is None else bool(drift),
        )
        for name, kind, environment, target, reset_at, action, version, drift_at, drift in rows
    )


def _aware(value: Any) -> datetime | None:
    """Raw SQL on SQLite returns naive UTC (datetime or text); PostgreSQL aware datetimes."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else parse_datetime(value)
    if parsed is not None and parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _open_incidents(
    service: Service, envs: tuple[Environment, Environment], now: datetime
) -> tuple[gates.OpenIncident, ...]:
    rows = (
        Incident.objects.filter(service=service, resolved_at__isnull=True, opened_at__lte=now)
        .filter(Q(environment__in=envs) | Q(environment__isnull=True))
        .order_by("opened_at", "id")
        .values_list("external_id", "severity", "environment__name", "opened_at", "title")
    )
    return tuple(
        gates.OpenIncident(
            id=external_id.removeprefix("incident:"),  # the event's own id
            severity=severity,
            environment=environment or "",
            opened_at=opened,
            title=title,
        )
        for external_id, severity, environment, opened, title in rows
    )


# ---------------------------------------------------------------------------------------------
# Policy: stored rules <-> dora.gates
# ---------------------------------------------------------------------------------------------


def policy_for(service: str, source: Environment, destination: Environment) -> gates.Policy:
    stored = GateSettings.objects.first()
    defaults = (
        gates.CheckSetting(
            min_soak=stored.min_soak,
            stale_after=stored.stale_after,
            severity=stored.severity or None,
            max_spread=stored.max_spread,
        )
        if stored
        else gates.CheckSetting()
    )
    rules = [
        gates.PolicyRule(
            service=rule.service,
            from_env=rule.from_env,
            to_env=rule.to_env,
            checks=checks_parse(rule.checks),
            position=rule.position,
        )
        for rule in GateRule.objects.filter(
            service__in=["", service],
            from_env__in=["", source.name],
            to_env__in=["", destination.name],
        )
    ]
    return gates.policy_resolve(
        rules,
        defaults=defaults,
        service=service,
        from_env=source.name,
        to_env=destination.name,
        source_stale_after=source.stale_after,
    )


def checks_parse(data: Any) -> dict[str, gates.CheckSetting]:
    """A stored rule's `checks` JSON (the config file's shape) as settings; ValueError names
    what is wrong, for the admin form."""
    if not isinstance(data, dict):
        raise ValueError("checks must be an object: check name -> block | warn | off | {...}")
    settings: dict[str, gates.CheckSetting] = {}
    for name, value in data.items():
        if name not in gates.CHECKS:
            raise ValueError(f"unknown check '{name}'; checks: {', '.join(gates.CHECKS)}")
        if isinstance(value, str) or value is None or isinstance(value, bool):
            settings[name] = gates.CheckSetting(mode=_mode(name, value))
            continue
        if not isinstance(value, dict):
            raise ValueError(f"{name}: expected block, warn, off or an object")
        allowed = ("mode", *gates.THRESHOLDS[name])
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise ValueError(f"{name}: unknown key {unknown[0]} (allowed: {', '.join(allowed)})")
        settings[name] = gates.CheckSetting(
            mode=_mode(name, value.get("mode")) if "mode" in value else None,
            min_soak=_duration(name, value, "min_soak", zero_ok=True),
            stale_after=_duration(name, value, "stale_after", zero_ok=False),
            severity=_severity(name, value.get("severity")),
            max_spread=_spread(name, value.get("max_spread")),
        )
    return settings


def _mode(name: str, value: Any) -> str | None:
    if value is False:
        return gates.OFF
    if value is True or value is None:
        return None
    if value not in gates.MODES:
        raise ValueError(f"{name}: mode {value!r} is not one of {', '.join(gates.MODES)}")
    return str(value)


def _duration(name: str, value: dict, key: str, *, zero_ok: bool) -> timedelta | None:
    if key not in value:
        return None
    try:
        parsed = duration_parse(value[key])
    except ValueError as exc:
        raise ValueError(f"{name}.{key}: {exc}") from None
    if not parsed and not zero_ok:
        raise ValueError(f"{name}.{key}: must be longer than zero")
    return parsed


def _severity(name: str, value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or gates.severity_rank(value) is None:
        raise ValueError(f"{name}.severity: {value!r} is not a severity (sev1..sev5, P1..P5)")
    return value


def _spread(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}.max_spread: {value!r} must be a whole number of at least 1")
    return value
