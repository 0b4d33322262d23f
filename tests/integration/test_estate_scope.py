"""Issue 14, problems 3-5, through the public entry points: apply_config, POST /api/v1/events,
POST /api/v1/gates/promotion, GET /api/v1/metrics and `manage.py metrics`.

3. Active targets are those deployed to within the environment's `target_idle_after` (default
   90 days, was 30): a service releasing every five weeks keeps its regions.
4. A service's deploy pipeline in an environment (per target) is an automation instance: its
   successful deployments reset its lag; automation lag covers every environment unless the
   scope names a tier, and the gate's source_fresh judges the same instances.
5. `depends_on`: source_fresh and infra_parity judge the service's own pipeline and the infra
   stacks it depends on, transitively; a rule's `stacks: all` judges every stack.

Every expected number is worked out by hand in the comments.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dora.config import ConfigError, config_apply, config_load
from dora.models import ApiToken, Service
from tests.builders import commit, deployment, when
from tests.integration.test_request_bounds import post_events, token_client

pytestmark = pytest.mark.django_db
GATE = "/api/v1/gates/promotion"
NOW = datetime.now(UTC)
H, D = 3600.0, 86400.0


def gate(service: str = "shop", version: str = "v2") -> tuple[int, dict[str, dict[str, Any]]]:
    body = {"service": service, "version": version, "from": "staging", "to": "production"}
    response = token_client(ApiToken.Scope.GATE).generic(
        "POST", GATE, json.dumps(body), content_type="application/json"
    )
    assert response.status_code in (200, 409), response.json()
    return response.status_code, {c["name"]: c for c in response.json()["checks"]}


def metrics(*args: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command("metrics", "--format", "json", *args, stdout=out)
    return json.loads(out.getvalue())


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def ago(*, days: float = 0, hours: float = 0) -> str:
    return iso(NOW - timedelta(days=days, hours=hours))


def deploy(
    ident: str, version: str, env: str, *, target: str = "", service: str = "shop", **at: float
) -> dict[str, Any]:
    event = {
        "type": "deployment",
        "id": ident,
        "service": service,
        "environment": env,
        "version": version,
        "status": "success",
        "finished_at": ago(**at),
    }
    return {**event, "target": target} if target else event


def apply_run(ident: str, stack: str, env: str, *, version: str = "1.0", **at: float) -> dict:
    return {
        "type": "automation_run",
        "id": ident,
        "service": stack,
        "environment": env,
        "action": "apply",
        "status": "success",
        "finished_at": ago(**at),
        "version": version,
    }


# --------------------------------------------------------------------------------------------
# 3. target_idle_after
# --------------------------------------------------------------------------------------------

FIVE_WEEKLY = """\
services:
  - name: shop
    repos: [acme/shop]
environments:
  - name: production
    tier: production
"""


def five_weekly_releases() -> None:
    """v1 (c1) to eu at T0 and us an hour later; five weeks on, v2 (c2, authored a day before)
    to eu at T0 + 35 d and us 5 h after."""
    config_apply(config_load(FIVE_WEEKLY))
    post_events(
        [
            commit("c1", hours=-48),
            commit("c2", ["c1"], hours=34 * 24),
            deployment("v1-eu", "c1", hours=0, target="eu", version="v1"),
            deployment("v1-us", "c1", hours=1, target="us", version="v1"),
            deployment("v2-eu", "c2", hours=35 * 24, target="eu", version="v2"),
            deployment("v2-us", "c2", hours=35 * 24 + 5, target="us", version="v2"),
        ]
    )


def test_a_service_releasing_every_five_weeks_keeps_its_regions_in_rollout_lag() -> None:
    five_weekly_releases()

    report = metrics(
        "--service", "shop", "--since", iso(when(days=30)), "--until", iso(when(days=40))
    )

    # When v2 reached us (T0 + 35 d 5 h), us had last been deployed at T0 + 1 h: 35 days
    # earlier, within 90, so us is still an active target and c2 reached every one then.
    # rollout lag = 5 h; lead time to all targets = (T0 + 35 d 5 h) - (T0 + 34 d) = 29 h.
    assert report["rollout_lag"]["n"] == 1
    assert report["rollout_lag"]["p50_seconds"] == 5 * H
    assert report["lead_time_all_targets"]["p50_seconds"] == 29 * H
    # Lead time counts the first target's arrival: T0 + 35 d - (T0 + 34 d) = 24 h.
    assert report["lead_time"]["p50_seconds"] == 24 * H


def test_target_idle_after_is_configured_per_environment_and_rederives() -> None:
    five_weekly_releases()
    diff = config_apply(config_load(FIVE_WEEKLY + "    target_idle_after: 30d\n"))
    assert "~ environment production: target_idle_after 90d -> 30d" in diff.lines
    call_command("derive", stdout=io.StringIO())

    report = metrics(
        "--service", "shop", "--since", iso(when(days=30)), "--until", iso(when(days=40))
    )

    # With 30 days, us (idle 35 days when v2 reached eu) was retired: eu alone completes it.
    assert report["rollout_lag"]["p50_seconds"] == 0
    assert report["lead_time_all_targets"]["p50_seconds"] == 24 * H


STAGING_PRODUCTION = """\
environments:
  - name: staging
    tier: staging
    stale_after: 7d
  - name: production
    tier: production
