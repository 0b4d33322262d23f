"""Figures the full report counts in SQL instead of reading their rows: the same counts as the
pandas definition on the rows (dora.metrics), on a hand-worked history and on random ones."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from dora.metrics.failure import deploy_failure_rate
from dora.models import Deployment, Environment, Service, Target, Team
from dora.reads import selectors
from dora.reads.report import MetricsComputation
from dora.reads.report_query import MetricsQuery
from dora.reads.scope import scope_resolve

pytestmark = pytest.mark.django_db

SINCE = datetime(2026, 9, 1, tzinfo=UTC)
UNTIL = datetime(2026, 10, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def estate() -> tuple[dict[str, Service], dict[str, Target]]:
    team = Team.objects.create(name="payments")
    production = Environment.objects.create(name="production", tier="production", order=2)
    staging = Environment.objects.create(name="staging", tier="staging", order=1)
    services = {
        name: Service.objects.create(name=name, team=team if name != "search" else None)
        for name in ("shop", "cart", "search")
    }
    targets = {
        "eu": Target.objects.create(environment=production, name="eu"),
        "us": Target.objects.create(environment=production, name="us"),
        "stage": Target.objects.create(environment=staging, name="stage"),
    }
    return services, targets


def deploy(name: str, service: Service, target: Target, status: str, finished_at) -> None:
    Deployment.objects.create(
        source="aggregates",
        external_id=name,
        service=service,
        environment=target.environment,
        target=target,
        status=status,
        finished_at=finished_at,
    )


def counted(scope, since=SINCE, until=UNTIL) -> tuple[int, int]:
    """(failed, attempts) by the pandas definition on the rows."""
    figure = deploy_failure_rate(
        selectors.deployments_frame(scope, since=since, until=until), since=since, until=until
    )
    return figure.failed, figure.attempts


def test_deploy_attempts_counted_in_sql_by_hand() -> None:
    services, targets = estate()
    shop, cart = services["shop"], services["cart"]
    eu, us, stage = targets["eu"], targets["us"], targets["stage"]
    deploy("a", shop, eu, "success", SINCE)  # the window's first moment: in
    deploy("b", shop, eu, "failure", SINCE + HOUR)
    deploy("c", shop, us, "failure", UNTIL - HOUR)
    deploy("d", shop, us, "success", UNTIL)  # the window's end: out
    deploy("e", shop, eu, "cancelled", SINCE + 2 * HOUR)  # neither
    deploy("f", shop, eu, "running", None)  # not finished
    deploy("g", cart, eu, "success", SINCE + 3 * HOUR)
    deploy("h", shop, stage, "failure", SINCE + 4 * HOUR)  # staging
    deploy("i", cart, us, "failure", SINCE - HOUR)  # before the window

    production = scope_resolve()
    # a, b, c, g are production attempts in the window; b and c failed.
    assert selectors.deploy_attempt_counts(production, since=SINCE, until=UNTIL) == (2, 4)
    assert counted(production) == (2, 4)
    on_us = scope_resolve(target="us")
    assert selectors.deploy_attempt_counts(on_us, since=SINCE, until=UNTIL) == (1, 1)
    staging = scope_resolve(tier="staging")
    assert selectors.deploy_attempt_counts(staging, since=SINCE, until=UNTIL) == (1, 1)
    cart_only = scope_resolve(services=["cart"])
    assert selectors.deploy_attempt_counts(cart_only, since=SINCE, until=UNTIL) == (0, 1)

    # The full report counts in SQL (no items); the figure is the one computed on the rows.
    query = MetricsQuery(scope=production, since=SINCE, until=UNTIL)
    full = MetricsComputation(query, now=UNTIL)
    full.deployment_attempt_counts  # noqa: B018 - read as the report's prefetch reads it
    rows = MetricsComputation(query, now=UNTIL)
    assert full.deploy_failure.as_dict() == rows.deploy_failure.as_dict()
    assert full.deploy_failure.as_dict() == {"failed": 2, "attempts": 4, "rate": 0.5}
    assert full.deploy_failure.ci95 == rows.deploy_failure.ci95
    assert len(rows.deploy_failure.items) == 4


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_deploy_attempts_counted_in_sql_equal_the_rows_on_random_histories(seed: int) -> None:
    rng = random.Random(seed)
    services, targets = estate()
    statuses = ["success"] * 6 + ["failure"] * 2 + ["cancelled", "running"]
    for number in range(300):
        moment = SINCE + timedelta(hours=rng.uniform(-24 * 10, 24 * 40))
        if rng.random() < 0.05:
            moment = rng.choice([SINCE, UNTIL])  # the bounds exactly
        status = rng.choice(statuses)
        deploy(
            f"r{number}",
            services[rng.choice(list(services))],
            targets[rng.choice(list(targets))],
            status,
            None if status == "running" and rng.random() < 0.5 else moment,
        )
    scopes = [
        scope_resolve(),
        scope_resolve(tier="staging"),
        scope_resolve(team="payments"),
        scope_resolve(services=["search"]),
        scope_resolve(target="eu"),
    ]
    windows = [(SINCE, UNTIL), (SINCE - timedelta(days=7), SINCE + timedelta(days=3))]
    attempts = 0
    for scope in scopes:
        for since, until in windows:
            found = selectors.deploy_attempt_counts(scope, since=since, until=until)
            assert found == counted(scope, since, until), (scope, since)
            attempts += found[1]
    assert attempts > 100
