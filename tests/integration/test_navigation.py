"""Navigation through the real URLs: where a viewer lands after logging in (an explicit ?next=
wins), the Estate section's two tabs, the team switchers (header menu and team-page form) and
the breadcrumbs Overview › team › service › page."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from dora.models import GateDecision, Service, Team
from dora.web.access import LEADERSHIP_GROUP

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static")]


@pytest.fixture
def estate() -> None:
    payments = Team.objects.create(name="payments", members=["alice", "dora", "lead"])
    discovery = Team.objects.create(name="discovery", members=["dora"])
    Team.objects.create(name="platform", members=[])
    Service.objects.create(name="payments-api", team=payments, kind="app")
    Service.objects.create(name="search", team=discovery, kind="app")


def user(username: str, *, leadership: bool = False, staff: bool = False) -> User:
    made = User.objects.create_user(username, password="pw", is_staff=staff)
    if leadership:
        made.groups.add(Group.objects.get_or_create(name=LEADERSHIP_GROUP)[0])
    return made


def logged_in(username: str, **kwargs: bool) -> Client:
    client = Client()
    client.force_login(user(username, **kwargs))
    return client


def breadcrumb(html: str) -> list[str]:
    """The breadcrumb's labels, in order."""
    found = re.search(r'<nav aria-label="Breadcrumb"[^>]*>(.*?)</nav>', html, re.S)
    assert found, "no breadcrumb"
    return [
        unescape(re.sub(r"<[^>]+>", "", item)) for item in re.findall(r"<li>(.*?)</li>", found[1])
    ]


def header_teams(html: str) -> list[str]:
    """The teams the header's switcher lists."""
    menu = re.search(r'<details class="team-menu[^"]*">(.*?)</details>', html, re.S)
    return re.findall(r"\?team=[^\"]*\"[^>]*>([^<]+)</a>", menu[1]) if menu else []


