"""The reads rewritten so they grow with the estate and the window, not the history (issue 18,
point 5), against hand-worked answers: each service's first rollout in a tier of two
environments, the deploy pipelines as of a moment, and the automation runs that lag and
evidence read (the window's, and per instance the latest of each status before it, the latest
and the latest resetting success).
"""

from __future__ import annotations

from typing import Any

import pytest

from dora.config import config_apply, config_load
from dora.models import AutomationRun
from dora.reads import estate_reads, selectors
from dora.reads.page_reads import first_rollouts_by_service
from dora.reads.scope import scope_resolve
from tests.builders import at, deployment, when
from tests.integration.test_request_bounds import post_events

pytestmark = pytest.mark.django_db

ESTATE = """\
services:
  - name: shop
  - name: cart
  - name: beta
  - name: net
    kind: infra
environments:
  - name: staging
    tier: staging
  - name: prod-eu
    tier: production
  - name: prod-us
    tier: production
"""


def releases() -> None:
    """shop: staging at 0 h, prod-us at 10 h, prod-eu target a at 30 h and target b at 100 h;
    cart: staging at 5 h and a failed prod-us deployment at 20 h; beta: prod-eu b at 50 h."""
    config_apply(config_load(ESTATE))
    post_events(
        [
            deployment("s1", None, hours=0, environment="staging", version="v1"),
            deployment("u1", None, hours=10, environment="prod-us", version="v1"),
            deployment("e1", None, hours=30, environment="prod-eu", target="a", version="v1"),
            deployment("e2", None, hours=100, environment="prod-eu", target="b", version="v2"),
            deployment("c1", None, hours=5, service="cart", environment="staging", version="v1"),
            deployment(
                "c2",
                None,
                hours=20,
                service="cart",
                environment="prod-us",
                version="v1",
                status="failure",
            ),  # fmt: skip
            deployment(
                "b1",
                None,
                hours=50,
                service="beta",
                environment="prod-eu",
                target="b",
                version="v1",
            ),  # fmt: skip
        ]
    )


def test_first_rollouts_take_the_earliest_of_the_tiers_environments() -> None:
    releases()
    org, on_b = scope_resolve(), scope_resolve(target="b")

    # Production is prod-eu and prod-us: shop's first is prod-us at 10 h (before prod-eu at
    # 30 h), beta's prod-eu at 50 h; cart never reached production. On target b: shop's
    # rollout at 100 h, beta's at 50 h; the organisation's first on b is beta's.
    assert selectors.first_rollouts(org) == {"shop": when(10), "beta": when(50)}
    assert selectors.first_rollout_at(org) == when(10)
    assert selectors.first_rollouts(on_b) == {"shop": when(100), "beta": when(50)}
    assert selectors.first_rollout_at(on_b) == when(50)
    # The pages' per-service firsts ignore the target; staging is a tier of its own.
    assert first_rollouts_by_service(on_b) == {"shop": when(10), "beta": when(50)}
    assert selectors.first_rollouts(scope_resolve(tier="staging")) == {
        "shop": when(0),
        "cart": when(5),
    }
    assert selectors.first_rollout_at(scope_resolve(services=["cart"])) is None


def test_deploy_pipelines_are_the_pairs_with_a_success_before_the_moment() -> None:
    releases()

    frame = estate_reads.deploy_pipelines_frame(scope_resolve(), until=when(60))
    production = estate_reads.deploy_pipelines_frame(
        scope_resolve(tier="production"), until=when(60)
    )

    # Every environment (no tier named), as of 60 h: shop in staging (0 h), prod-us (10 h) and
    # on prod-eu a (30 h), cart in staging (5 h; its prod-us deployment failed), beta on
    # prod-eu b (50 h). shop on b deployed at 100 h, after the moment: no pipeline yet.
    rows = sorted(
        (r.service, r.environment, r.target, r.last_success_at)
        for r in frame.itertuples(index=False)
    )
    assert rows == [
        ("beta", "prod-eu", "b", when(50)),
        ("cart", "staging", "", when(5)),
        ("shop", "prod-eu", "a", when(30)),
        ("shop", "prod-us", "", when(10)),
        ("shop", "staging", "", when(0)),
    ]
    assert sorted(production["service"] + "/" + production["target"]) == [
        "beta/b",
        "shop/",
        "shop/a",
    ]


def run(ident: str, action: str, status: str, hours: float, env: str = "prod-eu") -> dict:
    return {
        "type": "automation_run",
        "id": ident,
        "service": "net",
        "environment": env,
        "action": action,
        "status": status,
        "finished_at": at(hours),
        "version": "1.0",
    }


def run_ids(**scope: Any) -> list[str]:
    frame = estate_reads.automation_runs_frame(
        scope_resolve(**scope), since=when(36), until=when(60)
    )
    return sorted(run_id.rsplit(":", 1)[-1] for run_id in frame["run_id"])


def test_automation_runs_are_the_window_and_each_instances_latest_before_it() -> None:
    config_apply(config_load(ESTATE))
    post_events(
        [
            run("p1", "plan", "success", 1),
            run("a2", "apply", "failure", 2),
            run("a3", "apply", "success", 3),
            run("a4", "apply", "cancelled", 4),
            run("p5", "plan", "success", 5),
            run("p40", "plan", "success", 40),
            run("p70", "plan", "success", 70),  # after the window: never read
            run("s1", "plan", "success", 1, env="staging"),
            run("s2", "plan", "success", 2, env="staging"),
        ]
    )
    # Window [36 h, 60 h). prod-eu: p40 in it (also the latest run); before it, the latest
    # success p5, failure a2 and cancelled a4; the latest resetting success a3 (p5 is a
    # plan). p1 is neither. staging: s2, its latest run and latest success; s1 is older.
    assert run_ids() == ["a2", "a3", "a4", "p40", "p5", "s2"]
    assert run_ids(tier="staging") == ["s2"]
    assert run_ids(tier="production", services=["net"]) == ["a2", "a3", "a4", "p40", "p5"]
    assert AutomationRun.objects.count() == 9  # p1, s1 and p70 are stored, only not read