"""
GATE_ESTATE = (
    """\
services:
  - name: shop
    depends_on: [k8s]
  - name: k8s
    kind: infra
    depends_on: [network]
  - name: network
    kind: infra
  - name: dns
    kind: infra
"""
    + STAGING_PRODUCTION
)


PLAIN_ESTATE = "services:\n  - name: shop\n" + STAGING_PRODUCTION


def test_the_gate_counts_a_region_idle_for_40_days_as_a_target_to_reach() -> None:
    config_apply(config_load(PLAIN_ESTATE))
    post_events(
        [
            deploy("s-us-v1", "v1", "staging", target="us", days=40),
            deploy("s-eu-v1", "v1", "staging", target="eu", days=40),
            deploy("s-eu-v2", "v2", "staging", target="eu", hours=3),
            deploy("p-v1", "v1", "production", days=39),
        ]
    )

    status, checks = gate()

    # us ran v1 40 days ago: within 90 days it is still a staging target v2 has not reached.
    assert status == 409
    assert checks["version_verified_in_source"]["detail"] == (
        "v2 reached 1/2 staging targets; missing us"
    )


# --------------------------------------------------------------------------------------------
# 4. Deploy pipelines are automation instances
# --------------------------------------------------------------------------------------------


def test_a_staging_environment_nobody_deployed_to_for_nine_days_fails_source_fresh() -> None:
    config_apply(config_load(PLAIN_ESTATE))
    post_events(
        [
            deploy("s-v2", "v2", "staging", days=9),
            deploy("p-v1", "v1", "production", days=20),
        ]
    )

    status, checks = gate()

    # shop's deploy pipeline in staging last succeeded 9 days ago, over stale_after (7 days).
    assert status == 409
    assert checks["source_fresh"]["passed"] is False
    assert checks["source_fresh"]["detail"].startswith(
        "stale after 7d: service shop in staging: last successful deployment 9d ago ("
    )
    assert checks["source_fresh"]["detail"].endswith(
        "; judged shop's deploy pipeline in staging (1 instance) and no infra stack "
        "(shop declares no depends_on)"
    )


LAG_ESTATE = (
    "services:\n  - name: shop\n  - name: network\n    kind: infra\n"
    + STAGING_PRODUCTION
    + "    stale_after: 7d\n"
)


def lag_history() -> str:
    """Runs and deployments before U = T0 + 10 d; returns U."""
    config_apply(config_load(LAG_ESTATE))
    day = 24.0
    post_events(
        [
            {
                "type": "automation_run",
                "id": "net-staging",
                "service": "network",
                "environment": "staging",
                "action": "apply",
                "status": "success",
                "finished_at": iso(when(days=1)),  # U - 9 d
            },
            {
                "type": "automation_run",
                "id": "net-production",
                "service": "network",
                "environment": "production",
                "action": "apply",
                "status": "success",
                "finished_at": iso(when(days=9)),  # U - 1 d
            },
            deployment("shop-s", None, hours=8 * day, environment="staging", version="v3"),
            deployment("shop-eu", None, hours=8.5 * day, target="eu", version="v3"),
            deployment("shop-us-ok", None, hours=8.75 * day, target="us", version="v3"),
            deployment(
                "shop-us-failed", None, hours=9 * day, target="us", version="v4", status="failure"
            ),
        ]
    )
    return iso(when(days=10))


def test_automation_lag_covers_every_environment_and_counts_deploy_pipelines() -> None:
    until = lag_history()

    lag = metrics("--until", until)["automation_lag"]

    # Lags at U: network/production 1 d; network/staging 9 d (stale); shop's pipeline on
    # production eu 1.5 d and us 1.25 d (its failed deployment does not reset it); shop's
    # pipeline in staging 2 d. Sorted: 1, 1.25, 1.5, 2, 9 d: p50 1.5 d; p90 at 0.9 x 4 = 3.6:
    # 2 d + 0.6 x (9 - 2) d = 6.2 d; max 9 d; one stale.
    assert [
        (i["service"], i["environment"], i["target"], i["lag_seconds"], i["stale"])
        for i in lag["instances"]
    ] == [
        ("network", "production", "", 1 * D, False),
        ("network", "staging", "", 9 * D, True),
        ("shop", "production", "eu", 1.5 * D, False),
        ("shop", "production", "us", 1.25 * D, False),
        ("shop", "staging", "", 2 * D, False),
    ]
    assert (lag["p50_seconds"], lag["p90_seconds"], lag["max_seconds"], lag["stale"]) == (
        1.5 * D,
        pytest.approx(6.2 * D),
        9 * D,
        1,
    )
    assert lag["tier"] == "all"


def test_automation_lag_of_a_named_tier_and_through_the_api() -> None:
    until = lag_history()

    production = metrics("--until", until, "--tier", "production")["automation_lag"]
    response = token_client(ApiToken.Scope.READ).get("/api/v1/metrics", {"until": until})

    # production only: 1 d, 1.25 d, 1.5 d -> p50 1.25 d, nothing stale.
    assert [i["lag_seconds"] for i in production["instances"]] == [1 * D, 1.5 * D, 1.25 * D]
    assert (production["p50_seconds"], production["stale"]) == (1.25 * D, 0)
    assert response.status_code == 200
    api = response.json()["automation_lag"]
    assert (len(api["instances"]), api["stale"], api["tier"]) == (5, 1, "all")
    assert production["tier"] == "production"


# --------------------------------------------------------------------------------------------
# 5. depends_on
# --------------------------------------------------------------------------------------------


def depends_on_estate() -> None:
    """shop runs on k8s, which runs on network; dns is nobody's. In staging: network last
    applied 9 days ago, dns 20 days ago, k8s a day ago; shop v2 deployed 3 hours ago."""
    config_apply(config_load(GATE_ESTATE))
    post_events(
        [
            deploy("s-v2", "v2", "staging", hours=3),
            deploy("p-v1", "v1", "production", days=2),
            apply_run("net-s", "network", "staging", days=9),
            apply_run("dns-s", "dns", "staging", days=20),
            apply_run("k8s-s", "k8s", "staging", days=1),
        ]
    )


def test_source_fresh_judges_the_stacks_a_service_depends_on_transitively() -> None:
    depends_on_estate()

    status, checks = gate()

    assert status == 409
    detail = checks["source_fresh"]["detail"]
    assert detail.startswith(
        "stale after 7d: infra stack network in staging: last successful apply 9d ago ("
    )
    assert detail.endswith(
        "; judged shop's deploy pipeline in staging (1 instance) and infra stacks k8s, network "
        "(depends_on)"
    )
    assert "dns" not in detail


def test_a_stale_stack_nobody_depends_on_blocks_no_promotion_unless_stacks_all() -> None:
    depends_on_estate()
    post_events([apply_run("net-s2", "network", "staging", hours=1)])

    allowed, checks = gate()
    config_apply(
        config_load(GATE_ESTATE + "gates:\n  rules:\n    - checks: {source_fresh: {stacks: all}}\n")
    )
    blocked, every = gate()

    # dns (20 days) is not under shop: allowed; `stacks: all` judges it too.
    assert allowed == 200, checks
    assert checks["source_fresh"]["passed"] is True
    assert blocked == 409
    assert every["source_fresh"]["detail"].startswith(
        "stale after 7d: infra stack dns in staging: last successful apply 20d ago ("
    )
    assert every["source_fresh"]["detail"].endswith(
        "every infra stack of staging (stacks: all): dns, k8s, network"
    )


def test_infra_parity_compares_only_the_stacks_the_service_depends_on() -> None:
    config_apply(
        config_load(GATE_ESTATE + "gates:\n  rules:\n    - checks: {infra_parity: block}\n")
    )
    post_events(
        [
            deploy("s-v2", "v2", "staging", hours=3),
            deploy("p-v1", "v1", "production", days=2),
            apply_run("k8s-s", "k8s", "staging", days=1, version="1.30"),
            apply_run("k8s-p", "k8s", "production", days=1, version="1.30"),
            apply_run("net-s", "network", "staging", days=1, version="2.0"),
            apply_run("net-p", "network", "production", days=1, version="2.0"),
            apply_run("dns-s", "dns", "staging", days=1, version="0.9"),
            apply_run("dns-p", "dns", "production", days=1, version="0.8"),
        ]
    )

    status, checks = gate()

    # dns differs (0.9 / 0.8) but shop does not run on it; k8s and network agree.
    assert status == 200
    assert checks["infra_parity"]["detail"] == (
        "2 infra stacks on the same versions in staging and production; judged infra stacks "
        "k8s, network (depends_on)"
    )


def test_apply_config_sets_depends_on_and_names_what_is_wrong() -> None:
    config_apply(config_load(GATE_ESTATE))
    changed = config_apply(
        config_load(GATE_ESTATE.replace("depends_on: [k8s]", "depends_on: [k8s, dns]"))
    )
    again = config_apply(
        config_load(GATE_ESTATE.replace("depends_on: [k8s]", "depends_on: [k8s, dns]"))
    )

    assert "~ service shop: depends_on [k8s] -> [dns, k8s]" in changed.lines
    assert again.lines == ()
    shop = Service.objects.get(name="shop")
    assert sorted(shop.depends_on.values_list("name", flat=True)) == ["dns", "k8s"]
    with pytest.raises(ConfigError) as raised:
        config_apply(
            config_load(
                GATE_ESTATE.replace("depends_on: [k8s]", "depends_on: [k8s, shop, nowhere]")
            )
        )
    assert raised.value.errors == [
        "dora.yml:3: service 'shop': depends_on 'shop': a service cannot depend on itself",
        "dora.yml:3: service 'shop': depends_on 'nowhere': no such service in the file or the "
        "database (add it under services:)",
    ]
    with pytest.raises(ConfigError, match="depends_on 'shop': 'shop' is of kind app, not infra"):
        web = "  - name: web\n    depends_on: [shop]\n  - name: dns\n"
        config_apply(config_load(GATE_ESTATE.replace("  - name: dns\n", web)))


def test_the_gate_reads_with_the_same_statements_however_many_stacks_a_service_rests_on() -> None:
    depends_on_estate()
    with CaptureQueriesContext(connection) as few:
        gate()
    stacks = [f"stack-{i}" for i in range(6)]
    more = GATE_ESTATE.replace("depends_on: [k8s]", f"depends_on: [k8s, {', '.join(stacks)}]")
    more = more.replace(
        "services:\n", "services:\n" + "".join(f"  - name: {s}\n    kind: infra\n" for s in stacks)
    )
    config_apply(config_load(more))
    post_events([apply_run(f"{s}-s", s, "staging", days=1) for s in stacks])
    with CaptureQueriesContext(connection) as many:
        _, checks = gate()

    # network is still stale; the detail names the eight stacks judged; the statements are the
    # same.
    assert checks["source_fresh"]["detail"].endswith(
        "infra stacks k8s, network, stack-0, stack-1, stack-2, stack-3, stack-4, stack-5 "
        "(depends_on)"
    )
    assert len(many.captured_queries) == len(few.captured_queries)
