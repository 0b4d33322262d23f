"""API tokens limited to services, teams and event types, expiring, listed and revoked from the
command line; the sender kept with every event (issue 13, findings 6 and 9)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from dora.config import config_apply, config_load
from dora.models import ApiToken, AutomationRun, RawEvent
from tests.integration.test_gate import ESTATE, apply_run, ask, checks, deploy, promotion, record

pytestmark = pytest.mark.django_db
EVENTS = "/api/v1/events"
TEAMS = """\
teams:
  - name: payments
  - name: search
services:
  - name: shop
    team: payments
    repos: [acme/shop]
    depends_on: [network]
  - name: finder
    team: search
    repos: [acme/finder]
"""


def create(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def client_for(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def post(client: APIClient, body: Any) -> tuple[int, dict[str, Any]]:
    response = client.generic("POST", EVENTS, json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


@pytest.fixture
def estate() -> None:
    config_apply(config_load(ESTATE))
    config_apply(config_load(TEAMS))
    record(
        [
            *(deploy(f"s1-{t}", "v1.4.1", "staging", t, hours=30) for t in ("s-a", "s-b", "s-c")),
            *(deploy(f"p1-{t}", "v1.4.1", "production", t, hours=26) for t in ("p-a", "p-b")),
            *(deploy(f"s2-{t}", "v1.4.2", "staging", t, hours=4) for t in ("s-a", "s-b", "s-c")),
            apply_run("net-s", "staging", days=9),  # the stack is stale: the gate blocks
            apply_run("net-p", "production", days=1),
        ]
    )


def test_create_token_with_limits_and_expiry(estate: None) -> None:
    raw, said = create(
        "--scope", "ingest", "--name", "deploy-shop", "--services", "shop, shop",
        "--types", "deployment,pipeline_run", "--expires", "90d",
    )  # fmt: skip

    token = ApiToken.objects.get(name="deploy-shop")
    assert token.digest == ApiToken.hash(raw) and raw.startswith("dora_ingest_")
    assert (token.services, token.teams, token.event_types) == (
        ["shop"],
        [],
        ["deployment", "pipeline_run"],
    )
    assert abs(token.expires_at - (datetime.now(UTC) + timedelta(days=90))) < timedelta(minutes=1)
    assert "services shop; types deployment, pipeline_run; expires" in said
    assert raw not in said


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scope", "ingest", "--types", "deploy"], "--types: unknown deploy"),
        (["--scope", "gate", "--types", "deployment"], "only for --scope ingest"),
        (["--scope", "read", "--teams", "nobody"], "--teams: no team named nobody"),
        (["--scope", "read", "--expires", "2001-01-01"], "is in the past"),
        (["--scope", "read", "--expires", "soon"], "give a duration from now"),
        (["--scope", "metrics", "--services", "shop"], "a metrics token .* takes no limits"),
    ],
)
def test_create_token_refuses_limits_it_cannot_honour(
    estate: None, args: list[str], message: str
) -> None:
    with pytest.raises(CommandError, match=message):
        create(*args, "--name", "x")
    assert not ApiToken.objects.exists()


def test_list_and_revoke_tokens(estate: None) -> None:
    raw, _ = create("--scope", "gate", "--name", "ci-deploy", "--services", "shop")
    create("--scope", "read", "--name", "old", "--expires", "1h")
    ApiToken.objects.filter(name="old").update(expires_at=datetime.now(UTC) - timedelta(hours=1))
    token = ApiToken.objects.get(name="ci-deploy")
    out = io.StringIO()
    call_command("list_tokens", stdout=out, stderr=io.StringIO())
    listed = out.getvalue()
    assert "ci-deploy" in listed and f"{token.prefix}…" in listed and "services shop" in listed
    assert "old" not in listed  # expired: only with --all
    assert raw not in listed
    assert ask(promotion(), client_for(raw))[0] in (200, 409)

    out = io.StringIO()
    call_command("revoke_token", f"{token.prefix}…", stdout=out)
    assert "revoked token" in out.getvalue()

    status, body = ask(promotion(), client_for(raw))
    assert status == 401 and "Unknown or revoked token" in body["detail"]
    everything = io.StringIO()
    call_command("list_tokens", "--all", stdout=everything)
    assert "revoked" in everything.getvalue() and "expired" in everything.getvalue()
    with pytest.raises(CommandError, match="no active token"):
        call_command("revoke_token", "ci-deploy", stdout=io.StringIO())


def test_an_expired_token_is_refused_with_a_message_saying_so(estate: None) -> None:
    raw, _ = create("--scope", "ingest", "--name", "short", "--expires", "1h")
    ApiToken.objects.filter(name="short").update(expires_at=datetime.now(UTC) - timedelta(1))
    status, body = post(client_for(raw), deploy("x", "v1", "staging", "s-a", hours=1))
    assert status == 401 and "expired" in body["detail"]
    assert not RawEvent.objects.filter(external_id="x").exists()


def test_a_forged_automation_run_from_a_deploy_token_cannot_turn_a_block_into_an_allow(
    estate: None,
) -> None:
    """The probe's forgery: a deploy pipeline's token sent an apply of the stale stack. Limited
    to what the pipeline does, its token cannot; and every stored event says who sent it."""
    assert ask(promotion())[0] == 409
    raw, _ = create(
        "--scope", "ingest", "--name", "deploy-shop", "--services", "shop",
        "--types", "deployment,commit",
    )  # fmt: skip
    forged = apply_run("net-forged", "staging", days=0.01)
    other_service = deploy("finder-1", "v9", "staging", "s-a", hours=1, service="finder")
    own = deploy("s3-s-a", "v1.4.3", "staging", "s-a", hours=0.5)
    own_commit = {
        "type": "commit",
        "id": "acme/shop@abc1234",
        "repo": "acme/shop",
        "sha": "abc1234",
        "authored_at": "2026-03-01T00:00:00Z",
    }
    other_repo = {**own_commit, "id": "acme/finder@abc1234", "repo": "acme/finder"}

    status, body = post(client_for(raw), [forged, other_service, own, own_commit, other_repo])

    assert status == 207
    reasons = [item.get("reason", "") for item in body["items"]]
    assert reasons[0].startswith("type: this token may send commit, deployment events only")
    assert reasons[1] == "service: this token may not send events about service 'finder'"
    assert [item["status"] for item in body["items"][2:4]] == ["created", "created"]
    assert reasons[4] == "repo: 'acme/finder' is not a repository of this token's services"
    assert not AutomationRun.objects.filter(external_id="automation_run:net-forged").exists()
    status, decision = ask(promotion())
    assert status == 409 and not checks(decision)["source_fresh"]["passed"]
    stored = RawEvent.objects.get(external_id="s3-s-a")
    assert (
        stored.sent_by == f"token:deploy-shop ({ApiToken.objects.get(name='deploy-shop').prefix}…)"
    )


def test_a_team_token_sends_events_of_its_teams_services(estate: None) -> None:
    raw, _ = create("--scope", "ingest", "--name", "payments-ci", "--teams", "payments")
    status, body = post(
        client_for(raw),
        [
            deploy("t1", "v1", "staging", "s-a", hours=1),  # shop: payments'
            deploy("t2", "v1", "staging", "s-a", hours=1, service="finder"),  # search's
        ],
    )
    assert status == 207
    assert [item["status"] for item in body["items"]] == ["created", "rejected"]


def test_a_limited_gate_token_cannot_tell_unknown_services_from_forbidden_ones(
    estate: None,
) -> None:
    raw, _ = create("--scope", "gate", "--name", "shop-gate", "--services", "shop")
    client = client_for(raw)

    other = ask(promotion(service="finder"), client)
    unknown = ask(promotion(service="no-such-service"), client)

    assert other[0] == unknown[0] == 403
    assert other[1]["detail"].replace("finder", "X") == unknown[1]["detail"].replace(
        "no-such-service", "X"
    )
    assert ask(promotion(), client)[0] == 409  # its own service: decided as usual


def test_the_gates_404_lists_only_services_the_token_may_ask_about(estate: None) -> None:
    unlimited, _ = create("--scope", "gate", "--name", "all")
    limited, _ = create("--scope", "gate", "--name", "ghost", "--services", "ghost,shop")

    _, everything = ask(promotion(service="ghost"), client_for(unlimited))
    status, narrowed = ask(promotion(service="ghost"), client_for(limited))

    assert "finder" in everything["detail"] and "shop" in everything["detail"]
    assert status == 404 and narrowed["service"] == "ghost"
    assert "finder" not in narrowed["detail"] and "network" not in narrowed["detail"]
    assert "known: shop" in narrowed["detail"]


def test_a_read_token_limited_to_a_team_reads_its_metrics_only(estate: None) -> None:
    raw, _ = create("--scope", "read", "--name", "payments-board", "--teams", "payments")
    client = client_for(raw)
    assert client.get("/api/v1/metrics", {"team": "payments"}).status_code == 200
    assert client.get("/api/v1/metrics", {"service": "shop"}).status_code == 200
    denied = client.get("/api/v1/metrics", {"team": "search"})
    assert denied.status_code == 403 and "shop" in denied.json()["detail"]
    assert client.get("/api/v1/metrics").status_code == 403  # the whole organisation
    assert client.get("/api/v1/metrics/lead_time/items", {"service": "finder"}).status_code == 403
