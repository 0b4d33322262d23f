"""A gate decision's page: its checks and the events behind them, each with who sent it
(issue 13, finding 6: "every stored event keeps the token or source that sent it, shown on the
items behind a gate check")."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from dora.config import config_apply, config_load
from dora.models import ApiToken, GateDecision
from tests.integration.test_gate import ESTATE, ago, apply_run, ask, deploy, promotion

pytestmark = pytest.mark.django_db
TEAMS = """\
teams:
  - name: payments
    members: [pat]
  - name: search
    members: [sam]
services:
  - name: shop
    team: payments
"""


def sender(name: str, **limits: Any) -> tuple[APIClient, ApiToken]:
    token, raw = ApiToken.issue(name=name, scope="ingest", **limits)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client, token


def send(client: APIClient, events: list[dict[str, Any]]) -> None:
    response = client.generic(
        "POST", "/api/v1/events", json.dumps(events), content_type="application/json"
    )
    assert response.status_code == 200, response.json()


def page_of(decision_id: str, username: str) -> Any:
    user = User.objects.get(username=username)
    client = Client()
    client.force_login(user)
    return client.get(f"/dashboards/gate/{decision_id}")


def rows(html: str, table: str) -> list[str]:
    """The text of each row of the table after the heading with id `table`."""
    section = html.split(f'id="{table}"', 1)[1].split("</table>", 1)[0]
    return [re.sub(r"<[^>]+>", " ", row) for row in section.split("<tr>")[2:]]


@pytest.fixture
def decided(plain_static: None) -> str:
    config_apply(config_load(ESTATE))
    config_apply(config_load(TEAMS))
    User.objects.create_user("pat", password="pw")
    User.objects.create_user("sam", password="pw")
    User.objects.create_superuser("root", "root@example.com", "pw")
    deploys, deploy_token = sender("deploy-ci", services=["shop"], event_types=["deployment"])
    terraform, _ = sender("terraform", event_types=["automation_run"])
    pager, _ = sender("pagerduty-bridge", event_types=["incident"])
    send(deploys, [deploy(f"s1-{t}", "v1.4.1", "staging", t, hours=30) for t in ("s-a", "s-b")])
    send(deploys, [deploy(f"s2-{t}", "v1.4.2", "staging", t, hours=4) for t in ("s-a", "s-b")])
    send(deploys, [deploy("s2-s-c", "v1.4.2", "staging", "s-c", hours=4)])
    send(deploys, [deploy(f"p1-{t}", "v1.4.1", "production", t, hours=26) for t in ("p-a", "p-b")])
    send(
        terraform, [apply_run("net-s", "staging", days=1), apply_run("net-p", "production", days=1)]
    )
    send(
        pager,
        [
            {
                "type": "incident",
                "id": "PD-42",
                "service": "shop",
                "environment": "production",
                "title": "checkout errors",
                "severity": "sev3",
                "opened_at": ago(1),
            }
        ],
    )
    status, body = ask(promotion())
    assert status in (200, 409)
    assert deploy_token.prefix
    return body["decision_id"]


def test_the_decision_page_shows_each_piece_of_evidence_with_its_sender(decided: str) -> None:
    response = page_of(decided, "root")

    assert response.status_code == 200
    html = response.content.decode()
    deploy_prefix = ApiToken.objects.get(name="deploy-ci").prefix
    deployments = rows(html, "evidence-deployments")
    requested = [r for r in deployments if "v1.4.2" in r]
    assert len(requested) == 3
    assert all(f"token:deploy-ci ({deploy_prefix}…)" in r for r in requested)
    assert all("the requested version, live at the decision" in r for r in requested)
    older = [r for r in deployments if "v1.4.1" in r]
    assert len(older) == 2 and all("live at the decision" in r for r in older)  # production
    assert len(deployments) == 5  # staging's v1.4.1, replaced on every target, is not listed
    automation = rows(html, "evidence-automation")
    assert len(automation) == 2  # one instance per environment; each run both latest and reset
    assert all("token:terraform (" in r and "network: apply 2.3.0" in r for r in automation)
    incidents = rows(html, "evidence-incidents")
    assert len(incidents) == 1 and "token:pagerduty-bridge (" in incidents[0]
    assert "checkout errors" in incidents[0] and "open at the decision" in incidents[0]
    assert "Sent by:" in html and "token:deploy-ci" in html.split("Sent by:", 1)[1]


def test_the_list_links_each_decision_to_its_page(decided: str) -> None:
    client = Client()
    client.force_login(User.objects.get(username="root"))
    listing = client.get("/dashboards/gate").content.decode()
    assert f'href="/dashboards/gate/{decided}"' in listing


def test_a_decision_about_another_teams_service_is_not_found_like_an_unknown_one(
    decided: str,
) -> None:
    assert page_of(decided, "pat").status_code == 200  # shop is payments'
    other = page_of(decided, "sam")
    unknown = page_of("00000000-0000-0000-0000-000000000000", "sam")
    assert other.status_code == unknown.status_code == 404
    assert GateDecision.objects.filter(id=decided).exists()
