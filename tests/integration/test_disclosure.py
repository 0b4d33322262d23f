"""Who sees what (dora.web.access) through the real URLs: a user in no team sees nothing of the
estate, a member only their teams, and a name one may not see answers exactly like a name that
does not exist (no enumeration of teams or services)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group, User
from django.test import Client

from dora.models import Environment, GateDecision, Service, Target, Team, Tier
from dora.web.access import LEADERSHIP_GROUP

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static")]

# Names that occur nowhere else in a page, so finding one in the HTML is a leak.
MINE, THEIRS = "team-kestrel", "team-zephyr"
MY_SERVICE, THEIR_SERVICE, ORPHAN = "svc-puffin", "svc-quokka", "svc-orphan-wombat"
ENVIRONMENT, TARGET = "env-pelican", "target-narwhal"
THEIR_REPO = "acme/quokka-secret-repo"
SECRET_NAMES = (THEIRS, THEIR_SERVICE, ORPHAN, THEIR_REPO)
NOT_A_MEMBER = "not a member of any team"


@pytest.fixture
def estate() -> None:
    mine = Team.objects.create(name=MINE, members=["alice"])
    theirs = Team.objects.create(name=THEIRS, members=["bob"])
    Service.objects.create(name=MY_SERVICE, team=mine, kind="app", repos=["acme/puffin"])
    Service.objects.create(name=THEIR_SERVICE, team=theirs, kind="app", repos=[THEIR_REPO])
    Service.objects.create(name=ORPHAN, kind="infra")
    environment = Environment.objects.create(name=ENVIRONMENT, tier=Tier.PRODUCTION, order=4)
    Target.objects.create(environment=environment, name=TARGET)
    GateDecision.objects.create(
        evaluated_at=datetime(2026, 3, 2, tzinfo=UTC),
        service=THEIR_SERVICE,
        version="v9.9.9",
        from_env="staging",
        to_env=ENVIRONMENT,
        requested_by="ci",
        allowed=False,
        checks=[{"name": "soak_time", "passed": False, "severity": "block", "detail": "x"}],
    )


def login(username: str, *, leadership: bool = False) -> Client:
    user = User.objects.create_user(username, password="pw")
    if leadership:
        user.groups.add(Group.objects.get_or_create(name=LEADERSHIP_GROUP)[0])
    client = Client()
    client.force_login(user)
    return client


def leaked(html: str, names: tuple[str, ...] = SECRET_NAMES) -> list[str]:
    return [name for name in names if name in html]


# ---------------------------------------------------------------------------------------------
# The Estate section's configuration tab (once the home page)
# ---------------------------------------------------------------------------------------------


def test_home_shows_a_user_in_no_team_nothing_of_the_estate(estate: None) -> None:
    response = login("nobody").get("/dashboards/estate/configuration")

    assert response.status_code == 200
    html = response.content.decode()
    assert leaked(html, (*SECRET_NAMES, MINE, MY_SERVICE, ENVIRONMENT, TARGET)) == []
    assert NOT_A_MEMBER in html
    assert "administrator" in html  # whom to ask


def test_home_shows_a_member_only_their_teams_services(estate: None) -> None:
    html = login("alice").get("/dashboards/estate/configuration").content.decode()

    assert MINE in html and MY_SERVICE in html and "acme/puffin" in html
    assert leaked(html) == []
    assert "Without a team" not in html
    # The environments every team deploys to (as the estate matrix shows them to members).
    assert ENVIRONMENT in html and TARGET in html


def test_home_shows_leadership_the_whole_estate(estate: None) -> None:
    html = login("lead", leadership=True).get("/dashboards/estate/configuration").content.decode()

    for name in (MINE, THEIRS, MY_SERVICE, THEIR_SERVICE, ORPHAN, THEIR_REPO, ENVIRONMENT, TARGET):
        assert name in html, name
    assert "Without a team" in html


# ---------------------------------------------------------------------------------------------
# Every other page and endpoint a user in no team can reach
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/dashboards/",
        "/dashboards/estate",
        "/dashboards/gate",
        "/dashboards/explain/lead_time",
        "/dashboards/explain/deployment_frequency",
        "/dashboards/report",
        "/dashboards/report.csv",
        "/dashboards/report.pdf",
        "/api/v1/metrics",
        "/api/v1/metrics/lead_time/items",
        "/api/v1/metrics/deployment_frequency/items",
    ],
)
def test_a_user_in_no_team_sees_nothing_of_the_estate_anywhere(estate: None, path: str) -> None:
    for username in ("nobody", "alice"):
        response = login(username).get(path)

        assert response.status_code in (200, 403), (username, path, response.status_code)
        body = response.content.decode(errors="replace")
        assert leaked(body) == [], (username, path)


# ---------------------------------------------------------------------------------------------
# No enumeration: a name one may not see answers like a name that does not exist
# ---------------------------------------------------------------------------------------------

UNKNOWN_TEAM, UNKNOWN_SERVICE = "team-nonexistent", "svc-nonexistent"
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="[^"]*"')


def normalized(body: bytes, name: str) -> str:
    """The body with the requested name and the per-request CSRF token taken out."""
    text = body.decode(errors="replace").replace(name, "NAME")
    return CSRF.sub("csrf", text)


TEAM_URLS = [
    "/dashboards/team?team={}",
    "/dashboards/estate?team={}",
    "/dashboards/explain/lead_time?team={}",
    "/api/v1/metrics?team={}",
    "/api/v1/metrics/lead_time/items?team={}",
]
SERVICE_URLS = [
    "/dashboards/service?service={}",
    "/dashboards/gate?service={}",
    "/dashboards/explain/lead_time?service={}",
    "/api/v1/metrics?service={}",
    "/api/v1/metrics/lead_time/items?service={}",
    "/api/v1/metrics?service=" + MY_SERVICE + ",{}",
]


@pytest.mark.parametrize(
    ("pattern", "known", "unknown"),
    [(p, THEIRS, UNKNOWN_TEAM) for p in TEAM_URLS]
    + [(p, THEIR_SERVICE, UNKNOWN_SERVICE) for p in SERVICE_URLS],
)
def test_a_name_one_may_not_see_answers_like_an_unknown_name(
    estate: None, pattern: str, known: str, unknown: str
) -> None:
    for username in ("nobody", "alice"):
        client = login(username)
        other = client.get(pattern.format(known))
        missing = client.get(pattern.format(unknown))

        assert (other.status_code, missing.status_code) == (403, 403), (username, pattern)
        assert normalized(other.content, known) == normalized(missing.content, unknown), (
            username,
            pattern,
        )


@pytest.mark.parametrize(
    ("pattern", "unknown", "status"),
    [(p, UNKNOWN_TEAM, (400, 404)) for p in TEAM_URLS]
    + [(p, UNKNOWN_SERVICE, (400, 404)) for p in SERVICE_URLS if "gate" not in p],
)
def test_a_viewer_who_sees_everything_is_told_about_a_typo(
    estate: None, pattern: str, unknown: str, status: tuple[int, ...]
) -> None:
    response = login("lead", leadership=True).get(pattern.format(unknown))

    assert response.status_code in status
    assert unknown in response.content.decode()
