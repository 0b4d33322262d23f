"""The estate's reference objects (services, environments, targets), created on first sight,
and what intake does with an event naming a service nobody declared (DORA_UNKNOWN_SERVICES)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from dora.models import Environment, Service, Target, Tier

UNKNOWN_SERVICE_MODES = ("create", "warn", "reject")
# A rejection names at most this many known services (the closest names first): an estate of
# thousands would otherwise repeat its whole catalogue in every rejected item.
KNOWN_NAMES_SHOWN = 20

_TIER_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^(prod.*|live)$"), Tier.PRODUCTION),
    (re.compile(r"^(stag.*|preprod|pre-prod|uat)$"), Tier.STAGING),
    (re.compile(r"^(test|qa)$"), Tier.TEST),
    (re.compile(r"^(dev.*|sandbox)$"), Tier.DEVELOPMENT),
]
_DEFAULT_ORDER = {Tier.DEVELOPMENT: 1, Tier.TEST: 2, Tier.STAGING: 3, Tier.PRODUCTION: 4}


def tier_for_name(name: str) -> str:
    """CONTRACT §1: an environment's tier from its name (development when nothing matches)."""
    lowered = name.strip().lower()
    for pattern, tier in _TIER_PATTERNS:
        if pattern.match(lowered):
            return tier
    return Tier.DEVELOPMENT


@dataclass(frozen=True)
class FirstEvent:
    """The event that named a service first: kept on a service intake creates."""

    at: datetime
    type: str
    key: str
    sent_by: str


class EstateCache:
    """Services, environments and targets by name, created on first sight; one per intake batch."""

    def __init__(self) -> None:
        self.forget()
        self.first_events: dict[str, FirstEvent] = {}

    def forget(self) -> None:
        """Drop what was looked up (after a rollback, rows it created are gone)."""
        self.services: dict[str, Service] = {}
        self.environments: dict[str, Environment] = {}
        self.targets: dict[tuple[int, str], Target] = {}

    def service(self, name: str) -> Service:
        if name not in self.services:
            first = self.first_events.get(name)
            defaults = (
                {
                    "first_event_at": first.at,
                    "first_event_type": first.type,
                    "first_event_key": first.key[:600],
                    "first_event_sent_by": first.sent_by[:200],
                }
                if first is not None
                else {}
            )
            self.services[name], _ = Service.objects.get_or_create(name=name, defaults=defaults)
        return self.services[name]

    def environment(self, name: str) -> Environment:
        if name not in self.environments:
            tier = tier_for_name(name)
            self.environments[name], _ = Environment.objects.get_or_create(
                name=name, defaults={"tier": tier, "order": _DEFAULT_ORDER[Tier(tier)]}
            )
        return self.environments[name]

    def target(self, environment: Environment, name: str) -> Target:
        key = (environment.pk, name)
        if key not in self.targets:
            self.targets[key], _ = Target.objects.get_or_create(environment=environment, name=name)
        return self.targets[key]

    def prepare(
        self,
        *,
        services: set[str],
        environments: set[str],
        targets: set[tuple[str, str]],
        first_events: dict[str, FirstEvent] | None = None,
    ) -> None:
        """Look up (creating on first sight) these names in one fixed order: sorted. Two
        batches creating the same new names then insert them in the same order, and one waits
        for the other instead of the two deadlocking on each other's new rows.
        `first_events`: by service name, the event naming it first, kept on a service created."""
        self.first_events = first_events or {}
        for name in sorted(services):
            self.service(name)
        for name in sorted(environments | {env for env, _ in targets}):
            self.environment(name)
        for env, name in sorted(targets):
            self.target(self.environment(env), name)


def unknown_services_mode(setting: str | None = None) -> str:
    """create, warn or reject: the setting (DORA_UNKNOWN_SERVICES), or when it is unset,
    reject once a service has been declared (apply_config, the admin), else create."""
    mode = settings.DORA_UNKNOWN_SERVICES if setting is None else setting
    if mode:
        return mode
    return "reject" if Service.objects.filter(configured=True).exists() else "create"


class UnknownServices:
    """One intake call's answer to events naming services: rejected (reject, unknown), warned
    (a service without configuration, warn or reject), or nothing to say (create)."""

    def __init__(self, mode: str | None = None) -> None:
        self.explicit = bool(mode or settings.DORA_UNKNOWN_SERVICES)
        self.mode = unknown_services_mode(mode)
        if self.mode not in UNKNOWN_SERVICE_MODES:
            raise ValueError(f"unknown_services: {self.mode!r} is not one of create, warn, reject")
        self._known: list[str] | None = None

    def check(self, names: Iterable[str]) -> tuple[dict[str, str], dict[str, str]]:
        """For these service names: (rejection by name, warning by name)."""
        wanted = set(names)
        if self.mode == "create" or not wanted:
            return {}, {}
        stored = dict(Service.objects.filter(name__in=wanted).values_list("name", "configured"))
        rejections: dict[str, str] = {}
        warnings: dict[str, str] = {}
        for name in sorted(wanted):
            configured = stored.get(name)
            if configured is None and self.mode == "reject":
                rejections[name] = self._rejection(name)
            elif not configured:
                created = "created by intake" if configured is not None else "created now"
                warnings[name] = (
                    f"service {name!r} has no configuration: {created} "
                    f"(DORA_UNKNOWN_SERVICES={self.mode}); declare it under services: "
                    "(apply_config) or in the admin if it is real, or correct the name (the admin "
                    "lists services without configuration)"
                )
        return rejections, warnings

    def _rejection(self, name: str) -> str:
        if self._known is None:
            self._known = list(Service.objects.order_by("name").values_list("name", flat=True))
        known = self._known
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
        shown = close + [n for n in known if n not in close][: KNOWN_NAMES_SHOWN - len(close)]
        listed = ", ".join(shown) if shown else "none"
        if len(known) > len(shown):
            listed += f" … ({len(known)} in all; the admin lists them)"
        why = (
            f"DORA_UNKNOWN_SERVICES={self.mode}"
            if self.explicit
            else "DORA_UNKNOWN_SERVICES is unset and apply_config has declared services"
        )
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return (
            f"service: {name!r} is not a known service ({why}, so events create none){hint} "
            f"Known services: {listed}. Declare it under services: (apply_config) or in the "
            "admin, then send the event again."
        )
