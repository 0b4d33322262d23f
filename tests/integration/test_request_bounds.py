"""Inputs that used to answer 500 (issue 13, finding 7): the development tier, NUL bytes, windows
outside what pandas and PostgreSQL can hold, a service whose only deployment failed, webhook
headers longer than their columns, JSON nested too deep. Each answers a figure or a 400 that
says what to fix; a management command raises CommandError."""

from __future__ import annotations

import io
import json
import re
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from rest_framework.test import APIClient

from dora.models import ApiToken, Service, Team
from ingest.models import WebhookDelivery
from tests.builders import change, commit, deployment, when
from tests.integration import test_github_webhook as github

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
    client.force_login(User.objects.get_or_create(username="ops", is_staff=True)[0])
    return client


def with_params(path: str, params: dict[str, str]) -> str:
    """`path` (which may hold a query string already) with `params` added."""
    return f"{path}{'&' if '?' in path else '?'}{urlencode(params)}"


def shop_of_payments() -> None:
    """shop (created by its events) belongs to the team payments, for the team page."""
    Service.objects.filter(name="shop").update(team=Team.objects.create(name="payments"))


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
    cells = [
        re.sub(r"<[^>]+>", "", cell)
        for cell in re.findall(r"<td[^>]*>(.*?)</td>", table, flags=re.S)
    ]
    assert cells[0] == "production" and cells[2] == "(default)"
    assert cells[3:7] == ["0", "1", "–", "–"]


# ---------------------------------------------------------------------------------------------
# Windows outside 1970 .. 2262 (pandas' timestamps end in April 2262)
# ---------------------------------------------------------------------------------------------

OUTSIDE = [
    ("since", "0001-01-01"),
    ("until", "9999-12-31"),
    ("since", "1969-12-31T23:59:59Z"),
    ("until", "2262-01-01T00:00:01Z"),
    ("since", "0001-01-01T00:00:00+01:00"),  # not even representable in UTC
    ("until", "9999-12-31T23:00:00-02:00"),
]


@pytest.mark.parametrize(("parameter", "value"), OUTSIDE)
def test_metrics_window_outside_the_range_is_400_and_command_error(
    parameter: str, value: str
) -> None:
    response = token_client("read").get("/api/v1/metrics", {parameter: value})
    items = token_client("read").get("/api/v1/metrics/lead_time/items", {parameter: value})

    for answer in (response, items):
        assert answer.status_code == 400, answer.content
        assert answer.json()["parameter"] == parameter
        assert "1970-01-01 to 2262-01-01" in answer.json()["detail"]
    with pytest.raises(CommandError, match=f"--{parameter}: .*1970-01-01 to 2262-01-01"):
        metrics_command(f"--{parameter}", value)


DASHBOARDS = [
    "/dashboards/",
    "/dashboards/team?team=payments",
    "/dashboards/service?service=shop",
    "/dashboards/estate",
    "/dashboards/explain/lead_time?service=shop",
]


@pytest.mark.parametrize(
    ("path", "parameter", "value"),
    [
        *((path, "until", "9999-12-31") for path in DASHBOARDS),
        *((path, "until", "0001-01-02") for path in DASHBOARDS),
        # The weekly pages (team, service) take no `since`: always 12 ISO weeks.
        *((path, "since", "0001-01-01") for path in DASHBOARDS if "/team" not in path
          and "/service" not in path),
    ],
)  # fmt: skip
def test_dashboard_window_outside_the_range_is_400(path: str, parameter: str, value: str) -> None:
    post_events([commit("c1", hours=0), deployment("d1", "c1", hours=1)])
    shop_of_payments()

    response = staff_client().get(with_params(path, {parameter: value}))

    assert response.status_code == 400
    assert "1970-01-01 to 2262-01-01" in response.content.decode()


@pytest.mark.parametrize("path", ["/dashboards/report", "/dashboards/report.csv"])
@pytest.mark.parametrize("day", ["0001-01-01", "1969-12-31", "9999-12-31"])
def test_leadership_report_date_outside_the_range_is_400(path: str, day: str) -> None:
    for period in ("month", "quarter"):
        response = staff_client().get(path, {"date": day, "period": period})
        assert response.status_code == 400
        assert "1970-01-01 to 2262-01-01" in response.content.decode()


