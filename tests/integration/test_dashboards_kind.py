"""The kind filter (all | app | infra) of the overview, team and explain pages and of the metrics
API, and the overview's app/infra split, on a small estate computed by hand.

Hours after T0 (Mon 2026-03-02 09:00 UTC); every service's first production rollout is at
-48 h (before the window: unattributed), then direct pushes, (authored, live):

    web  app    team ops    (0, 1)  (2, 4)     lead times 1 h, 2 h    deployments
    etl  app    team data   (0, 20)            20 h                   deployments
    net  infra  team ops    (0, 3)  (10, 16)   3 h, 6 h               applies (automation runs)
    dns  infra  no team     (0, 30)            30 h                   applies

Window: range=custom, 2026-03-02 to 2026-03-08 (7 UTC days, every push inside it).
By hand: infra [3, 6, 30] h, median 6 h, 3 rollouts (3/week); app [1, 2, 20] h, median 2 h,
3 rollouts; all six [1, 2, 3, 6, 20, 30] h, median 4.5 h; ops' infra alone [3, 6] h, 4.5 h.
No rollout fails: change failure rate 0 of each kind's 3.
"""

from __future__ import annotations

import re
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

from dora.intake.events import events_record
from dora.models import ApiToken, Service, Team
from tests.builders import at, commit, deployment, sha

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static")]

HOUR = 3600.0
WINDOW = {"range": "custom", "start": "2026-03-02", "end": "2026-03-08"}
FIVE = ("deployment_frequency", "lead_time", "change_failure_rate", "recovery_time", "rework_rate")
PUSHES = {
    "web": ("app", [(0, 1), (2, 4)]),
    "etl": ("app", [(0, 20)]),
    "net": ("infra", [(0, 3), (10, 16)]),
    "dns": ("infra", [(0, 30)]),
}


def apply_run(ident: str, name: str, *, hours: float, service: str, repo: str) -> dict[str, Any]:
    """A successful production apply naming what it applied: the stack's deployment."""
    return {
        "type": "automation_run",
        "id": ident,
        "service": service,
        "environment": "production",
        "action": "apply",
        "status": "success",
        "started_at": at(hours - 0.25),
        "finished_at": at(hours),
        "trigger": "change",
        "version": f"v-{name}",
        "sha": sha(name),
        "repo": repo,
    }


@pytest.fixture(autouse=True)
def estate() -> None:
    kind_estate()


def kind_estate() -> None:
    """The module docstring's estate, through the event intake."""
    ops = Team.objects.create(name="ops", timezone="UTC")
    data = Team.objects.create(name="data", timezone="UTC")
    owners = {"web": ops, "etl": data, "net": ops, "dns": None}
    events: list[dict[str, Any]] = []
    for name, (kind, pushes) in PUSHES.items():
        repo = f"acme/{name}"
        Service.objects.create(name=name, team=owners[name], kind=kind, repos=[repo])
        ship = apply_run if kind == "infra" else deployment
        parent = f"{name}0"
        events += [
            commit(parent, hours=-50, repo=repo),
            ship(f"{name}-d0", parent, hours=-48, service=name, repo=repo),
        ]
        for i, (authored, live) in enumerate(pushes, start=1):
            events += [
                commit(f"{name}{i}", [parent], hours=authored, repo=repo),
                ship(f"{name}-d{i}", f"{name}{i}", hours=live, service=name, repo=repo),
            ]
            parent = f"{name}{i}"
    report = events_record(events)
    assert report.counts["rejected"] == 0, [i.reason for i in report.items if i.reason]


def staff() -> Client:
    client = Client()
    client.force_login(User.objects.get_or_create(username="ops-lead", is_staff=True)[0])
    return client


def api(params: dict[str, Any]) -> tuple[int, Any]:
    client = APIClient()
    _, raw = ApiToken.issue(name="kind-test", scope="read")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    response = client.get("/api/v1/metrics", {**WINDOW, **params})
    return response.status_code, response.json()


def figures(report: dict[str, Any]) -> dict[str, Any]:
    return {key: report[key] for key in FIVE}


def values(figure_list: list[Any]) -> dict[str, tuple[float | None, int]]:
    """A page's figures by key: (value, n)."""
    return {f.key: (f.value, f.n) for f in figure_list}


def hrefs(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="([^"]+)"', html)]


def test_api_kind_infra_equals_the_scope_of_the_infra_services() -> None:
    status, infra = api({"kind": "infra"})
    assert status == 200, infra
    lead = infra["lead_time"]
    assert (lead["n"], lead["p50_seconds"]) == (3, 6 * HOUR)  # [3, 6, 30] h
    assert infra["deployment_frequency"]["rollouts"] == 3
    assert infra["deployment_frequency"]["per_week"] == pytest.approx(3.0)  # 3 in 7 days
    assert infra["change_failure_rate"]["rollouts"] == 3
    assert infra["change_failure_rate"]["failed"] == 0
    assert infra["scope"]["kind"] == "infra"

    _, services = api({"service": ["net", "dns"]})
    assert figures(infra) == figures(services)

    _, app = api({"kind": "app"})
    assert (app["lead_time"]["n"], app["lead_time"]["p50_seconds"]) == (3, 2 * HOUR)
    _, both = api({})
    assert (both["lead_time"]["n"], both["lead_time"]["p50_seconds"]) == (6, 4.5 * HOUR)
    _, named_all = api({"kind": "all"})
    assert figures(named_all) == figures(both)


def test_api_kind_rejects_an_unknown_kind_with_a_message_naming_the_choices() -> None:
    status, body = api({"kind": "database"})

    assert status == 400
    assert body == {"detail": "kind 'database' must be one of all, app, infra", "parameter": "kind"}


