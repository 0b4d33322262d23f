"""Dashboard pages on the demo estate: status, permissions (403), query bounds, no CDN."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.db import transaction
from django.test import Client

from dora.models import Service, Team
from dora.web.access import LEADERSHIP_GROUP, access_for
from tests.assets import assert_local_assets

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static")]

# The demo's clock: weeks of history up to a fixed hour, so every figure is reproducible.
NOW = "2026-03-02T12:00:00Z"
UNTIL = "2026-03-02T12:00:00Z"
# Query bounds per page, independent of the estate's size (each frame is one query). The team
# and service pages add their delivery targets (dora.targets): one query for the targets, then
# each scope with targets reads its frames once for the current windows and every week of the
# history together (payments: the team's and checkout's; 9 and 3 queries on the demo).
MAX_QUERIES = {"overview": 12, "team": 35, "service": 31, "explain": 15}


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker) -> Iterator[None]:
    """The demo estate, seeded once for this module inside a transaction rolled back at its end
    (each test runs in a savepoint within it, as Django's TestCase.setUpTestData does)."""
    with django_db_blocker.unblock(), transaction.atomic():
        call_command("seed_demo", weeks=13, now=NOW, stdout=io.StringIO(), stderr=io.StringIO())
        yield
        transaction.set_rollback(True)


def login(username: str, *, leadership: bool = False, staff: bool = False) -> Client:
    user = User.objects.create_user(username, password="pw", is_staff=staff)
    if leadership:
        user.groups.add(Group.objects.get_or_create(name=LEADERSHIP_GROUP)[0])
    client = Client()
    client.force_login(user)
    return client


def url(path: str, **params: str) -> str:
    return f"{path}?{urlencode({**params, 'until': UNTIL})}"


def test_dashboards_access_for_member_leadership_and_staff(demo) -> None:
    alice = User.objects.create_user("alice")  # a payments member in dora/demo.yml
    lead = User.objects.create_user("lead")
    lead.groups.add(Group.objects.create(name=LEADERSHIP_GROUP))

    mine = access_for(alice)
    assert mine.teams == {"payments"}
    assert mine.services == set(
        Service.objects.filter(team__name="payments").values_list("name", flat=True)
    )
    assert access_for(lead).everything
    assert access_for(User.objects.create_user("ops", is_staff=True)).everything
    assert not access_for(User.objects.create_user("nobody")).teams


def test_dashboard_pages_render_for_a_member_within_their_query_bound(
    demo, django_assert_max_num_queries
) -> None:
    client = login("alice")
    pages = {
        "overview": url("/dashboards/"),
        "team": url("/dashboards/team", team="payments"),
        "service": url("/dashboards/service", service="checkout"),
        "explain": url(
            "/dashboards/explain/lead_time",
            team="payments",
            since="2026-02-23T00:00:00Z",
        ),
        # The explain page that reads the most frames.
        "explain-value-stream": url("/dashboards/explain/value_stream", service="checkout"),
    }
    for name, path in pages.items():
        with django_assert_max_num_queries(MAX_QUERIES[name.split("-")[0]]):
            response = client.get(path)
        assert response.status_code == 200, (name, response.content[:500])
        html = response.content.decode()
        # The page's scripts and stylesheets, parsed: its CSRF token is random text.
        assets = assert_local_assets(html, context=name)
        assert ("script", "/static/plotly/plotly.min.js") in assets, name
        assert not re.search(r"""src=["']?(https?:)?//""", html), name
        # Links off the server (a change's pull request) open without passing our page along.
        for anchor in re.findall(r"""<a [^>]*href=["']?(?:https?:)?//[^>]*>""", html):
            assert 'rel="noopener noreferrer"' in anchor, (name, anchor)
        assert "/static/plotly/plotly.min.js" in html


def test_dashboard_overview_shows_only_the_members_teams(demo) -> None:
    html = login("alice").get(url("/dashboards/")).content.decode()

    assert "team=payments" in html
    assert "team=discovery" not in html and "team=legacy-core" not in html
    # The default benchmark, 2025, has no levels: services per band of their placement.
    assert "Services per 2025 placement" in html


def test_dashboard_overview_for_leadership_lists_every_team_with_five_figures(demo) -> None:
    response = login("lead", leadership=True).get(url("/dashboards/"))

    html = response.content.decode()
    for team in Team.objects.values_list("name", flat=True):
        assert f"team={team}" in html
    for label in (
        "Deployment frequency",
        "Lead time for changes",
        "Change failure rate",
        "Failed deployment recovery time",
        "Deployment rework rate",
    ):
        assert label in html
    assert "significant" in html  # every change against the previous period is qualified
    assert html.count('data-figure="figure-') == 5  # levels + four organisation trends


def test_dashboard_team_page_has_weeks_charts_and_drill_down_links(demo) -> None:
    response = login("alice").get(url("/dashboards/team", team="payments"))

    assert response.status_code == 200
    html = response.content.decode()
    assert "The window's last week against the week before" in html
    for chart in (
        "trend-lead_time",
        "trend-deployment_frequency",
        "lead-time-distribution",
        "deploy-calendar",
        "value-stream",
    ):
        assert f'data-figure="figure-{chart}"' in html
    assert "/dashboards/explain/lead_time?team=payments" in html
    assert "Integration frequency" in html and "Recent production rollouts" in html
    assert 'href="/dashboards/service?service=checkout&amp;range=4w&amp;end=' in html  # the window


def test_dashboard_member_gets_403_for_another_teams_pages_and_items(demo) -> None:
    client = login("alice")

    forbidden = [
        url("/dashboards/team", team="discovery"),
        url("/dashboards/service", service="search"),
        url("/dashboards/explain/lead_time", team="discovery"),
        url("/dashboards/explain/change_failure_rate", service="search"),
        url("/dashboards/explain/lead_time", team="payments", service="search"),
        url("/dashboards/explain/lead_time"),  # the whole organisation
        url("/dashboards/team", team="no-such-team"),  # unknown and forbidden look the same
    ]
    for path in forbidden:
        assert client.get(path).status_code == 403, path


def test_dashboard_leadership_and_staff_see_every_team(demo) -> None:
    for client in (login("lead", leadership=True), login("ops", staff=True)):
        for path in (
            url("/dashboards/team", team="discovery"),
            url("/dashboards/service", service="search"),
            url("/dashboards/explain/lead_time", team="discovery"),
            url("/dashboards/explain/lead_time"),
        ):
            assert client.get(path).status_code == 200, path
        assert client.get(url("/dashboards/team", team="no-such-team")).status_code == 404


def test_dashboard_explain_lists_items_with_the_definition(demo) -> None:
    client = login("alice")
    response = client.get(
        url(
            "/dashboards/explain/change_failure_rate",
            team="payments",
            since="2026-02-01T00:00:00Z",
        )
    )

    html = response.content.decode()
    assert "Failed production rollouts of kind change or config" in html
    assert 'id="items-table"' in html
    assert "first live at" in html and "failed" in html
    assert "/api/v1/metrics/change_failure_rate/items?" in html
    assert client.get("/dashboards/explain/bogus?team=payments").status_code == 404


def test_dashboard_bad_parameters_are_400_with_a_message(demo) -> None:
    client = login("lead", leadership=True)

    response = client.get("/dashboards/team?team=payments&until=yesterday")
    assert response.status_code == 400
    assert "is not an ISO date or timestamp" in response.content.decode()
    assert client.get("/dashboards/team").status_code == 400
    assert client.get("/dashboards/?benchmark=2020").status_code == 400


@pytest.mark.django_db
def test_dashboards_need_a_login_unless_public(client: Client, settings) -> None:
    response = client.get("/dashboards/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/dashboards/"

    settings.DORA_PUBLIC_DASHBOARDS = True
    assert client.get("/dashboards/").status_code == 200


def test_dashboards_public_anonymous_read_every_team(demo, client: Client, settings) -> None:
    settings.DORA_PUBLIC_DASHBOARDS = True

    assert client.get(url("/dashboards/team", team="discovery")).status_code == 200
    assert client.get(url("/dashboards/explain/lead_time", team="payments")).status_code == 200
    # Read-only: no log-out form for an anonymous visitor, nothing to post.
    assert "Log out" not in client.get(url("/dashboards/")).content.decode()


def test_dashboard_login_page_admits_a_member_who_is_not_staff(client: Client) -> None:
    User.objects.create_user("alice", password="s3cret-pass")

    response = client.post(
        "/accounts/login/",
        {"username": "alice", "password": "s3cret-pass", "next": "/dashboards/"},
    )

    assert response.status_code == 302 and response["Location"] == "/dashboards/"
    assert client.get("/dashboards/").status_code == 200
    assert client.post("/accounts/logout/").status_code == 302
    assert client.get("/dashboards/").status_code == 302


def test_dashboard_user_without_teams_sees_an_empty_overview(demo) -> None:
    response = login("nobody").get(url("/dashboards/"))

    assert response.status_code == 200
    assert "not a member of any team" in response.content.decode()


def test_dashboard_team_without_services_and_services_without_a_team(demo) -> None:
    Team.objects.create(name="newcomers", members=["zoe"])
    Service.objects.create(name="orphan-job", kind="infra")
    lead = login("lead", leadership=True)

    overview = lead.get(url("/dashboards/")).content.decode()
    assert "Without a team" in overview and "service=orphan-job" in overview
    empty = lead.get(url("/dashboards/team", team="newcomers"))
    assert empty.status_code == 200
    assert "No production rollouts in the window." in empty.content.decode()
    orphan = lead.get(url("/dashboards/service", service="orphan-job"))
    assert orphan.status_code == 200
    assert "No deployments in the window." in orphan.content.decode()
    # A member of the new team sees it, and nothing of the others.
    zoe = login("zoe")
    assert zoe.get(url("/dashboards/team", team="newcomers")).status_code == 200
    assert zoe.get(url("/dashboards/service", service="orphan-job")).status_code == 403


@pytest.mark.parametrize("benchmark", ["2022", "2024"])
def test_dashboard_overview_levels_are_the_metrics_reports(demo, benchmark: str) -> None:
    # The same team and window must get the same Quick Check level on the page and in the API,
    # including the 2022 table, whose recovery column is time to restore (incidents).
    from django.utils import timezone

    from dora.reads.report import metrics_report
    from dora.reads.report_query import metrics_query_parse

    response = login("lead-levels", leadership=True).get(
        url("/dashboards/", benchmark=benchmark, since="2026-01-05")
    )
    rows = {row["team"]: row["level"] for row in response.context["teams"] if row["team"]}

    assert rows
    for team, level in rows.items():
        query = metrics_query_parse(
            now=timezone.now(),
            team=team,
            since="2026-01-05",
            until=UNTIL,
            benchmark=benchmark,
            services=[],
        )
        assert level == metrics_report(query, now=timezone.now())["level"], team
