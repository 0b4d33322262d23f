"""The dashboards in Chromium on the demo estate: a team member logs in, every page draws its
charts with data and logs no console error, the team page drills down to the items behind a
figure, another team's page is refused; leadership sees it. Screenshots go to screenshots/."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent.parent
SCREENSHOT_DIR = Path(os.environ.get("DORA_SCREENSHOT_DIR", ROOT / "screenshots"))

# Per chart on the page: drawn by plotly, and how many non-empty points its traces hold.
CHART_POINTS_JS = """
() => Array.from(document.querySelectorAll('.chart')).map(el => {
  const points = (el.data || []).reduce((total, trace) => {
    let values = trace.type === 'heatmap' ? (trace.z || []).flat()
      : (trace.orientation === 'h' ? (trace.x || []) : (trace.y || []));
    return total + values.filter(v => v !== null && v !== 0 && v !== undefined).length;
  }, 0);
  return {id: el.id, drawn: el.classList.contains('js-plotly-plot'),
          traces: (el.data || []).length, points: points,
          label: el.getAttribute('aria-label')};
})
"""


class Watch:
    """Console errors, page errors and requests that leave the test server."""

    def __init__(self, page: Any, base_url: str) -> None:
        self.errors: list[str] = []
        self.outside: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on(
            "request",
            lambda r: None if r.url.startswith((base_url, "data:")) else self.outside.append(r.url),
        )


def open_page(page: Any, url: str, name: str) -> list[dict[str, Any]]:
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    page.wait_for_load_state("networkidle")
    charts = page.evaluate(CHART_POINTS_JS)
    page.screenshot(path=str(SCREENSHOT_DIR / f"{name}.png"), full_page=True)
    return charts


def assert_charts_have_data(charts: list[dict[str, Any]], page_name: str) -> None:
    assert charts, f"{page_name}: no charts"
    for chart in charts:
        assert chart["drawn"], (page_name, chart)
        assert chart["traces"] > 0 and chart["points"] > 0, (page_name, chart)
        assert chart["label"], (page_name, chart)  # every chart is labelled for screen readers


def log_in(page: Any, base_url: str, username: str, password: str) -> None:
    page.goto(base_url + "/dashboards/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(base_url + "/dashboards/")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_dashboards_on_the_demo_estate(plain_static, live_server, page) -> None:
    call_command("seed_demo", weeks=14, stdout=io.StringIO(), stderr=io.StringIO())
    User.objects.create_user("alice", password="alice-pass")  # a payments member (demo.yml)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    page.set_viewport_size({"width": 1400, "height": 900})
    watch = Watch(page, base)

    log_in(page, base, "alice", "alice-pass")

    overview = open_page(page, base + "/dashboards/", "dashboard-overview")
    assert_charts_have_data(overview, "overview")
    assert page.locator("h1").inner_text() == "Organisation overview"
    assert page.locator("table.figures tbody tr").count() == 1  # alice's one team
    assert page.get_by_role("link", name="payments").count() == 1
    # The default benchmark is 2025: a placement per team and figure, in DORA's two groups.
    assert page.locator('.switcher[aria-label="Benchmark year"] strong').inner_text() == "2025"
    head = page.locator("table.figures thead").inner_text().lower()  # the groups are in capitals
    assert "throughput" in head and "instability" in head and "2025 placement" in head
    placement = page.locator("table.figures tbody tr td").first.inner_text()
    assert placement.startswith("Better than") or placement == "Insufficient data", placement
    assert "respondents" in page.locator("#placement").inner_text()
    # A year with tiers shows the levels again.
    page.get_by_role("link", name="2024").click()
    page.wait_for_load_state("networkidle")
    assert "benchmark=2024" in page.url
    head = page.locator("table.figures thead").inner_text().lower()
    assert "level" in head and "throughput" not in head
    level = page.locator("table.figures tbody tr td").first
    badge = level.locator(".badge").inner_text()
    assert badge in ("Elite", "High", "Medium", "Low", "Insufficient data"), badge
    if badge != "Insufficient data":  # a level says what it is: the nearest 2024 cluster
        assert level.inner_text().startswith("nearest 2024 cluster"), level.inner_text()
    page.screenshot(path=str(SCREENSHOT_DIR / "dashboard-overview-2024.png"), full_page=True)

    team = open_page(page, base + "/dashboards/team?team=payments", "dashboard-team")
    assert_charts_have_data(team, "team")
    assert len(team) >= 8  # five trends, lead-time distribution, calendar, value stream
    assert page.locator("#week-table tbody tr").count() == 5
    assert page.locator("#rollouts-table tbody tr").count() > 1

    # Drill down: the 12-week lead time card links to the changes behind it.
    card = page.locator(".card", has_text="Lead time for changes").first
    expected = card.locator(".value").inner_text()
    card.locator(".value a").click()
    page.wait_for_load_state("networkidle")
    assert "/dashboards/explain/lead_time?" in page.url and "team=payments" in page.url
    assert page.locator("h1").inner_text().startswith("Lead time for changes")
    assert "first commit authored" in page.locator(".definition").inner_text()
    assert page.locator("#items-table tbody tr").count() > 0
    # The explain page adds its items up to the figure the card showed.
    assert page.locator(".card .value").first.inner_text() == expected
    page.screenshot(path=str(SCREENSHOT_DIR / "dashboard-explain.png"), full_page=True)

    service = open_page(page, base + "/dashboards/service?service=checkout", "dashboard-service")
    assert_charts_have_data(service, "service")
    assert page.locator("#targets-table tbody tr").count() >= 3  # regions and environments

    assert watch.errors == [], watch.errors
    assert watch.outside == [], watch.outside

    # Another team's page and items are refused, with a page that says why.
    for refused_url in (
        "/dashboards/team?team=discovery",
        "/dashboards/explain/lead_time?team=discovery",
    ):
        refused = page.goto(base + refused_url)
        assert refused is not None and refused.status == 403
        assert "not a member of the team 'discovery'" in page.locator("main").inner_text()
    page.screenshot(path=str(SCREENSHOT_DIR / "dashboard-forbidden.png"))
    assert all("403 (Forbidden)" in error for error in watch.errors), watch.errors
    watch.errors.clear()

    # Leadership (the demo user is a superuser) sees the other team.
    page.goto(base + "/dashboards/")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/")
    log_in(page, base, "demo", "demo")
    discovery = open_page(page, base + "/dashboards/team?team=discovery", "dashboard-team-lead")
    assert_charts_have_data(discovery, "team (leadership)")
    assert watch.errors == [], watch.errors
