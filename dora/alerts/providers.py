"""The estate's and the gate's alert conditions: stale environments, version spread over its
limit, blocked promotions. Each provider returns the conditions active at `context.now`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.urls import reverse

from dora import gates
from dora.alerts.evaluate import AlertContext, Condition, alert_provider
from dora.models import GateDecision, GateRule, GateSettings, Service
from dora.reads import estate_matrix as em
from dora.reads.promotion_policy import checks_parse
from dora.reads.scope import Scope

SPREAD_CHECK = "target_rollout_complete"


@dataclass(frozen=True)
class EstateCell:
    """One service x environment cell of the estate matrix, with the service's team."""

    service: str
    team: str
    cell: em.Cell


def estate_cells(now: datetime, *, teams: Sequence[str]) -> list[EstateCell]:
    """The estate matrix at `now` of the services of `teams` (the dashboard's cells:
    dora.reads.estate_matrix grades staleness and counts the spread the same way)."""
    services = list(
        Service.objects.filter(team__name__in=list(teams))
        .values("name", "kind", "team__name")
        .order_by("name")
    )
    if not services:
        return []
    environments = em.environments_ordered()
    since = now - timedelta(days=1)  # the spread and the lag are read at `until`
    computations = em.estate_computations(
        Scope(), em.tiers_of(environments), since=since, until=now, now=now
    )
    matrix = em.estate_matrix(services, environments, computations, since=since, until=now)
    return [
        EstateCell(service=row.name, team=str(row.team), cell=cell)
        for row in matrix.rows
        for cell in row.cells
    ]


def _service_link(service: str) -> str:
    return f"{reverse('dashboard-service')}?{urlencode({'service': service})}"


@alert_provider("stale")
def stale_environments(context: AlertContext) -> Iterator[Condition]:
    """A service's environment whose age (automation lag, else its newest version's) passed
    the environment's `stale_after`: the estate matrix's red cells."""
    for item in context.estate:
        if item.cell.state != "stale":
            continue
        env = item.cell.environment
        yield Condition(
            key=f"stale:{item.service}@{env}",
            team=item.team,
            title=f"{item.service} in {env} is stale",
            detail=item.cell.reason,
            link=_service_link(item.service),
        )


def spread_limits() -> tuple[gates.CheckSetting, list[gates.PolicyRule]]:
    """The gate's defaults and rules (the stored `gates:` section) as dora.gates reads them."""
    stored = GateSettings.objects.first()
    defaults = gates.CheckSetting(max_spread=stored.max_spread if stored else None)
    rules = [
        gates.PolicyRule(
            service=rule.service,
            from_env=rule.from_env,
            to_env=rule.to_env,
            checks=checks_parse(rule.checks),
            position=rule.position,
        )
        for rule in GateRule.objects.all()
    ]
    return defaults, rules


@alert_provider("spread")
def spread_over_limit(context: AlertContext) -> Iterator[Condition]:
    """More versions live across a service's targets in an environment than the gate allows
    into it (`target_rollout_complete`'s max_spread, from rules naming no `from`); none when
    that check is off there."""
    defaults, rules = spread_limits()
    for item in context.estate:
        cell = item.cell
        if cell.spread <= 1:
            continue  # never above a limit (limits are at least 1)
        policy = gates.policy_resolve(
            rules, defaults=defaults, service=item.service, from_env="", to_env=cell.environment
        )[SPREAD_CHECK]
        if policy.mode == "off" or cell.spread <= policy.max_spread:
            continue
        yield Condition(
            key=f"spread:{item.service}@{cell.environment}",
            team=item.team,
            title=f"{item.service} in {cell.environment}: {cell.spread} versions live",
            detail=(
                f"{cell.spread_text}, more than the limit of {policy.max_spread} "
                f"({', '.join(cell.versions)})"
            ),
            link=_service_link(item.service),
        )


@alert_provider("gate")
def gate_blocks(context: AlertContext) -> Iterator[Condition]:
    """Each promotion the gate blocked within DORA_ALERT_GATE_BLOCK_WINDOW_SECONDS of `now`,
    for its service's team: an event, fired once per decision."""
    since = context.now - timedelta(seconds=settings.DORA_ALERT_GATE_BLOCK_WINDOW_SECONDS)
    teams = dict(
        Service.objects.filter(team__name__in=context.teams).values_list("name", "team__name")
    )
    decisions = GateDecision.objects.filter(
        allowed=False,
        evaluated_at__gte=since,
        evaluated_at__lte=context.now,
        service__in=list(teams),
    ).order_by("evaluated_at")
    for decision in decisions:
        blocking = [
            f"{check.get('name')}: {check.get('detail')}"
            for check in decision.checks
            if isinstance(check, dict)
            and not check.get("passed")
            and check.get("severity") == "block"
        ]
        who = f" for {decision.requested_by}" if decision.requested_by else ""
        yield Condition(
            key=f"gate:{decision.pk}",
            team=teams[decision.service],
            title=(
                f"Promotion of {decision.service} {decision.version} "
                f"{decision.from_env} → {decision.to_env} blocked"
            ),
            detail=f"Blocked{who}. " + "; ".join(blocking),
            link=reverse("dashboard-gate-decision", args=[decision.pk]),
            once=True,
        )
