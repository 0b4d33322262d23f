"""Inputs that used to answer 500 (issue 13, finding 7): the development tier, NUL bytes, windows
outside what pandas and PostgreSQL can hold, a service whose only deployment failed, webhook
headers longer than their columns, JSON nested too deep. Each answers a figure or a 400 that
says what to fix; a management command raises CommandError."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from dora.models import ApiToken
from tests.builders import change, commit, deployment, when

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static")]

HOUR = 3600.0
# Sunday 2026-03-01 09:00 UTC to Monday 2026-03-09 09:00 UTC (T0 = Mon 03-02 09:00).
SINCE = when(days=-1).isoformat()
UNTIL = when(days=7).isoformat()


def token_client(scope: str) -> APIClient:
    client = APIClient()
    _, raw = ApiToken.issue(name=f"bounds-{scope}", scope=scope)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def post_events(events: list[dict[str, Any]]) -> None:
    """Through the public intake, as a pipeline sends them."""
    response = token_client("ingest").post("/api/v1/events", events, format="json")
    assert response.status_code == 200, response.content


def metrics_command(*args: str) -> dict[str, Any]:
    out = io.StringIO()
    call_command("metrics", "--format", "json", *args, stdout=out)
    return json.loads(out.getvalue())


def staff_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_user("ops", is_staff=True))
    return client


# ---------------------------------------------------------------------------------------------
# ?tier=development
# ---------------------------------------------------------------------------------------------


def dev_timeline() -> None:
    """shop in `dev` (tier development, inferred from the name): d0 ships c0 four days before
    T0 (the first rollout: unattributed); c1 authored at T0, PR 1 opened at +1 h and merged at
    +2 h, shipped by d1 at +5 h: a lead time of 5 h, merge to dev 3 h."""
    post_events(
        [
            commit("c0", hours=-100),
            commit("c1", ["c0"], hours=0),
            change(1, ["c1"], created=1, merged=2, merge="c1", title="one"),
            deployment("d0", "c0", hours=-96, environment="dev"),
            deployment("d1", "c1", hours=5, environment="dev"),
        ]
    )


def test_metrics_development_tier_from_the_api_and_the_command() -> None:
    dev_timeline()
    params = {"service": "shop", "tier": "development", "since": SINCE, "until": UNTIL}

    response = token_client("read").get("/api/v1/metrics", params)
    report = metrics_command("--service", "shop", "--tier", "development", "--since", SINCE,
                             "--until", UNTIL)  # fmt: skip

    assert response.status_code == 200, response.content
    for answer in (response.json(), report):
        assert answer["scope"]["tier"] == "development"
        assert answer["deployment_frequency"]["rollouts"] == 1  # d1; d0 is before the window
        assert answer["lead_time"]["n"] == 1
        assert answer["lead_time"]["p50_seconds"] == 5 * HOUR
        assert answer["merge_to_production"]["p50_seconds"] == 3 * HOUR
        # Authored 0 -> opened 1 -> merged 2 -> live in dev 5; nothing comes before
        # development on the promotion path, so no `deploy:<environment>` stage. (The arrival
        # stage keeps its name, "production", in every tier.)
        stages = {s["name"]: s["p50_seconds"] for s in answer["value_stream"]["stages"]}
        assert stages == {"coding": HOUR, "review": HOUR, "production": 3 * HOUR}
    # The production figures of the same estate stay empty.
    production = metrics_command("--service", "shop", "--since", SINCE, "--until", UNTIL)
    assert production["lead_time"]["n"] == 0

    items = token_client("read").get("/api/v1/metrics/value_stream/items", params)
    assert items.status_code == 200, items.content


# ---------------------------------------------------------------------------------------------
# The service page of a service whose only production deployment failed
# ---------------------------------------------------------------------------------------------


def test_service_page_when_the_only_production_deployment_failed() -> None:
    post_events([commit("c1", hours=0), deployment("d1", "c1", hours=1, status="failure")])

    response = staff_client().get(
        "/dashboards/service", {"service": "shop", "until": when(days=8).isoformat()}
    )

    assert response.status_code == 200
    html = response.content.decode()
    table = html[html.index('id="targets-table"') :]
    table = table[: table.index("</table>")]
    # production, the (default) target: 0 successful, 1 failed, no newest version, no time.
    cells = re.findall(r"<td[^>]*>(.*?)</td>", table, flags=re.S)
    assert cells[0] == "production" and cells[2] == "(default)"
    assert cells[3:7] == ["0", "1", "–", "–"]
