"""The explain lists in Chromium on the demo estate: a team lead sorts the lead-time list by
duration from its header and the slowest change comes first; no column is off-screen at 1440 px
and at 390 px the table scrolls in its own box, not the page; the change failure list starts
with the failed rollouts; a tier year's overall level opens its reasons in one click.
Screenshots go to screenshots/."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from dora.units import duration_human
from tests.browser.test_dashboards_in_chromium import SCREENSHOT_DIR, Watch, log_in

# Every header's right edge, the table's, the page's width and the scroll box's.
LAYOUT_JS = """
() => {
  const table = document.querySelector('#items-table');
  const box = table.closest('.table-scroll');
  return {
    viewport: window.innerWidth,
    page: document.documentElement.scrollWidth,
    table: table.getBoundingClientRect().right,
    headers: Array.from(table.querySelectorAll('thead th')).map(
      th => [th.innerText.trim(), th.getBoundingClientRect().right]),
    box_scrolls: box.scrollWidth > box.clientWidth,
  };
}
"""


def layout(page: Any) -> dict[str, Any]:
    return page.evaluate(LAYOUT_JS)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_explain_lists_sort_and_fit_in_chromium(plain_static, live_server, page) -> None:
    call_command("seed_demo", weeks=14, stdout=io.StringIO(), stderr=io.StringIO())
    User.objects.create_user("ivan", password="ivan-pass")  # a legacy-core member (demo.yml)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    page.set_viewport_size({"width": 1440, "height": 900})
    watch = Watch(page, base)
    log_in(page, base, "ivan", "ivan-pass")

    page.goto(base + "/dashboards/explain/lead_time?team=legacy-core")
    page.wait_for_load_state("networkidle")
    header = page.locator("#items-table thead th", has_text="lead time")
    assert header.get_attribute("aria-sort") is None  # newest first by default, not by duration

    header.locator("a").click()  # one click: slowest first
    page.wait_for_load_state("networkidle")
    assert "sort=-duration" in page.url and "team=legacy-core" in page.url
    assert header.get_attribute("aria-sort") == "descending"
    assert header.locator(".sort-arrow").inner_text() == "▼"

    # The slowest change in the whole list (its JSON twin) is the first row.
    api = page.locator("a[href^='/api/v1/metrics/lead_time/items']").first.get_attribute("href")
    items = page.request.get(f"{base}{api}&page_size=1000").json()["results"]
    timed = [i for i in items if i.get("lead_time_seconds") is not None]
    slowest = max(i["lead_time_seconds"] for i in timed)
    slowest_changes = {
        i["change"][:10] if "#" not in i["change"] else i["change"]
        for i in timed
        if i["lead_time_seconds"] == slowest
    }
    first = page.locator("#items-table tbody tr").first.locator("td")
    assert first.nth(0).inner_text() in slowest_changes
    assert first.nth(1).inner_text() == duration_human(slowest)
    seconds = [i["lead_time_seconds"] for i in timed]
    assert slowest == max(seconds) and slowest > min(seconds)  # a real ordering, not a tie

    # 1440 px: no column off-screen.
    fit = layout(page)
    assert fit["table"] <= fit["viewport"], fit
    assert all(right <= fit["viewport"] for _, right in fit["headers"]), fit
    assert fit["page"] <= fit["viewport"], fit
    assert not fit["box_scrolls"], fit  # nor hidden inside the table's scroll box
    page.screenshot(path=str(SCREENSHOT_DIR / "explain-lead-time-1440.png"), full_page=True)

    # 390 px: the table scrolls inside its own box; the page does not scroll sideways.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    page.wait_for_load_state("networkidle")
    narrow = layout(page)
    assert narrow["page"] <= narrow["viewport"], narrow
    assert narrow["box_scrolls"], narrow
    page.screenshot(path=str(SCREENSHOT_DIR / "explain-lead-time-390.png"), full_page=True)

    # The change failure list: failed first, with a "failed only" filter kept in the URL.
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(base + "/dashboards/explain/change_failure_rate?team=legacy-core")
    page.wait_for_load_state("networkidle")
    failed = page.locator("#items-table thead th", has_text="failed")
    assert failed.get_attribute("aria-sort") == "descending"
    fit = layout(page)
    assert all(right <= fit["viewport"] for _, right in fit["headers"]), fit
    assert not fit["box_scrolls"], fit
    page.check("input[name=failed]")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state("networkidle")
    assert "failed=1" in page.url
    column = [h.split()[0] for h, _ in layout(page)["headers"]].index("failed")  # "failed ▼"
    cells = page.locator(f"#items-table tbody tr td:nth-child({column + 1})").all_inner_texts()
    assert cells and set(cells) == {"yes"}
    page.screenshot(path=str(SCREENSHOT_DIR / "explain-change-failure-1440.png"), full_page=True)

    # A tier year's overall level says what it is, and "why?" opens its reasons.
    page.goto(base + "/dashboards/team?team=legacy-core&benchmark=2024")
    page.wait_for_load_state("networkidle")
    headline = page.locator("#headline").inner_text()
    assert "nearest 2024 cluster" in headline, headline
    assert not page.locator("details.nearest").evaluate("d => d.open")
    page.locator("#headline a.why").click()
    assert page.locator("details.nearest").evaluate("d => d.open")
    assert page.locator("details.nearest table tfoot").inner_text().startswith("Distance")
    page.screenshot(path=str(SCREENSHOT_DIR / "team-nearest-cluster-2024.png"), full_page=True)

    assert watch.errors == [], watch.errors
    assert watch.outside == [], watch.outside
