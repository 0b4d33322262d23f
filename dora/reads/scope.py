"""What a read covers: a Scope (teams, services, tier) resolved from a request; its SQL filters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db.models import (
    Exists,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
)

from dora.metrics.levels import DEFAULT_INDUSTRY
from dora.models import (
    Deployment,
    OrganisationSettings,
    Service,
    Target,
    Team,
    Tier,
)


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


def scope_repos(scope: Scope) -> list[str]:
    """The repositories of the scope's services, sorted; one query."""
    services = Service.objects.filter(_service_q(scope, prefix=""))
    return sorted(
        {repo for repos in services.values_list("repos", flat=True) for repo in (repos or [])}
    )


def _estate_tier_q(scope: Scope, prefix: str = "environment__") -> Q:
    """Automation lag's environments: the scope's tier when it was named, else every one."""
    return _tier_q(scope, prefix) if scope.tier_named else Q()
