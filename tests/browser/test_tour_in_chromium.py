"""A team lead's Monday morning on the demo, in Chromium, in five clicks: from the overview pick a
team, move back four weeks, click the lead-time figure, sort it by duration, and open the slowest
pull request. It also writes the README's tour screenshots (`make screenshots` writes them to
docs/screenshots/; otherwise they go to screenshots/tour/, which git ignores)."""

from __future__ import annotations

import io
import os
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command

from tests.browser.test_dashboards_in_chromium import SCREENSHOT_DIR, Watch, log_in

TOUR_DIR = Path(os.environ.get("DORA_TOUR_DIR", SCREENSHOT_DIR / "tour"))
PR_HOST = "https://github.acme.example/"  # the demo's pull requests (dora/demo.py)


def shot(page: Any, name: str) -> None:
    """A screenshot of what the viewer sees (the viewport, not the whole page: the README shows
    what fits on a screen)."""
    page.screenshot(path=str(TOUR_DIR / f"{name}.png"))


def window_end(url: str) -> date:
    return date.fromisoformat(parse_qs(urlsplit(url).query)["end"][0])


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_team_lead_reaches_the_slowest_pr_in_five_clicks(
    plain_static, live_server, page, settings
):
    # What a fresh clone shows: DORA's 2025 file is not in the repository (tests otherwise use a
    # synthetic one), so the pages default to the 2024 tiers unless ../shared has the file.
    settings.DORA_QUICK_CHECK_2025_FILE = ""
    call_command("seed_demo", stdout=io.StringIO(), stderr=io.StringIO())  # 26 weeks, demo / demo
    TOUR_DIR.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    page.set_viewport_size({"width": 1440, "height": 900})
    watch = Watch(page, base)
    opened: list[str] = []
    # The demo's pull requests live on a host that does not exist: answer for it here, so the
    # fifth click lands somewhere and nothing leaves the machine.
    page.route(
        PR_HOST + "**",
        lambda route: (
            opened.append(route.request.url),
            route.fulfill(status=200, content_type="text/html", body="<h1>pull request</h1>"),
        ),
    )

    log_in(page, base, "demo", "demo")  # a member of every team: lands on the overview
    page.wait_for_load_state("networkidle")
    assert page.locator("h1").first.inner_text().startswith("Organisation")
    shot(page, "1-overview")

    clicks = 0
    # 1. Pick a team: its row on the overview.
    page.locator("table.figures th[scope=row] a", has_text="legacy-core").first.click()
    clicks += 1
    page.wait_for_load_state("networkidle")
    assert "team=legacy-core" in page.url
    shot(page, "2-team")
    stated = page.locator("#window-text").inner_text()
    assert stated.startswith("4 weeks"), stated

    # 2. Move back four weeks.
    page.locator("a.window-step[rel=prev]").click()
    clicks += 1
    page.wait_for_load_state("networkidle")
    moved = page.locator("#window-text").inner_text()
    assert moved != stated and moved.startswith("4 weeks"), (stated, moved)
    end = window_end(page.url)
    assert "range=4w" in page.url and end.weekday() == 6  # ends on a Sunday, whole weeks
    assert end <= date.today() - timedelta(days=28)

    # 3. Click the lead-time figure.
    page.locator("a[title='the items behind lead time for changes']").first.click()
    clicks += 1
    page.wait_for_load_state("networkidle")
    assert "/dashboards/explain/lead_time" in page.url and "team=legacy-core" in page.url
    assert window_end(page.url) == end  # the window came along

    # 4. Sort by duration, slowest first.
    page.locator("#items-table thead th", has_text="lead time").locator("a").click()
    clicks += 1
    page.wait_for_load_state("networkidle")
    assert "sort=-duration" in page.url
    shot(page, "3-explain-slowest-first")

    # The slowest change of the window, from the metric items API over the same window.
    query = f"team=legacy-core&range=4w&end={end.isoformat()}"
    api = page.request.get(f"{base}/api/v1/metrics/lead_time/items?{query}&page_size=500")
    assert api.ok, api.status
    items = [i for i in api.json()["results"] if i.get("lead_time_seconds") is not None]
    assert api.json()["count"] == len(api.json()["results"])  # one page holds them all
    slowest = max(items, key=lambda i: i["lead_time_seconds"])

    # 5. Open the slowest pull request: the first row's change.
    first_change = page.locator("#items-table tbody tr").first.locator(f"a[href^='{PR_HOST}']")
    href = first_change.get_attribute("href")
    repo, number = slowest["change"].split("#")  # "acme/billing#12"
    assert href == f"{PR_HOST}{repo}/pull/{number}", (href, slowest)
    first_change.click()
    clicks += 1
    page.wait_for_load_state("load")
    assert opened and opened[-1] == href
    assert clicks == 5

    # The rest of the tour: estate, gate decisions, the leadership report (demo is staff); the
    # team page on a phone.
    for path, name in (
        ("/dashboards/estate", "4-estate"),
        ("/dashboards/gate", "5-gate-decisions"),
        ("/dashboards/report", "6-report"),
    ):
        response = page.goto(base + path)
        assert response is not None and response.status == 200, path
        page.wait_for_load_state("networkidle")
        shot(page, name)
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(base + "/dashboards/team?team=payments")
    page.wait_for_load_state("networkidle")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "7-team-phone")
    assert not watch.errors, watch.errors
    assert all(url.startswith(PR_HOST) for url in watch.outside), watch.outside
