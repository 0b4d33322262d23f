"""The kind filter in Chromium at phone width (390 px): the overview's apps/infrastructure table
fits without scrolling sideways, its "Infrastructure" column opens the overview of that kind, and
the kind stays in the URL through a team row and back up the breadcrumbs. The estate and its
figures are those of tests/integration/test_dashboards_kind.py. Screenshots go to screenshots/."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User

from tests.browser.test_dashboards_in_chromium import SCREENSHOT_DIR, Watch, log_in
from tests.integration.test_dashboards_kind import kind_estate

WINDOW = "range=custom&start=2026-03-02&end=2026-03-08"


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_kind_split_and_filter_on_a_phone(plain_static, live_server, page) -> None:
    kind_estate()
    User.objects.create_user("lead", password="lead-pass", is_staff=True)
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    watch = Watch(page, base)
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, base, "lead", "lead-pass")

    page.goto(f"{base}/dashboards/?{WINDOW}")
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SCREENSHOT_DIR / "kinds-overview-390.png"), full_page=True)
    split = page.locator("#kind-split")
    assert split.locator("thead").inner_text().split()[:3] == ["Figure", "Apps", "2"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    box = split.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390  # no column hidden to the right
    # Lead time, by hand: apps [1, 2, 20] h -> 2.0 h; infrastructure [3, 6, 30] h -> 6.0 h.
    lead = split.locator("tbody tr", has_text="Lead time for changes").inner_text()
    assert "2.0 h" in lead and "6.0 h" in lead

    split.locator("thead a", has_text="Infrastructure").click()
    page.wait_for_load_state("networkidle")
    assert _query(page.url)["kind"] == ["infra"] and _query(page.url)["start"] == ["2026-03-02"]
    assert page.locator("h1").inner_text() == "Organisation overview: infrastructure"
    assert page.locator("#kind-split").count() == 0
    page.screenshot(path=str(SCREENSHOT_DIR / "kinds-overview-infra-390.png"), full_page=True)

    page.locator("table.figures tbody th a", has_text="ops").click()
    page.wait_for_load_state("networkidle")
    assert _query(page.url)["kind"] == ["infra"] and _query(page.url)["team"] == ["ops"]
    assert page.locator("h1").inner_text() == "Team ops: infrastructure"
    overview = page.locator("nav.breadcrumbs a", has_text="Overview").first
    assert _query(overview.get_attribute("href"))["kind"] == ["infra"]
    assert not watch.errors and not watch.outside
