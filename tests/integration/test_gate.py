"""The promotion gate end to end: events in through intake, POST /api/v1/gates/promotion out.

Every scenario starts from one estate, written as events relative to the real clock (the API
decides at `now`): shop v1.4.2 live on the three staging targets for 3 hours, production on
v1.4.1 on both targets, the infra stack `network` (which shop depends on) applied a day ago in
both environments.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from dora.config import config_apply, config_load
from dora.intake.events import events_record
from dora.models import ApiToken, GateDecision

pytestmark = pytest.mark.django_db
URL = "/api/v1/gates/promotion"
NOW = datetime.now(UTC)

ESTATE = """\
services:
  - name: shop
    kind: app
    depends_on: [network]
  - name: network
    kind: infra
environments:
  - name: staging
    tier: staging
    order: 2
    stale_after: 7d
    targets: [s-a, s-b, s-c]
  - name: production
    tier: production
    order: 3
    targets: [p-a, p-b]
"""


def ago(hours: float = 0, *, days: float = 0) -> str:
    return (NOW - timedelta(days=days, hours=hours)).isoformat().replace("+00:00", "Z")


def deploy(
    ident: str, version: str, env: str, target: str, *, hours: float, **extra: Any
) -> dict[str, Any]:
    return {
        "type": "deployment",
        "id": ident,
        "service": extra.pop("service", "shop"),
        "environment": env,
        "target": target,
        "version": version,
        "status": extra.pop("status", "success"),
        "finished_at": ago(hours),
        **extra,
    }


def apply_run(ident: str, env: str, *, days: float, version: str = "2.3.0", **extra: Any) -> dict:
    return {
        "type": "automation_run",
        "id": ident,
        "service": "network",
        "environment": env,
        "action": extra.pop("action", "apply"),
        "status": "success",
        "finished_at": ago(days=days),
        "version": version,
        **extra,
    }


def record(events: list[dict[str, Any]]) -> None:
    report = events_record(events)
    assert report.counts["rejected"] == 0, [i.reason for i in report.items if i.reason]


@pytest.fixture
def estate() -> None:
    config_apply(config_load(ESTATE))
    record(
        [
            *(deploy(f"s1-{t}", "v1.4.1", "staging", t, hours=30) for t in ("s-a", "s-b", "s-c")),
            *(deploy(f"p1-{t}", "v1.4.1", "production", t, hours=26) for t in ("p-a", "p-b")),
            deploy("s2-s-a", "v1.4.2", "staging", "s-a", hours=4),
            deploy("s2-s-b", "v1.4.2", "staging", "s-b", hours=3.5),
            deploy("s2-s-c", "v1.4.2", "staging", "s-c", hours=3),
            apply_run("net-s", "staging", days=1),
            apply_run("net-p", "production", days=1),
        ]
    )


def gate_client(name: str = "ci-deploy") -> APIClient:
    client = APIClient()
    _, raw = ApiToken.issue(name=name, scope=ApiToken.Scope.GATE)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def ask(body: Any, client: APIClient | None = None) -> tuple[int, dict[str, Any]]:
    response = (client or gate_client()).generic(
        "POST", URL, json.dumps(body), content_type="application/json"
    )
    return response.status_code, response.json()


def promotion(version: str = "v1.4.2", **extra: Any) -> dict[str, Any]:
    return {"service": "shop", "version": version, "from": "staging", "to": "production", **extra}


def checks(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in body["checks"]}


def failed(body: dict[str, Any]) -> list[str]:
    return [c["name"] for c in body["checks"] if not c["passed"]]


# --------------------------------------------------------------------------------------------
# Scenarios of the issue
# --------------------------------------------------------------------------------------------


def test_gate_allows_a_verified_soaked_version_and_stores_the_decision(estate: None) -> None:
    status, body = ask(promotion(pipeline_run="gh-run-812"), gate_client("deploy-bot"))

    assert status == 200, body
    assert body["allowed"] is True
    assert failed(body) == []
    assert (body["service"], body["version"], body["from"], body["to"]) == (
        "shop",
        "v1.4.2",
        "staging",
        "production",
    )
    assert len(body["checks"]) == 10  # added: no_out_of_band_changes
    stored = GateDecision.objects.get(id=body["decision_id"])
    assert stored.allowed
    assert stored.requested_by == "token:deploy-bot"
    assert stored.pipeline_run == "gh-run-812"
    assert stored.request == promotion(pipeline_run="gh-run-812")
    assert stored.checks == body["checks"]


def test_gate_blocks_when_staging_moved_on_after_the_version_was_verified(estate: None) -> None:
    record([deploy(f"s3-{t}", "v1.4.3", "staging", t, hours=1) for t in ("s-a", "s-b", "s-c")])

    status, body = ask(promotion())

    assert status == 409
    assert body["allowed"] is False
    assert failed(body) == ["source_current", "soak_time"]
    assert checks(body)["source_current"]["detail"].startswith(
        "staging moved on from v1.4.2: v1.4.3 deployed to s-a, s-b, s-c (latest "
    )
    assert checks(body)["version_verified_in_source"]["passed"] is True


def test_gate_blocks_a_version_verified_on_two_of_three_staging_targets(estate: None) -> None:
    record(
        [
            deploy("s4-s-a", "v1.5.0", "staging", "s-a", hours=2),
            deploy("s4-s-b", "v1.5.0", "staging", "s-b", hours=2),
        ]
    )

    status, body = ask(promotion("v1.5.0"))

    assert status == 409
    assert "version_verified_in_source" in failed(body)
    assert checks(body)["version_verified_in_source"]["detail"] == (
        "v1.5.0 reached 2/3 staging targets; missing s-c"
    )


def test_gate_blocks_when_stagings_infra_stack_was_not_applied_for_9_days(estate: None) -> None:
    config_apply(config_load("gates:\n  defaults: {stale_after: 7d}\n"))
    GateDecision.objects.all().delete()
    record([apply_run("net-s", "staging", days=9)])  # the same run, re-sent: older than thought

    status, body = ask(promotion())

    assert status == 409
    assert failed(body) == ["source_fresh"]
    detail = checks(body)["source_fresh"]["detail"]
    assert detail.startswith(
        "stale after 7d: infra stack network in staging: last successful apply 9d ago ("
    )


def test_gate_blocks_on_an_open_sev1_incident_in_production(estate: None) -> None:
    record(
        [
            {
                "type": "incident",
                "id": "INC-7",
                "service": "shop",
                "environment": "production",
                "severity": "sev1",
                "opened_at": ago(1),
            }
        ]
    )

    status, body = ask(promotion())

    assert status == 409
    assert failed(body) == ["no_open_incidents"]
    assert checks(body)["no_open_incidents"]["detail"].startswith(
        "open incident at or above sev2 on shop: INC-7 (sev1, production, opened "
    )


def test_gate_allows_with_a_warning_while_production_is_mid_rollout(estate: None) -> None:
    record([deploy("p2-p-a", "v1.4.2", "production", "p-a", hours=0.5)])

    status, body = ask(promotion())

    assert status == 200
    assert body["allowed"] is True
    result = checks(body)["target_rollout_complete"]
    assert (result["passed"], result["severity"]) == (False, "warn")
    assert result["detail"] == (
        "production is mid-rollout: 2 versions across 2 targets (v1.4.1 on p-b; v1.4.2 on p-a)"
    )


def test_gate_blocks_a_version_never_deployed_to_staging_not_404(estate: None) -> None:
    status, body = ask(promotion("v9.9.9"))

    assert status == 409
    assert checks(body)["version_verified_in_source"]["detail"] == (
        "v9.9.9 was never deployed successfully to staging"
    )
    assert GateDecision.objects.filter(version="v9.9.9", allowed=False).count() == 1


def test_gate_answers_404_for_an_unknown_service_or_environment(estate: None) -> None:
    status, body = ask({**promotion(), "service": "nope"})
    assert status == 404
    assert body["service"] == "nope"
    assert body["detail"].startswith("unknown service 'nope'; known: network, shop")

    status, body = ask({**promotion(), "to": "prod-eu"})
    assert status == 404
    assert body["environment"] == "prod-eu"
    assert GateDecision.objects.count() == 0


def test_gate_policy_from_config_turns_a_warning_into_a_block(estate: None) -> None:
    record([apply_run("net-p2", "production", days=0.5, version="2.4.0")])
    rule = (
        "gates:\n  rules:\n    - service: shop\n      from: staging\n      to: production\n"
        "      checks: {infra_parity: block, soak_time: {min_soak: 5h}}\n"
    )

    assert ask(promotion())[0] == 200  # infra_parity warns by default
    config_apply(config_load(rule))
    status, body = ask(promotion())

    assert status == 409
    assert failed(body) == ["soak_time", "infra_parity"]
    assert checks(body)["infra_parity"]["detail"] == (
        "infra versions differ: network staging 2.3.0, production 2.4.0; judged infra stack "
        "network (depends_on)"
    )
    assert checks(body)["soak_time"]["detail"].endswith("; needs 5h")


def test_gate_accepts_a_full_sha_for_the_version(estate: None) -> None:
    full = "ab" * 20
    record(
        [
            {**deploy(f"s5-{t}", "", "staging", t, hours=2, sha=full), "version": None}
            for t in ("s-a", "s-b", "s-c")
        ]
    )

    status, body = ask(promotion(full))

    assert status == 200, failed(body)


# --------------------------------------------------------------------------------------------
# Requests, tokens, failure
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"version": "v1", "from": "staging", "to": "production"}, "service", "required"),
        ({**promotion(), "to": "staging"}, "to", "Must differ from `from`."),
        ({**promotion(), "form": "staging"}, "form", "Unknown field"),
        ({**promotion(), "version": ""}, "version", "blank"),
    ],
)
def test_gate_answers_400_with_field_messages(
    estate: None, body: dict, field: str, message: str
) -> None:
    status, answer = ask(body)

    assert status == 400
    assert message in answer[field][0]


def test_gate_answers_400_for_a_body_that_is_not_an_object(estate: None) -> None:
    status, answer = ask(["shop"])

    assert status == 400
    assert "JSON object" in answer["detail"]


def test_gate_needs_a_token_of_scope_gate(estate: None) -> None:
    assert APIClient().post(URL, promotion(), format="json").status_code == 401
    reader = APIClient()
    _, raw = ApiToken.issue(name="dash", scope=ApiToken.Scope.READ)
    reader.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert reader.post(URL, promotion(), format="json").status_code == 403
    assert GateDecision.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_gate_fails_closed_with_503_when_the_database_is_unreachable() -> None:
    client = gate_client()
    settings_dict = connection.settings_dict
    saved = dict(settings_dict)
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's in-memory test database cannot be disconnected")
    connection.close()
    settings_dict["PORT"] = "1"  # nothing listens there: every query's connection is refused
    try:
        response = client.post(URL, promotion(), format="json")
    finally:
        connection.close()
        settings_dict.update(saved)

    assert response.status_code == 503
    body = response.json()
    assert body["allowed"] is False
    assert "fails closed" in body["detail"]
    assert response["Retry-After"] == "30"


@pytest.mark.django_db(transaction=True)
def test_gate_fails_closed_when_the_connection_breaks_mid_decision(monkeypatch) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL to terminate the request's backend")
    import psycopg

    from dora.reads import promotion as promotion_module

    config_apply(config_load(ESTATE))
    client = gate_client()
    real = promotion_module.promotion_facts

    def after_killing_the_connection(*args: Any, **kwargs: Any) -> Any:
        # The token was checked on this connection; now the server ends it, as a failover or
        # an administrator would, before the facts are read.
        pid = connection.connection.info.backend_pid
        s = connection.settings_dict
        dsn = f"host={s['HOST']} port={s['PORT'] or 5432} user={s['USER']} dbname={s['NAME']}"
        if s.get("PASSWORD"):
            dsn += f" password={s['PASSWORD']}"
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])
        return real(*args, **kwargs)

    monkeypatch.setattr(promotion_module, "promotion_facts", after_killing_the_connection)
    response = client.post(URL, promotion(), format="json")

    assert response.status_code == 503
    assert response.json()["allowed"] is False
    connection.close()
    assert GateDecision.objects.count() == 0


def test_gate_command_prints_the_decision_and_exits_0_or_3(estate: None) -> None:
    out, err = io.StringIO(), io.StringIO()
    argv = ["--service", "shop", "--from", "staging", "--to", "production"]

    call_command("gate", *argv, "--version", "v1.4.2", stdout=out, stderr=err)
    assert json.loads(out.getvalue())["allowed"] is True

    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("gate", *argv, "--version", "v9.9.9", stdout=out, stderr=err)
    assert exited.value.code == 3
    assert json.loads(out.getvalue())["allowed"] is False
    assert "blocked by version_verified_in_source: v9.9.9 was never deployed" in err.getvalue()
    assert GateDecision.objects.filter(requested_by__startswith="manage.py gate").count() == 2


def test_gate_openapi_schema_documents_the_request_and_answers() -> None:
    client = APIClient()
    _, raw = ApiToken.issue(name="docs", scope=ApiToken.Scope.READ)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    schema = client.get("/api/schema/", {"format": "json"}).json()

    operation = schema["paths"]["/api/v1/gates/promotion"]["post"]
    assert {"200", "409", "400", "404", "503"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    fields = schema["components"]["schemas"][body.rsplit("/", 1)[-1]]
    assert {"service", "version", "from", "to"} <= set(fields["required"])


def decision_queries() -> int:
    from django.db import connection as conn
    from django.test.utils import CaptureQueriesContext

    client = gate_client()
    ask(promotion(), client)  # the token's first use records last_used_at
    assert ApiToken.objects.order_by("-id").first().last_used_at is not None
    with CaptureQueriesContext(conn) as captured:
        assert ask(promotion(), client)[0] in (200, 409)
    return len(captured)


def test_gate_reads_a_fixed_number_of_queries_however_long_the_history(estate: None) -> None:
    few = decision_queries()
    record(
        [
            deploy(f"old-{i}-{t}", f"v1.3.{i}", "staging", t, hours=200 + i)
            for i in range(40)
            for t in ("s-a", "s-b", "s-c")
        ]
        + [apply_run(f"net-old-{i}", "staging", days=10 + i) for i in range(40)]
    )

    assert decision_queries() == few
    # token, names with the policy, the version's first success with each target's live
    # deployment, the source's deployments with failed rollouts and incidents, the decision; and
    # the automation instances, which a process keeps on PostgreSQL (read again when they change)
    assert few == (5 if connection.vendor == "postgresql" else 6)


def test_gate_logs_decisions_at_info_and_a_block_is_not_a_django_warning(
    estate: None, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    from dora.logfilters import BlockedPromotionFilter

    with caplog.at_level(logging.INFO):
        assert ask(promotion("v9.9.9"))[0] == 409

    gate_lines = [r.getMessage() for r in caplog.records if r.name == "dora.api.gates"]
    assert gate_lines == [
        "gate blocked: shop v9.9.9 staging -> production for token:ci-deploy; "
        "version_verified_in_source: v9.9.9 was never deployed successfully to staging; "
        "source_current: v9.9.9 was never deployed successfully to staging; "
        "soak_time: v9.9.9 is not live in staging"
    ]
    conflicts = [r for r in caplog.records if r.name == "django.request"]
    assert len(conflicts) == 1  # Django still emits it; the console handler's filter drops it
    assert BlockedPromotionFilter().filter(conflicts[0]) is False


def test_gate_blocks_a_version_whose_staging_rollout_was_rolled_back(estate: None) -> None:
    # v1.4.2 went out 3-4 h ago; staging rolled back to v1.4.1 two hours ago, then v1.4.2 was
    # deployed again an hour ago: it is current and verified, but its first rollout failed.
    targets = ("s-a", "s-b", "s-c")
    record([deploy(f"rb-{t}", "v1.4.1", "staging", t, hours=2) for t in targets])
    record([deploy(f"again-{t}", "v1.4.2", "staging", t, hours=1) for t in targets])

    status, body = ask(promotion())

    assert status == 409
    assert checks(body)["source_current"]["passed"] is True
    assert checks(body)["version_verified_in_source"]["detail"] == (
        "v1.4.2's rollout in staging was marked failed, confirmed (rollback)"
    )


def test_gate_sees_a_configured_target_whose_last_deployment_is_old(estate: None) -> None:
    # p-b last ran anything 40 days ago (v1.3.0, before the estate's v1.4.1 went to p-a only).
    record([deploy("p0-p-b", "v1.3.0", "production", "p-b", hours=40 * 24)])
    GateDecision.objects.all().delete()
    from dora.models import Deployment

    Deployment.objects.filter(external_id="deployment:p1-p-b").delete()

    status, body = ask(promotion())

    assert status == 200
    assert checks(body)["target_rollout_complete"]["detail"] == (
        "production is mid-rollout: 2 versions across 2 targets (v1.3.0 on p-b; v1.4.1 on p-a)"
    )


# --------------------------------------------------------------------------------------------
# What a worker process keeps between requests (PostgreSQL): the infra stacks' instances, read
# again when intake or an edit changes them, and decisions committed without waiting for disk
# --------------------------------------------------------------------------------------------

kept_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="kept per process on PostgreSQL only"
)
READ_AGAIN = "i.last_run_at, i.service_id"  # the statement that reads the instances to keep


def ask_logged(body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        status, answer = ask(body)
    assert status in (200, 409), answer
    return answer, [q["sql"] for q in queries.captured_queries]


@kept_only
def test_gate_keeps_the_infra_stacks_and_sees_intake_change_them(estate: None) -> None:
    first, _ = ask_logged(promotion())
    again, statements = ask_logged(promotion())
    # production's stack reports drift: the kept instances must not hide it
    record([apply_run("net-p-plan", "production", days=0.01, action="plan", drift_detected=True)])
    drifted, after_intake = ask_logged(promotion())

    assert checks(first)["no_drift"]["passed"] is True
    assert checks(again) == checks(first)
    assert not any(READ_AGAIN in sql for sql in statements)  # the second request reused them
    assert any(READ_AGAIN in sql for sql in after_intake)  # intake changed them: read again
    assert checks(drifted)["no_drift"]["passed"] is False
    assert "network" in checks(drifted)["no_drift"]["detail"]


@kept_only
def test_gate_keeps_the_infra_stacks_and_sees_an_edit_rename_them(estate: None) -> None:
    from dora.models import Service, Target

    record([apply_run("net-s", "staging", days=9, target="s-a")])
    before, _ = ask_logged(promotion())
    Service.objects.filter(name="network").update(name="network-core")  # as the admin saves it
    renamed, statements = ask_logged(promotion())
    Target.objects.filter(name="s-a").update(name="s-a1")
    moved, after_edit = ask_logged(promotion())

    assert "infra stack network in staging/s-a:" in checks(before)["source_fresh"]["detail"]
    assert "network-core in staging/s-a:" in checks(renamed)["source_fresh"]["detail"]
    assert "network-core in staging/s-a1:" in checks(moved)["source_fresh"]["detail"]
    assert any(READ_AGAIN in sql for sql in statements)
    assert any(READ_AGAIN in sql for sql in after_edit)


@kept_only
def test_gate_reads_again_when_a_service_becomes_an_infra_stack(estate: None) -> None:
    # `shop` itself runs automation in staging, 9 days ago: as an application service it is
    # its own instance; turned into an infra stack by the config, it is one of the stacks.
    record([{**apply_run("shop-s", "staging", days=9), "service": "shop"}])
    as_app, _ = ask_logged(promotion())
    config_apply(
        config_load(ESTATE.replace("name: shop\n    kind: app", "name: shop\n    kind: infra"))
    )
    as_infra, statements = ask_logged(promotion())

    assert "service shop in staging" in checks(as_app)["source_fresh"]["detail"]
    assert "infra stack shop in staging" in checks(as_infra)["source_fresh"]["detail"]
    assert any(READ_AGAIN in sql for sql in statements)


@kept_only
def test_gate_keeps_a_services_own_instances_under_its_current_name(estate: None) -> None:
    from dora.models import Service

    record([{**apply_run("shop-s", "staging", days=9), "service": "shop"}])
    ask_logged(promotion())
    Service.objects.filter(name="shop").update(name="shop-web")  # not a stack: nothing to re-read
    renamed, statements = ask_logged({**promotion(), "service": "shop-web"})

    assert "service shop-web in staging" in checks(renamed)["source_fresh"]["detail"]
    assert "service shop in" not in checks(renamed)["source_fresh"]["detail"]
    assert not any(READ_AGAIN in sql for sql in statements)


@pytest.mark.django_db(transaction=True)
@kept_only
def test_gate_commits_its_decision_without_waiting_for_the_disk(settings: Any) -> None:
    config_apply(config_load(ESTATE))
    record([deploy(f"s1-{t}", "v1.4.1", "staging", t, hours=30) for t in ("s-a", "s-b", "s-c")])

    _, statements = ask_logged(promotion("v1.4.1"))
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        left = cursor.fetchone()[0]
    settings.DORA_GATE_DURABLE_DECISIONS = True
    _, durable = ask_logged(promotion("v1.4.1"))

    assert GateDecision.objects.count() == 2
    inserts = [sql for sql in statements if "INSERT INTO dora_gatedecision" in sql]
    assert len(inserts) == 1 and "set_config('synchronous_commit', 'off', true)" in inserts[0]
    assert left == "on"  # for its own transaction only: the connection's setting is untouched
    assert not any("set_config" in sql for sql in durable)
