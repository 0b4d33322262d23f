"""Delivery targets on the demo estate in Chromium at 1440 and 390 px: the payments team page
lists its targets and checkout's with a status in words (met and missed both appear), the lead
time card carries its target, the weekly strips draw, and nothing scrolls sideways.
Screenshots go to screenshots/targets-<page>-<width>.png."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from tests.browser.test_layout_in_chromium import OVERFLOW_JS, SCREENSHOT_DIR, log_in

PAGES = {
    "team": "/dashboards/team?team=payments",
    "service": "/dashboards/service?service=checkout",
    "platform": "/dashboards/team?team=platform",
}
TARGETS_JS = """
() => Array.from(document.querySelectorAll('#delivery-targets-list > li')).map(li => ({
  status: li.className.replace('target-item status-', ''),
  badge: li.querySelector('.target-status').innerText.trim(),
  label: li.querySelector('.target-label').innerText.replace(/\u00a0/g, ' ').trim(),
  weeks: li.querySelectorAll('.target-weeks .week').length,
  weekText: Array.from(li.querySelectorAll('.target-weeks .week')).map(w => w.innerText.trim()),
}))
"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_targets_on_the_team_and_service_pages(plain_static, live_server, page) -> None:
    call_command("seed_demo", weeks=14, stdout=io.StringIO(), stderr=io.StringIO())
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, base, "demo", "demo")

    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in PAGES.items():
            response = page.goto(base + path)
            assert response is not None and response.status == 200, (name, width)
            page.wait_for_load_state("networkidle")
            page.screenshot(
                path=str(SCREENSHOT_DIR / f"targets-{name}-{width}.png"), full_page=True
            )
            found = page.evaluate(OVERFLOW_JS)
            assert found["scrollWidth"] <= width, (name, width, found)
            items = page.evaluate(TARGETS_JS)
            assert items, (name, width)
            for item in items:
                # The status is told in words (and a symbol), never by colour alone.
                words = {"met": "Met", "missed": "Missed", "no_data": "Not enough data"}
                assert item["badge"].endswith(words[item["status"]]), item
                assert item["weeks"] == 8 and all(item["weekText"]), item
            if name == "team" and width == 1440:
                team = items
            if name == "service":
                assert {i["label"] for i in items} == {"Deployment frequency per week at least 10"}

    # Payments: its own four targets and checkout's; some met and some missed (dora/demo.yml).
    assert len(team) == 5
    assert {"met", "missed"} <= {i["status"] for i in team}
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(base + PAGES["team"])
    card = page.locator(".card", has=page.locator("h3", has_text="Lead time")).first
    assert "Target" in card.locator(".card-target").first.inner_text()
    assert not errors, errors