# ---------------------------------------------------------------------------------------------
# Where a viewer lands
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("username", "kwargs", "landing"),
    [
        ("alice", {}, "/dashboards/team?team=payments"),  # exactly one team: its page
        ("dora", {}, "/dashboards/"),  # two teams: the overview
        ("lead", {"leadership": True}, "/dashboards/"),  # leadership, though in one team
        ("ops", {"staff": True}, "/dashboards/"),  # staff
        ("nobody", {}, "/dashboards/"),  # no team: the overview says whom to ask
    ],
)
def test_logging_in_lands_on_the_one_team_or_the_overview(
    estate: None, username: str, kwargs: dict[str, bool], landing: str
) -> None:
    user(username, **kwargs)
    client = Client()

    response = client.post("/accounts/login/", {"username": username, "password": "pw"})

    assert response.status_code == 302 and response["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 302 and home["Location"] == landing


def test_an_explicit_next_wins_over_the_landing_page(estate: None) -> None:
    user("alice")

    response = Client().post(
        "/accounts/login/?next=/dashboards/gate",
        {"username": "alice", "password": "pw", "next": "/dashboards/gate"},
    )

    assert response.status_code == 302 and response["Location"] == "/dashboards/gate"


def test_home_sends_an_anonymous_visitor_to_the_login(estate: None) -> None:
    response = Client().get("/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


# ---------------------------------------------------------------------------------------------
# The Estate section: one header entry, two tabs
# ---------------------------------------------------------------------------------------------


def test_estate_is_one_header_entry_with_two_tabs(estate: None) -> None:
    client = logged_in("lead", leadership=True)

    for path, current in (
        ("/dashboards/estate", "Matrix"),
        ("/dashboards/estate/configuration", "Configuration"),
    ):
        html = client.get(path).content.decode()
        header = html[html.index("<header>") : html.index("</header>")]
        assert header.count(">Estate</a>") == 1 and "Estate matrix" not in header, path
        assert 'aria-current="page">Estate</a>' in header, path  # the section is marked
        tabs = re.search(r'<nav class="tabs" aria-label="Estate">(.*?)</nav>', html, re.S)[1]
        assert re.findall(r">(\w+)</a>", tabs) == ["Matrix", "Configuration"], path
        assert f'aria-current="page">{current}</a>' in tabs, path
        assert breadcrumb(html) == ["Overview", "Estate", current], path


# ---------------------------------------------------------------------------------------------
# Team switchers
# ---------------------------------------------------------------------------------------------


def test_the_header_lists_the_teams_the_viewer_may_see(estate: None) -> None:
    assert header_teams(logged_in("dora").get("/dashboards/gate").content.decode()) == [
        "discovery",
        "payments",
    ]
    assert header_teams(logged_in("alice").get("/dashboards/gate").content.decode()) == ["payments"]
    leader = logged_in("lead", leadership=True).get("/dashboards/gate").content.decode()
    assert header_teams(leader) == ["discovery", "payments", "platform"]
    assert header_teams(logged_in("nobody").get("/dashboards/gate").content.decode()) == []


def test_a_team_page_switches_team_with_a_get_form_keeping_the_other_parameters(
    estate: None,
) -> None:
    html = logged_in("dora").get("/dashboards/team?team=payments&benchmark=2024").content.decode()

    form = re.search(
        r'<form class="team-switch[^"]*" method="get" action="([^"]+)">(.*?)</form>', html, re.S
    )
    assert form and form[1] == "/dashboards/team"
    options = re.findall(r'<option value="([^"]+)"( selected)?>', form[2])
    assert options == [("discovery", ""), ("payments", " selected")]
    assert '<input type="hidden" name="benchmark" value="2024">' in form[2]
    # One team only: nothing to switch to.
    alone = logged_in("alice").get("/dashboards/team?team=payments").content.decode()
    assert 'class="team-switch' not in alone


# ---------------------------------------------------------------------------------------------
# Breadcrumbs
# ---------------------------------------------------------------------------------------------


def test_breadcrumbs_name_the_team_and_the_service(estate: None) -> None:
    client = logged_in("alice")
    decision = GateDecision.objects.create(
        evaluated_at=datetime(2026, 3, 2, tzinfo=UTC),
        service="payments-api",
        version="v1.4.2",
        from_env="staging",
        to_env="production",
        requested_by="ci",
        allowed=False,
        checks=[{"name": "soak_time", "passed": False, "severity": "block", "detail": "x"}],
    )

    def crumbs(path: str) -> list[str]:
        response = client.get(path)
        assert response.status_code == 200, path
        return breadcrumb(response.content.decode())

    assert crumbs("/dashboards/team?team=payments") == ["Overview", "payments"]
    assert crumbs("/dashboards/service?service=payments-api") == [
        "Overview",
        "payments",
        "payments-api",
    ]
    assert crumbs("/dashboards/explain/lead_time?service=payments-api") == [
        "Overview",
        "payments",
        "payments-api",
        "Lead time for changes",
    ]
    assert crumbs("/dashboards/explain/lead_time?team=payments") == [
        "Overview",
        "payments",
        "Lead time for changes",
    ]
    assert crumbs(f"/dashboards/gate/{decision.id}") == [
        "Overview",
        "payments",
        "payments-api",
        "Gate decisions",
        "v1.4.2: staging → production",
    ]
    # Each crumb but the last links where it says; the last is the page itself.
    html = client.get("/dashboards/explain/lead_time?service=payments-api").content.decode()
    nav = re.search(r'<nav aria-label="Breadcrumb"[^>]*>(.*?)</nav>', html, re.S)[1]
    # Each link keeps the page's window (its range and end), so moving up keeps the same weeks.
    links = re.findall(r'href="([^"]+)"', nav)
    window = re.search(r"range=4w&amp;end=\d{4}-\d{2}-\d{2}", links[0])
    assert window, links
    assert links == [
        f"/dashboards/?{window[0]}",
        f"/dashboards/team?team=payments&amp;{window[0]}",
        f"/dashboards/service?service=payments-api&amp;{window[0]}",
    ]
    assert '<span aria-current="page">Lead time for changes</span>' in nav