def test_overview_splits_app_and_infra_and_each_equals_its_filtered_scope() -> None:
    response = staff().get("/dashboards/", WINDOW)
    assert response.status_code == 200
    split = response.context["kind_split"]

    assert [(c["kind"], c["services"]) for c in split["columns"]] == [("app", 2), ("infra", 2)]
    by_kind: dict[str, dict[str, tuple[float | None, int]]] = {"app": {}, "infra": {}}
    for row in split["rows"]:
        for column, cell in zip(split["columns"], row["cells"], strict=True):
            by_kind[column["kind"]][row["key"]] = (cell["figure"].value, cell["figure"].n)
            # Each figure opens the items of its kind, over the page's window.
            query = parse_qs(urlsplit(cell["url"]).query)
            assert query["kind"] == [column["kind"]] and query["start"] == ["2026-03-02"]
        assert row["label"]
    assert by_kind["infra"]["lead_time"] == (6 * HOUR, 3)
    assert by_kind["app"]["lead_time"] == (2 * HOUR, 3)
    assert by_kind["infra"]["deployment_frequency"] == (pytest.approx(3.0), 3)
    assert by_kind["infra"]["change_failure_rate"] == (0.0, 3)

    # The split's infra column is the API's figures of the infra services alone.
    _, services = api({"service": ["net", "dns"]})
    assert by_kind["infra"]["lead_time"] == (
        services["lead_time"]["p50_seconds"],
        services["lead_time"]["n"],
    )
    assert by_kind["infra"]["rework_rate"][1] == services["rework_rate"]["rollouts"]

    # Filtered: no split, and the team rows hold only infra services (ops: net alone, 3 h and
    # 6 h, median 4.5 h; dns has no team).
    filtered = staff().get("/dashboards/", {**WINDOW, "kind": "infra"})
    assert "kind_split" not in filtered.context or filtered.context["kind_split"] is None
    rows = {row["name"]: row for row in filtered.context["teams"]}
    assert set(rows) == {"ops", "Without a team"}
    assert rows["ops"]["services"] == ["net"] and rows["Without a team"]["services"] == ["dns"]
    ops = {cell["figure"].key: cell["figure"] for cell in rows["ops"]["cells"]}
    assert (ops["lead_time"].value, ops["lead_time"].n) == (4.5 * HOUR, 2)


def test_team_page_kind_filter_equals_the_team_services_of_that_kind() -> None:
    infra = staff().get("/dashboards/team", {**WINDOW, "team": "ops", "kind": "infra"})
    assert infra.status_code == 200
    cards = values([card["figure"] for card in infra.context["figures"]])
    assert cards["lead_time"] == (4.5 * HOUR, 2)  # net: [3, 6] h
    assert cards["deployment_frequency"][1] == 2
    assert [s["name"] for s in infra.context["services"]] == ["net"]

    app = staff().get("/dashboards/team", {**WINDOW, "team": "ops", "kind": "app"})
    cards = values([card["figure"] for card in app.context["figures"]])
    assert cards["lead_time"] == (1.5 * HOUR, 2)  # web: [1, 2] h


def test_kind_is_carried_by_the_pages_links() -> None:
    client = staff()
    overview = client.get("/dashboards/", {**WINDOW, "kind": "infra"}).content.decode()
    # The page's own links carry its window (the header's menus name neither window nor kind);
    # all but the kind control's and the note's "show all services" keep the kind.
    page = re.sub(
        r'<span class="switcher kind-filter".*?</span>|<p class="note" id="kind-note">.*?</p>',
        "",
        overview,
        flags=re.S,
    )
    links = [h for h in hrefs(page) if "range=" in h or "start=" in h]
    team_links = [h for h in links if h.startswith("/dashboards/team?")]
    explain_links = [h for h in links if h.startswith("/dashboards/explain/")]
    window_links = [h for h in links if "range=" in h and h.startswith("?")]
    assert team_links and explain_links and window_links
    for link in links:
        assert parse_qs(urlsplit(link).query).get("kind") == ["infra"], link
    # The control: All drops the filter, Apps swaps it, both keep the window.
    control = re.search(r'class="switcher kind-filter"(.*?)</span>', overview, re.S).group(1)
    choices = [parse_qs(urlsplit(h).query) for h in hrefs(control)]
    assert [q.get("kind") for q in choices] == [None, ["app"]]
    assert all(q["start"] == ["2026-03-02"] for q in choices)

    team = client.get("/dashboards/team", {**WINDOW, "team": "ops", "kind": "infra"})
    crumbs = {c["label"]: c["url"] for c in team.context["crumbs"]}
    assert parse_qs(urlsplit(crumbs["Overview"]).query)["kind"] == ["infra"]
    team_html = team.content.decode()
    for link in hrefs(team_html):
        if link.startswith("/dashboards/explain/"):
            assert parse_qs(urlsplit(link).query).get("kind") == ["infra"], link

    explain = client.get(
        "/dashboards/explain/lead_time", {**WINDOW, "team": "ops", "kind": "infra"}
    )
    assert explain.status_code == 200
    assert explain.context["scope_text"] == "team ops, infrastructure only"
    assert parse_qs(urlsplit(explain.context["back_url"]).query)["kind"] == ["infra"]
    for crumb in explain.context["crumbs"]:
        if crumb["url"]:
            assert parse_qs(urlsplit(crumb["url"]).query)["kind"] == ["infra"], crumb
    assert "kind=infra" in explain.context["api_url"]
    # The items are net's two changes alone.
    assert explain.context["count"] == 2


def test_pages_reject_an_unknown_kind() -> None:
    response = staff().get("/dashboards/", {**WINDOW, "kind": "databases"})

    assert response.status_code == 400
    assert "kind &#x27;databases&#x27; must be one of all, app, infra" in response.content.decode()