def test_window_at_the_ends_of_the_range_is_answered() -> None:
    dev_timeline()
    shop_of_payments()
    client = staff_client()
    for params in ({"since": "1970-01-01"}, {"until": "2262-01-01"}, {"until": "1970-01-02"}):
        assert token_client("read").get("/api/v1/metrics", params).status_code == 200
        assert metrics_command(*[f"--{k}={v}" for k, v in params.items()])["window"]
        for path in DASHBOARDS:
            response = client.get(with_params(path, params))
            assert response.status_code == 200, (path, params)
    assert client.get("/dashboards/report", {"date": "1970-01-01"}).status_code == 200


# ---------------------------------------------------------------------------------------------
# NUL (%00) in the path, a query parameter or a cookie: PostgreSQL refuses NUL in text
# ---------------------------------------------------------------------------------------------

NUL_PAGES = [
    ("/dashboards/", "team"),
    ("/dashboards/team", "team"),
    ("/dashboards/service", "service"),
    ("/dashboards/estate", "service"),
    ("/dashboards/gate", "service"),
    ("/dashboards/report", "date"),
    ("/dashboards/report.csv", "benchmark"),
    ("/dashboards/explain/lead_time", "service"),
    ("/", "anything"),
    ("/dashboards/estate/configuration", "anything"),
]
NUL_API = [
    ("/api/v1/metrics", "service"),
    ("/api/v1/metrics", "team"),
    ("/api/v1/metrics", "target"),
    ("/api/v1/metrics/lead_time/items", "service"),
    ("/api/v1/metrics/lead_time/items", "page"),
]


@pytest.mark.parametrize(("path", "parameter"), NUL_PAGES)
def test_nul_in_a_dashboard_parameter_is_400_naming_it(path: str, parameter: str) -> None:
    post_events([commit("c1", hours=0), deployment("d1", "c1", hours=1)])

    response = staff_client().get(f"{path}?{parameter}=shop%00")

    assert response.status_code == 400
    assert f"query parameter '{parameter}' holds a NUL character" in response.content.decode()


@pytest.mark.parametrize(("path", "parameter"), NUL_API)
def test_nul_in_an_api_parameter_is_400_naming_it(path: str, parameter: str) -> None:
    post_events([commit("c1", hours=0), deployment("d1", "c1", hours=1)])

    response = token_client("read").get(f"{path}?{parameter}=%00shop")

    assert response.status_code == 400
    assert response.json()["parameter"] == parameter
    assert "NUL" in response.json()["detail"]


def test_nul_in_a_parameter_name_in_the_path_and_in_a_cookie_is_400() -> None:
    client = staff_client()
    name = client.get("/dashboards/?te%00am=x")
    path = token_client("read").get("/api/v1/metrics/lead%00time/items")
    # A quoted cookie value may spell NUL as an octal escape; the session store would look it up.
    cookie = Client().get("/dashboards/", HTTP_COOKIE='sessionid="abcdefghijkl\\000"')

    assert name.status_code == 400 and "'te%00am'" in name.content.decode()
    assert path.status_code == 400 and path.json()["parameter"] == "path"
    assert cookie.status_code == 400 and "cookie 'sessionid'" in cookie.content.decode()


# ---------------------------------------------------------------------------------------------
# The gate's JSON body: nesting, numbers and text json.loads accepts but nothing can answer
# ---------------------------------------------------------------------------------------------

GATE = {"service": "shop", "version": "v1", "from": "staging", "to": "production"}


def gate_post(body: str) -> Any:
    return token_client("gate").generic(
        "POST", "/api/v1/gates/promotion", body.encode(), content_type="application/json"
    )


def test_gate_body_nested_10000_deep_is_400() -> None:
    response = gate_post("[" * 10_000 + "]" * 10_000)
    nested_field = gate_post(json.dumps({**GATE, "version": 0})[:-1] + ', "x": ' + "[" * 100
                             + "]" * 100 + "}")  # fmt: skip

    assert response.status_code == 400
    assert response.json() == {"detail": "JSON parse error - nested deeper than 64 levels"}
    assert nested_field.status_code == 400
    assert "nesting deeper than 64 levels at $.x[0]" in nested_field.json()["detail"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ('{"service": "shop", "version": 1e999, "from": "staging", "to": "production"}',
         "a number that is not finite (inf) at $.version"),
        ('{"service": "shop", "version": "v1", "from": "staging", "to": "production", '
         '"\\ud800": 1}', "a lone surrogate (not Unicode text) in a key in $"),
        ('{"service": "shop", "version": "v1", "from": "staging", "to": "production", '
         '"pipeline_run": [-1e999]}', "a number that is not finite (-inf) at $.pipeline_run[0]"),
    ],
)  # fmt: skip
def test_gate_body_not_finite_or_not_unicode_is_400_saying_where(body: str, where: str) -> None:
    # shop, staging and production exist: the gate would decide and store the body it was given.
    post_events(
        [
            commit("c1", hours=0),
            deployment("s1", "c1", hours=1, environment="staging", version="v1"),
            deployment("p0", "c1", hours=2, environment="production", version="v0"),
        ]
    )

    response = gate_post(body)

    assert response.status_code == 400, response.content
    assert where in response.json()["detail"]


