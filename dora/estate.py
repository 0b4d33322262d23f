"""The estate's reference objects (services, environments, targets), created on first sight."""

from __future__ import annotations

import re

from dora.models import Environment, Service, Target, Tier

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


class EstateCache:
    """Services, environments and targets by name, created on first sight; one per intake batch."""

    def __init__(self) -> None:
        self.forget()

    def forget(self) -> None:
        """Drop what was looked up (after a rollback, rows it created are gone)."""
        self.services: dict[str, Service] = {}
        self.environments: dict[str, Environment] = {}
        self.targets: dict[tuple[int, str], Target] = {}

    def service(self, name: str) -> Service:
        if name not in self.services:
            self.services[name], _ = Service.objects.get_or_create(name=name)
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
    ) -> None:
        """Look up (creating on first sight) these names in one fixed order: sorted. Two
        batches creating the same new names then insert them in the same order, and one waits
        for the other instead of the two deadlocking on each other's new rows."""
        for name in sorted(services):
            self.service(name)
        for name in sorted(environments | {env for env, _ in targets}):
            self.environment(name)
        for env, name in sorted(targets):
            self.target(self.environment(env), name)
