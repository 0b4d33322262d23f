"""`alerts_evaluate`: every provider's active conditions against the AlertState rows.

A condition new (or back after it cleared) fires: its state turns active and a `fired` delivery
is queued for each enabled channel of its team. One still active does nothing; one gone clears:
its state turns inactive and one `cleared` delivery goes to each channel. A condition marked
`once` (a blocked promotion: its key names the decision) fires once and is cleared at once,
without a message; its state keeps it from firing again.

Only teams with an enabled channel are evaluated: a team without one records nothing, so the
channel it adds later hears of the conditions active then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils.module_loading import import_string

from dora.models import AlertChannel, AlertDelivery, AlertState, Team

log = logging.getLogger(__name__)

# Serialises evaluations (beat and the gate's trigger may overlap): two would both insert the
# state of a new condition. A transaction-level PostgreSQL advisory lock, released at commit.
_EVALUATE_LOCK = 0x0D0A_A1E7


@dataclass(frozen=True)
class Condition:
    """One alerting condition of a team, as a provider finds it now.

    key: stable while the condition lasts, unique within the team, starting with the provider's
    kind (`stale:shop@production`). link: a dashboard path (made absolute with DORA_BASE_URL).
    once: an event, not a state (fires once, never clears with a message).
    """

    key: str
    team: str
    title: str
    detail: str = ""
    link: str = ""
    once: bool = False

    @property
    def kind(self) -> str:
        return self.key.partition(":")[0]


@dataclass
class AlertContext:
    """What every provider of one evaluation shares: the clock, the teams evaluated (those
    with an enabled channel) and, computed once, the estate."""

    now: datetime
    teams: tuple[str, ...] = field(default=())

    @cached_property
    def estate(self) -> list[Any]:
        from dora.alerts.providers import estate_cells  # the metrics engine, loaded on use

        return estate_cells(self.now, teams=self.teams)


Provider = Callable[[AlertContext], Iterable[Condition]]


@dataclass(frozen=True)
class Evaluation:
    fired: tuple[str, ...] = ()  # team/key of conditions that fired
    cleared: tuple[str, ...] = ()
    failed_providers: tuple[str, ...] = ()
    deliveries: tuple[int, ...] = ()  # queued (pending) AlertDelivery ids


def alert_provider(kind: str) -> Callable[[Provider], Provider]:
    """Mark a function as the provider of one kind of condition (the prefix of its keys)."""

    def mark(function: Provider) -> Provider:
        function.kind = kind  # type: ignore[attr-defined]
        return function

    return mark


def provider_kind(provider: Provider) -> str:
    return str(getattr(provider, "kind", getattr(provider, "__name__", "")))


def alert_providers(paths: Sequence[str] | None = None) -> dict[str, Provider]:
    """The providers by dotted path (DORA_ALERT_PROVIDERS unless given)."""
    chosen = settings.DORA_ALERT_PROVIDERS if paths is None else paths
    return {path: import_string(path) for path in chosen}


def alerts_evaluate(
    *,
    now: datetime,
    providers: Sequence[str] | None = None,
    enqueue: Callable[[Sequence[int]], None] | None = None,
) -> Evaluation:
    """Evaluate the providers at `now` and fire or clear conditions (module docstring).

    A provider that raises is logged and skipped: its conditions are neither fired nor cleared
    (a broken read must not look like every condition ending). Only the kinds of the providers
    that answered are cleared. `enqueue` receives the new deliveries' ids after the commit.
    """
    listening = Team.objects.filter(alert_channels__enabled=True).distinct().order_by("name")
    context = AlertContext(now=now, teams=tuple(listening.values_list("name", flat=True)))
    found: dict[str, Condition] = {}
    answered: set[str] = set()
    failed: list[str] = []
    for path, provider in alert_providers(providers).items():
        try:
            conditions = list(provider(context))
        except Exception:
            log.exception("alert provider %s failed; its conditions are left as they were", path)
            failed.append(path)
            continue
        kind = provider_kind(provider)
        answered.add(kind)
        for condition in conditions:
            if condition.kind != kind:
                log.error("alert provider %s: key %r is not %s:...", path, condition.key, kind)
                continue
            if condition.team in context.teams:
                found.setdefault(f"{condition.team}\0{condition.key}", condition)
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_EVALUATE_LOCK])
        result = _states_update(found, answered, now=now)
        if enqueue is not None and result.deliveries:
            ids = list(result.deliveries)
            transaction.on_commit(lambda: enqueue(ids), robust=True)
    return Evaluation(
        fired=result.fired,
        cleared=result.cleared,
        failed_providers=tuple(failed),
        deliveries=result.deliveries,
    )


def _states_update(found: dict[str, Condition], answered: set[str], *, now: datetime) -> Evaluation:
    teams = Team.objects.in_bulk({c.team for c in found.values()}, field_name="name")
    channels: dict[int, list[AlertChannel]] = {}
    for channel in AlertChannel.objects.filter(enabled=True):
        channels.setdefault(channel.team_id, []).append(channel)
    states = {
        (s.team_id, s.key): s
        for s in AlertState.objects.select_related("team").filter(kind__in=sorted(answered))
    }
    seen: set[tuple[int, str]] = set()
    still: list[AlertState] = []
    fired: list[str] = []
    cleared: list[str] = []
    deliveries: list[AlertDelivery] = []
    for condition in found.values():
        team = teams.get(condition.team)
        if team is None:
            continue  # a provider naming a team that is gone
        ident = (team.pk, condition.key)
        seen.add(ident)
        state = states.get(ident)
        if state is not None and state.active:  # fired already: its texts kept current
            state.title, state.detail, state.link = _texts(condition)
            state.last_seen_at = now
            still.append(state)
            continue
        if state is not None and condition.once:
            continue  # an event fires once
        # An event is recorded as cleared at once (no "resolved" message ever follows).
        cleared_at = now if condition.once else None
        if state is None:
            title, detail, link = _texts(condition)
            state = AlertState.objects.create(
                team=team,
                key=condition.key,
                kind=condition.kind,
                title=title,
                detail=detail,
                link=link,
                active=not condition.once,
                first_fired_at=now,
                fired_at=now,
                last_seen_at=now,
                cleared_at=cleared_at,
            )
        else:
            state.title, state.detail, state.link = _texts(condition)
            state.active, state.fired_at, state.last_seen_at = True, now, now
            state.cleared_at = None
            state.fired_count += 1
            state.save()
        fired.append(f"{team.name}/{condition.key}")
        deliveries += _deliveries(state, channels.get(team.pk, []), AlertDelivery.Event.FIRED, now)
    AlertState.objects.bulk_update(still, ["title", "detail", "link", "last_seen_at"])
    for ident, state in states.items():
        if ident in seen or not state.active:
            continue
        state.active, state.cleared_at = False, now
        state.save(update_fields=["active", "cleared_at"])
        cleared.append(f"{state.team.name}/{state.key}")
        deliveries += _deliveries(
            state, channels.get(state.team_id, []), AlertDelivery.Event.CLEARED, now
        )
    AlertDelivery.objects.bulk_create(deliveries)
    return Evaluation(
        fired=tuple(fired), cleared=tuple(cleared), deliveries=tuple(d.pk for d in deliveries)
    )


def _texts(condition: Condition) -> tuple[str, str, str]:
    """The condition's title, detail and link, cut to what AlertState holds."""
    return condition.title[:500], condition.detail, condition.link[:1000]


def alert_payload(state: AlertState, event: str, *, now: datetime) -> dict[str, Any]:
    """The alert as the generic JSON webhook receives it (CONTRACT §6, "Added (alerts")."""
    link = state.link
    if link and not link.startswith(("http://", "https://")):
        link = f"{settings.DORA_BASE_URL}{link}"
    return {
        "schema": "dora.alert/1",
        "event": event,
        "team": state.team.name,
        "key": state.key,
        "kind": state.kind,
        "title": state.title,
        "detail": state.detail,
        "url": link or None,
        "fired_at": _iso(state.fired_at),
        "cleared_at": _iso(state.cleared_at) if event == AlertDelivery.Event.CLEARED else None,
        "at": _iso(now),
    }


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


def _deliveries(
    state: AlertState, channels: Sequence[AlertChannel], event: str, now: datetime
) -> list[AlertDelivery]:
    payload = alert_payload(state, event, now=now)
    return [
        AlertDelivery(
            state=state,
            channel=channel,
            event=event,
            created_at=now,
            next_attempt_at=now,
            payload=payload,
        )
        for channel in channels
    ]
