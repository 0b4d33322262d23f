"""One window rule in Chromium on the demo estate: every team's five DORA figures read the same on
the organisation overview and on the team's own page (its time zone's weeks), and "previous" moves
the stated window back a period and changes the URL. Screenshots go to screenshots/.

The clock is fixed on a Wednesday afternoon (the demo is seeded up to it): mid-week is when a
rolling window and whole weeks differ most, so the test does not depend on when it runs."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any
from unittest import mock

import pytest
from django.core.management import call_command
from django.utils import timezone

from tests.browser.test_dashboards_in_chromium import SCREENSHOT_DIR, Watch, log_in

NOW = datetime(2026, 12, 2, 15, 0, tzinfo=UTC)  # Wed 2 Dec 2026
# The page's scroll width and its widest elements' selectors (sideways scrolling at 390 px).
WIDEST_JS = """
() => [document.documentElement.scrollWidth,
  Array.from(document.querySelectorAll('body *'))
    .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
    .slice(0, 5).map(el => el.tagName + '.' + el.className)]
"""
KEYS = ("deployment_frequency", "lead_time", "change_failure_rate", "recovery_time", "rework_rate")


def _n(text: str) -> str:
    found = re.search(r"n=\d+", text)
    return found.group(0) if found else ""


def overview_figures(page: Any) -> dict[str, dict[str, tuple[str, str]]]:
    """Per team row of the overview: each figure's text and n, and the team page's link."""
    rows: dict[str, dict[str, tuple[str, str]]] = {}
    for row in page.locator("table.figures tbody tr").all():
        link = row.locator("th a")
        if link.count() == 0:
            continue  # services without a team have no team page
        figures = {}
        for key in KEYS:
            figure = row.locator(f'a[href*="/dashboards/explain/{key}?"]').first
            cell = row.locator("td", has=page.locator(f'a[href*="/dashboards/explain/{key}?"]'))
            figures[key] = (figure.inner_text().strip(), _n(cell.first.inner_text()))
        rows[link.inner_text().strip()] = figures
    return rows


def team_figures(page: Any) -> dict[str, tuple[str, str]]:
    """The team page's headline cards: each figure's text and n."""
    figures = {}
    for key in KEYS:
        card = page.locator(
            ".card", has=page.locator(f'.value a[href*="/dashboards/explain/{key}?"]')
        )
        value = card.first.locator(".value").inner_text().strip()
        figures[key] = (value, _n(card.first.locator(".meta").first.inner_text()))
    return figures


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_window_overview_and_team_pages_agree(plain_static, live_server, page) -> None:
    call_command(
        "seed_demo", weeks=14, now=NOW.isoformat(), stdout=io.StringIO(), stderr=io.StringIO()
    )
    # The live server runs in this process: its pages read this clock.
    with mock.patch.object(timezone, "now", lambda: NOW):
        _check_pages(live_server.url, page)


def _check_pages(base: str, page: Any) -> None:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1440, "height": 900})
    watch = Watch(page, base)
    log_in(page, base, "demo", "demo")  # leadership: every team

    page.goto(base + "/dashboards/")
    page.wait_for_load_state("networkidle")
    overview = overview_figures(page)
    assert len(overview) >= 4, overview  # payments, discovery, legacy-core, platform
    for team, expected in overview.items():
        page.goto(base + "/dashboards/team?team=" + team)
        page.wait_for_load_state("networkidle")
        assert team_figures(page) == expected, team

    # Following the overview's link keeps the window: the same figures again.
    page.goto(base + "/dashboards/")
    page.wait_for_load_state("networkidle")
    page.locator("table.figures tbody tr th a", has_text="payments").click()
    page.wait_for_load_state("networkidle")
    assert "range=4w" in page.url and "end=" in page.url
    assert team_figures(page) == overview["payments"]
    stated = page.locator(".window-control .window-text").inner_text()
    assert stated == "4 weeks, Mon 2 Nov – Sun 29 Nov 2026, Europe/Berlin", stated
    page.screenshot(path=str(SCREENSHOT_DIR / "window-team-1440.png"), full_page=True)

    # Previous: the stated window moves back four weeks and the URL names it; next comes back.
    before_url = page.url
    page.locator(".window-control a[rel=prev]").click()
    page.wait_for_load_state("networkidle")
    assert page.url != before_url and "end=2026-11-01" in page.url
    moved = page.locator(".window-control .window-text").inner_text()
    assert moved == "4 weeks, Mon 5 Oct – Sun 1 Nov 2026, Europe/Berlin", moved
    assert page.locator(".window-control a[rel=next]").count() == 1
    page.locator(".window-control a[rel=next]").click()
    page.wait_for_load_state("networkidle")
    assert page.locator(".window-control .window-text").inner_text() == stated
    # The newest window offers no "next": it would pass the current week.
    assert page.locator(".window-control a[rel=next]").count() == 0

    # The overview's previous period, and its stated window in the organisation's zone (UTC).
    page.goto(base + "/dashboards/")
    page.wait_for_load_state("networkidle")
    org_stated = page.locator(".window-control .window-text").inner_text()
    assert org_stated == "4 weeks, Mon 2 Nov – Sun 29 Nov 2026, UTC", org_stated
    page.locator(".window-control a[rel=prev]").click()
    page.wait_for_load_state("networkidle")
    assert "end=2026-11-01" in page.url
    assert (
        page.locator(".window-control .window-text").inner_text().startswith("4 weeks, Mon 5 Oct")
    )
    # Back in time, each team row still equals its team page (the link carries the window).
    earlier = overview_figures(page)
    for team, expected in earlier.items():
        page.locator("table.figures tbody tr th a", has_text=team).first.click()
        page.wait_for_load_state("networkidle")
        assert "end=2026-11-01" in page.url, page.url
        assert team_figures(page) == expected, team
        page.go_back()
        page.wait_for_load_state("networkidle")

    # Every page with the control, at 1440 and 390 px: at 390 it fits without sideways scrolling.
    pages = (
        ("/dashboards/", "overview"),
        ("/dashboards/team?team=payments", "team"),
        ("/dashboards/service?service=checkout", "service"),
        ("/dashboards/explain/lead_time?team=payments&range=12w", "explain"),
        ("/dashboards/gate?range=4w", "gate"),
    )
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for url, name in pages:
            response = page.goto(base + url)
            assert response is not None and response.status == 200, url
            page.wait_for_load_state("networkidle")
            box = page.locator(".window-control").bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box
            if width == 390:
                wide = page.evaluate(WIDEST_JS)
                print(name, wide)
            page.screenshot(path=str(SCREENSHOT_DIR / f"window-{name}-{width}.png"), full_page=True)
    assert watch.errors == [], watch.errors
