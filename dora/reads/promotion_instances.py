"""The promotion gate's automation instances: each instance of the two environments as intake
keeps it (dora.instances), or as of `now` from its runs, in a fixed handful of statements.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dora import gates
from dora.models import (
    Service,
)
from dora.prepared import aware, prepared_rows

_INSTANCES_SQL = """
SELECT s.name, s.kind, e.name, t.name,
       i.last_reset_at, i.last_reset_action, i.last_reset_version,
       i.drift_checked_at, i.drift_detected, i.last_run_at
FROM dora_automationinstance i
JOIN dora_service s ON s.id = i.service_id
JOIN dora_environment e ON e.id = i.environment_id
JOIN dora_target t ON t.id = i.target_id
WHERE i.environment_id IN (%(source)s, %(destination)s)
  AND (i.service_id = %(service)s OR s.kind = 'infra')
"""
# Every instance of the two environments, with its service's id: what a process keeps
# (`_automation_instances`).
_PAIR_INSTANCES_SQL = """
SELECT s.name, s.kind, e.name, t.name,
       i.last_reset_at, i.last_reset_action, i.last_reset_version,
       i.drift_checked_at, i.drift_detected, i.last_run_at, i.service_id
FROM dora_automationinstance i
JOIN dora_service s ON s.id = i.service_id
JOIN dora_environment e ON e.id = i.environment_id
JOIN dora_target t ON t.id = i.target_id
WHERE i.environment_id IN (%(source)s, %(destination)s)
"""

# The same from the runs themselves, as of `now`. One index probe per instance and question
# (automationrun_instance_idx, _reset_idx, _drift_idx).
_INSTANCES_PROBED_SQL = """
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
       reset.finished_at, reset.action, reset.version, drift.finished_at, drift.drift_detected
FROM instance i
LEFT JOIN dora_automationrun reset ON reset.id = i.last_reset
LEFT JOIN dora_automationrun drift ON drift.id = i.last_drift
WHERE i.last_run IS NOT NULL
ORDER BY i.environment, i.service, i.target
"""


CLOCK_SKEW = timedelta(minutes=10)

Row = tuple[Any, ...]


@dataclass(frozen=True)
class _Kept:
    fingerprint: str
    infra: tuple[gates.AutomationInstance, ...]  # in _instances_built's order
    infra_latest_run_at: datetime | None
    own: dict[int, list[Row]]  # the other services' instance rows, by service id


# Per process: (source id, destination id) -> the instances there.
_KEPT: dict[tuple[int, int], _Kept] = {}


def _automation_instances(
    at: dict[str, Any], *, service_name: str = "", fingerprint: str | None = None
) -> tuple[gates.AutomationInstance, ...]:
    """The service's and the infra stacks' instances in the two environments.

    With a `fingerprint` (PostgreSQL; read with the names, `_FINGERPRINT_SQL`) every instance of
    the two environments is kept per process and read again only when it changes: every request
    asks about the same infra stacks (143 on the bench estate), which cost a third of a decision
    when read and built each time, and most services have no instances of their own."""
    key = (at["source"], at["destination"])
    kept = _KEPT.get(key) if fingerprint is not None else None
    if kept is not None and kept.fingerprint == fingerprint:
        # the name the request found: the kept rows may carry one edited since
        own = [(service_name, *row[1:]) for row in kept.own.get(at["service"], ())]
    elif fingerprint is None:
        rows = prepared_rows(
            _INSTANCES_SQL, {k: at[k] for k in ("service", "source", "destination")}
        )
        kept = _kept(rows, "")
        own = [row for row in rows if row[1] != Service.Kind.INFRA]
    else:
        rows = prepared_rows(_PAIR_INSTANCES_SQL, {"source": key[0], "destination": key[1]})
        kept = _kept(rows, fingerprint)
        if len(_KEPT) > 64:  # environment pairs: a handful
            _KEPT.clear()
        _KEPT[key] = kept
        own = [row for row in rows if row[1] != Service.Kind.INFRA and row[10] == at["service"]]
    # Probe the runs themselves when the kept rows cannot answer: none kept (runs loaded around
    # intake, or there are none and the probe finds nothing either), or a question about a
    # moment before an instance's latest run (a decision replayed in the past). A run reported
    # up to CLOCK_SKEW after `now` is a runner's clock running ahead, not the future.
    latest = at["now"] + CLOCK_SKEW
    if (
        (not own and not kept.infra)
        or (kept.infra_latest_run_at is not None and kept.infra_latest_run_at > latest)
        or any(aware(row[9]) > latest for row in own)  # type: ignore[operator]
    ):
        return _instances_built(prepared_rows(_INSTANCES_PROBED_SQL, at))
    if not own:
        return kept.infra
    return tuple(sorted((*kept.infra, *_instances_built(own)), key=_instance_order))


def _kept(rows: list[Row], fingerprint: str) -> _Kept:
    infra = [row for row in rows if row[1] == Service.Kind.INFRA]
    own: dict[int, list[Row]] = {}
    for row in rows:
        if row[1] != Service.Kind.INFRA and len(row) > 10:
            own.setdefault(row[10], []).append(row)
    return _Kept(
        fingerprint=fingerprint,
        infra=_instances_built(infra),
        infra_latest_run_at=max((aware(row[9]) for row in infra), default=None),  # type: ignore[type-var]
        own=own,
    )


def _instance_order(instance: gates.AutomationInstance) -> tuple[str, str, str]:
    return instance.environment, instance.service, instance.target


def _instances_built(rows: list[Row]) -> tuple[gates.AutomationInstance, ...]:
    """Instance rows (of _INSTANCES_SQL's or _INSTANCES_PROBED_SQL's shape) as the gate's facts,
    by environment, service and target."""
    return tuple(sorted(map(_instance, rows), key=_instance_order))


def _instance(row: Row) -> gates.AutomationInstance:
    name, kind, environment, target, reset_at, action, version, drift_at, drift = row[:9]
    return gates.AutomationInstance(
        service=name,
        environment=environment,
        target=target,
        infra=kind == Service.Kind.INFRA,
        last_success_at=aware(reset_at),
        last_success_action=action or "",
        version=version or "",
        drift_checked_at=aware(drift_at),
        drift_detected=None if drift is None else bool(drift),
    )
