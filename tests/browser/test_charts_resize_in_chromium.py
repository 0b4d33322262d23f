"""Charts resize with their card in Chromium: on the team page and the overview of the demo
estate, at 1440 px and after resizing to 900 and 390 px, every chart stays inside its card,
no card leaves the page, and no heading (h1-h3) overlaps a chart. Screenshots go to screenshots/."""

from __future__ import annotations

import contextlib
import io
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.test_dashboards_in_chromium import SCREENSHOT_DIR, Watch, log_in

# Per chart (.chart): the box of its card (the <figure> around it) and of plotly's drawing in it;
# the page's width.
# Boxes are page coordinates (scroll added) so headings far down the page compare too.
GEOMETRY_JS = """
() => {
  const box = el => {
    const r = el.getBoundingClientRect();
    return {left: r.left + scrollX, top: r.top + scrollY,
            right: r.right + scrollX, bottom: r.bottom + scrollY};
  };
  return {
    width: document.documentElement.clientWidth,
    scrollWidth: document.documentElement.scrollWidth,
    // What sticks out (outermost first), to say why a page scrolls sideways.
    wide: Array.from(document.querySelectorAll('body *'))
      .filter(el => !el.parentElement.closest('.table-scroll, .chart-card'))
      .filter(el => el.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
      .slice(0, 3).map(el => el.tagName + '.' + el.className + '#' + el.id),
    charts: Array.from(document.querySelectorAll('.chart')).map(el => ({
      id: el.id,
      drawn: el.classList.contains('js-plotly-plot'),
      card: box(el.closest('figure') || el),
      svgs: Array.from(el.querySelectorAll('svg.main-svg')).map(box),
    })),
    headings: Array.from(document.querySelectorAll('h1, h2, h3'))
      .filter(h => h.getClientRects().length)
      .map(h => ({text: h.innerText, box: box(h)})),
  };
}
"""
SLACK = 1.0  # px: sub-pixel rounding of borders


def inside(inner: dict[str, float], outer: dict[str, float]) -> bool:
    return (
        inner["left"] >= outer["left"] - SLACK
        and inner["top"] >= outer["top"] - SLACK
        and inner["right"] <= outer["right"] + SLACK
        and inner["bottom"] <= outer["bottom"] + SLACK
    )


def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
    return (
        min(a["right"], b["right"]) - max(a["left"], b["left"]) > SLACK
        and min(a["bottom"], b["bottom"]) - max(a["top"], b["top"]) > SLACK
    )


def layout_problems(geometry: dict[str, Any]) -> list[str]:
    """Every chart drawn inside its card, every card inside the page, no heading over a chart."""
    problems = []
    if geometry["scrollWidth"] > geometry["width"] + SLACK:
        problems.append(
            f"page scrolls sideways: {geometry['scrollWidth']} > {geometry['width']}"
            f" ({geometry['wide']})"
        )
    for chart in geometry["charts"]:
        if not chart["drawn"] or not chart["svgs"]:
            problems.append(f"{chart['id']} not drawn")
        card = chart["card"]
        if card["right"] > geometry["width"] + SLACK or card["left"] < -SLACK:
            problems.append(f"{chart['id']} card leaves the page: {card}")
        for svg in chart["svgs"]:
            if not inside(svg, card):
                problems.append(f"{chart['id']} drawing {svg} outside its card {card}")
        for heading in geometry["headings"]:
            if overlap(heading["box"], card):
                problems.append(f"heading {heading['text']!r} overlaps {chart['id']}")
    return problems


# True once every chart's drawing is as wide as its card's inside (plotly resizes after a
# debounce of its own): what settle() waits for before the boxes are measured.
CHARTS_FIT_JS = """
() => Array.from(document.querySelectorAll('.chart')).every(el => {
  const svg = el.querySelector('svg.main-svg');
  return svg && Math.abs(svg.getBoundingClientRect().width - el.clientWidth) <= 1;
})
"""


def settle(page: Any) -> None:
    """Wait (up to 15 s, polling) until the charts have followed their cards; if they never
    do, the boxes measured next say how they failed."""
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(CHARTS_FIT_JS, timeout=15_000)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_charts_stay_inside_their_cards_when_the_window_resizes(
    plain_static, live_server, page
) -> None:
    call_command("seed_demo", weeks=14, stdout=io.StringIO(), stderr=io.StringIO())
    User.objects.create_user("alice", password="alice-pass")  # a payments member (demo.yml)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    page.set_viewport_size({"width": 1440, "height": 900})
    watch = Watch(page, base)
    log_in(page, base, "alice", "alice-pass")

    problems: list[str] = []
    for name, url in (
        ("team", "/dashboards/team?team=payments"),
        ("overview", "/dashboards/"),
    ):
        page.set_viewport_size({"width": 1440, "height": 900})
        response = page.goto(base + url)
        assert response is not None and response.status == 200
        page.wait_for_load_state("networkidle")
        page.wait_for_selector(".chart.js-plotly-plot")
        settle(page)
        page.screenshot(path=str(SCREENSHOT_DIR / f"charts-{name}-1440.png"), full_page=True)
        problems += [f"{name} 1440: {p}" for p in layout_problems(page.evaluate(GEOMETRY_JS))]
        if name == "team":
            # A trend's hover label is for people: "7.2 h (n=41)", not "7.2345 hours".
            chart = page.locator("#chart-trend-lead_time .nsewdrag").first
            chart.scroll_into_view_if_needed()
            box = chart.bounding_box()
            assert box is not None
            page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] / 2, steps=5)
            # x unified hover: plotly draws the label as SVG text in the chart's hover layer.
            hover_js = (
                "() => (document.querySelector('#chart-trend-lead_time .hoverlayer')"
                " || {}).textContent || ''"
            )
            page.wait_for_function(f"() => ({hover_js})().length > 0")
            hover = page.evaluate(hover_js)
            page.screenshot(path=str(SCREENSHOT_DIR / "charts-team-hover.png"))
            assert re.search(r"\d (min|h|days) \(n=\d+\)", hover), hover
            assert "week of " in hover, hover
            page.mouse.move(0, 0)
        for width in (900, 390):
            # Resized, not reloaded: the charts drawn at 1440 px must follow their cards.
            page.set_viewport_size({"width": width, "height": 900})
            settle(page)
            page.screenshot(
                path=str(SCREENSHOT_DIR / f"charts-{name}-{width}-resized.png"), full_page=True
            )
            geometry = page.evaluate(GEOMETRY_JS)
            assert geometry["charts"], f"{name}: no charts"
            problems += [f"{name} {width}: {p}" for p in layout_problems(geometry)]
        # ... and back up: charts grow with their card again.
        page.set_viewport_size({"width": 1440, "height": 900})
        settle(page)
        grown = page.evaluate(GEOMETRY_JS)
        problems += [f"{name} 1440 again: {p}" for p in layout_problems(grown)]
        for chart in grown["charts"]:
            card_width = chart["card"]["right"] - chart["card"]["left"]
            svg_width = max(s["right"] - s["left"] for s in chart["svgs"])
            if svg_width < card_width - 40:
                problems.append(
                    f"{name}: {chart['id']} did not grow back ({svg_width} in {card_width})"
                )

    assert problems == [], "\n".join(problems)
    assert watch.errors == [], watch.errors
    assert watch.outside == [], watch.outside