@pytest.mark.parametrize("field", ["service", "version", "from", "to", "pipeline_run"])
def test_gate_nul_in_a_field_is_400_naming_the_field(field: str) -> None:
    post_events([commit("c1", hours=0), deployment("d1", "c1", hours=1, environment="staging")])

    response = gate_post(json.dumps({**GATE, field: "shop\u0000"}))

    assert response.status_code == 400
    assert response.json() == {field: ["Null characters are not allowed."]}


# ---------------------------------------------------------------------------------------------
# GitHub webhook: headers longer than their columns, bodies jsonb cannot hold (signed bodies)
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def webhook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DORA_GITHUB_WEBHOOK_SECRET", github.SECRET)


@pytest.mark.usefixtures("webhook_secret")
@pytest.mark.parametrize(
    ("event", "delivery", "header", "limit"),
    [
        ("ping", "d" * 201, "X-GitHub-Delivery", 200),
        ("p" * 101, "d-1", "X-GitHub-Event", 100),
    ],
)
def test_webhook_header_longer_than_its_column_is_400_naming_it(
    event: str, delivery: str, header: str, limit: int
) -> None:
    status, answer = github.deliver(event, {"zen": "hi"}, delivery=delivery)

    assert status == 400
    assert answer["detail"].startswith(f"{header} is {limit + 1} characters long")
    assert not WebhookDelivery.objects.exists()
    # At the limit it is stored.
    status, _ = github.deliver(event[:limit], {"zen": "hi"}, delivery=delivery[:limit])
    assert status == 202 and WebhookDelivery.objects.count() == 1


@pytest.mark.usefixtures("webhook_secret")
def test_webhook_nul_in_a_header_is_400_naming_it() -> None:
    status, answer = github.deliver("ping", {"zen": "hi"}, delivery="d-\x00")

    assert status == 400 and answer["detail"] == "X-GitHub-Delivery holds a NUL character."
    assert not WebhookDelivery.objects.exists()


@pytest.mark.usefixtures("webhook_secret")
@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"zen": "a\\u0000b"}', "a NUL character (\\u0000) in $.zen"),
        (b'{"zen": NaN}', "a number that is not finite (nan) at $.zen"),
        (b'{"hook": {"id": 1e999}}', "a number that is not finite (inf) at $.hook.id"),
        (b'{"zen": "\\ud800"}', "a lone surrogate (not Unicode text) in $.zen"),
        (b'{"zen": ' + b"[" * 10_000 + b"]" * 10_000 + b"}", "nested deeper than 64 levels"),
    ],
)
def test_webhook_body_jsonb_cannot_hold_is_400_saying_where(body: bytes, problem: str) -> None:
    status, answer = github.deliver("ping", body)

    assert status == 400
    assert problem in answer["detail"]
    assert not WebhookDelivery.objects.exists()


@pytest.mark.usefixtures("webhook_secret")
def test_webhook_action_longer_than_its_column_is_kept_whole_in_the_payload() -> None:
    action = "x" * 150

    status, _ = github.deliver("check_run", {"action": action})

    assert status == 202
    delivery = WebhookDelivery.objects.get()
    assert delivery.action == action[:100] and delivery.payload["action"] == action


# ---------------------------------------------------------------------------------------------
# Items pages: a page that is not one is the caller's to fix (400), as the schema says
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("page", ["0", "-1", "abc", "3"])
def test_metric_items_page_outside_the_pages_is_400_naming_it(page: str) -> None:
    dev_timeline()  # one change, one rollout in dev: one page of items

    response = token_client("read").get(
        "/api/v1/metrics/lead_time/items", {"tier": "development", "page": page}
    )

    assert response.status_code == 400
    assert response.json()["parameter"] == "page"
    assert response.json()["detail"].endswith("pages run from 1 to 1")
