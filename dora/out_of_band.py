"""Reads of out-of-band changes (CONTRACT §1 `out_of_band_change`): which are still open, the
frame behind the `out_of_band_changes` figure, and the drifted instances they make.

A change is open at `now` until a successful apply or deploy automation run, or a successful
deployment, of its service in its environment finishes after it (on its target, or on the whole
environment; a change naming no target is closed by one on any target). Few rows: read when
asked, from the record and the two indexed tables after it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pandas as pd
from django.db import connection

from dora import gates
from dora.models import AutomationInstance, OutOfBandChange
from dora.reads.scope import Scope

# The runs that undo a change made by hand: the pipeline applying or deploying its own state.
CLOSING_ACTIONS = ("apply", "deploy")

# Whether change `o` (its target `t`) is still open at %(now)s: no successful apply or deploy
# run, and no successful deployment, of its service in its environment finished after it, on
# its target or environment-wide (a change naming no target: on any target). The gate reads it
# in its own query (dora.reads.promotion), the pages below.
OPEN_CONDITION = """NOT EXISTS (
    SELECT 1 FROM dora_automationrun r JOIN dora_target rt ON rt.id = r.target_id
    WHERE r.service_id = o.service_id AND r.environment_id = o.environment_id
      AND (t.name = '' OR rt.name = '' OR r.target_id = o.target_id)
      AND r.status = 'success' AND r.action IN ('apply', 'deploy')
      AND r.finished_at > o.changed_at AND r.finished_at <= %(now)s)
  AND NOT EXISTS (
    SELECT 1 FROM dora_deployment d JOIN dora_target dt ON dt.id = d.target_id
    WHERE d.service_id = o.service_id AND d.environment_id = o.environment_id
      AND (t.name = '' OR dt.name = '' OR d.target_id = o.target_id)
      AND d.status = 'success'
      AND d.finished_at > o.changed_at AND d.finished_at <= %(now)s)"""

_OPEN_SQL = (
    """
SELECT s.name, s.kind, e.name, t.name, o.changed_at, o.actor, o.what, o.source,
       o.external_id
FROM dora_outofbandchange o
JOIN dora_service s ON s.id = o.service_id
JOIN dora_environment e ON e.id = o.environment_id
JOIN dora_target t ON t.id = o.target_id
WHERE o.changed_at <= %(now)s {where}
  AND """
    + OPEN_CONDITION
    + """
ORDER BY o.changed_at, o.id
"""
)


def out_of_band_open(
    *,
    now: datetime,
    environment_ids: Iterable[int] | None = None,
    services: Iterable[str] | None = None,
    team: str | None = None,
) -> list[gates.OutOfBandChange]:
    """The changes open at `now` (made at or before it, not undone by an apply or deployment
    after them), oldest first; in the environments / of the services named, when named."""
    where, params = [], {"now": now}
    if environment_ids is not None:
        params["envs"] = sorted(set(environment_ids))
        where.append("o.environment_id = ANY(%(envs)s)")
    if services is not None:
        params["services"] = sorted(set(services))
        where.append("s.name = ANY(%(services)s)")
    if team:
        params["team"] = team
        where.append("s.team_id IN (SELECT id FROM dora_team WHERE name = %(team)s)")
    sql = _OPEN_SQL.format(where="".join(f" AND {w}" for w in where))
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return [_change(row) for row in rows]


def _change(row: tuple[Any, ...]) -> gates.OutOfBandChange:
    service, kind, environment, target, changed_at, actor, what, source, external_id = row
    return gates.OutOfBandChange(
        service=service,
        environment=environment,
        target=target,
        infra=kind == "infra",
        changed_at=changed_at,
        actor=actor,
        what=what,
        source=source,
        id=external_id.removeprefix("out_of_band_change:"),
    )


def out_of_band_frame(scope: Scope, *, since: datetime, until: datetime) -> pd.DataFrame:
    """The changes made in [since, until) in the scope (its tier when it names one; every
    environment otherwise), one row each: service, environment, target, changed_at, actor,
    what, source."""
    rows = OutOfBandChange.objects.filter(changed_at__gte=since, changed_at__lt=until)
    if scope.services:
        rows = rows.filter(service__name__in=scope.services)
    if scope.team:
        rows = rows.filter(service__team__name=scope.team)
    if scope.tier_named and scope.tier:
        rows = rows.filter(environment__tier=scope.tier)
    if scope.target:
        rows = rows.filter(target__name=scope.target)
    columns = [
        "service",
        "environment",
        "target",
        "changed_at",
        "actor",
        "what",
        "source",
        "external_id",
    ]
    values = rows.order_by("changed_at", "id").values_list(
        "service__name",
        "environment__name",
        "target__name",
        "changed_at",
        "actor",
        "what",
        "source",
        "external_id",
    )
    return pd.DataFrame(list(values), columns=columns)


def drifted_instances(
    changes: Iterable[gates.OutOfBandChange],
) -> dict[tuple[str, str], set[str]]:
    """Per (service, environment): the targets of the automation instances the open `changes`
    drift: those of the change's target (every target of the service there when it names
    none); a change where the service has no instance drifts its own target."""
    changes = list(changes)
    if not changes:
        return {}
    pairs = {(c.service, c.environment) for c in changes}
    targets: dict[tuple[str, str], set[str]] = {}
    for service, environment, target in AutomationInstance.objects.filter(
        service__name__in={p[0] for p in pairs}, environment__name__in={p[1] for p in pairs}
    ).values_list("service__name", "environment__name", "target__name"):
        targets.setdefault((service, environment), set()).add(target)
    drifted: dict[tuple[str, str], set[str]] = {}
    for c in changes:
        key = (c.service, c.environment)
        known = targets.get(key, set())
        # A change naming no target touched every target; one naming a target touched it and
        # the environment-wide instance (runs naming no target), when there is one.
        hit = (known or {""}) if not c.target else {c.target} | ({""} & known)
        drifted.setdefault(key, set()).update(hit)
    return drifted


_SERVICE_SQL = (
    """
SELECT o.changed_at, e.name, t.name, o.actor, o.what, o.source, ("""
    + OPEN_CONDITION
    + """) AS still_open
FROM dora_outofbandchange o
JOIN dora_service s ON s.id = o.service_id
JOIN dora_environment e ON e.id = o.environment_id
JOIN dora_target t ON t.id = o.target_id
WHERE s.name = %(service)s AND o.changed_at >= %(since)s AND o.changed_at < %(until)s
ORDER BY o.changed_at DESC, o.id DESC
LIMIT %(limit)s
"""
)


def service_out_of_band(
    name: str, *, since: datetime, until: datetime, now: datetime, limit: int = 20
) -> list[dict[str, Any]]:
    """The service's page list: its changes made outside the pipeline in [since, until) in
    every environment, newest first (at most `limit`), each with `open`: not undone yet at
    `now` by an apply or deployment there, so its instances read drifted. One query."""
    params = {"service": name, "since": since, "until": until, "now": now, "limit": limit}
    with connection.cursor() as cursor:
        cursor.execute(_SERVICE_SQL, params)
        rows = cursor.fetchall()
    keys = ("changed_at", "environment", "target", "actor", "what", "source", "open")
    return [dict(zip(keys, row, strict=True)) for row in rows]
