"""Changes made outside the pipeline on the demo estate, in Chromium at 1440 and 390 px: the
estate matrix's legend and cells count them, the service page lists them (the open one marked
drifted, the one a deployment undid "applied since"), and neither page scrolls sideways.
Screenshots go to screenshots/out-of-band-<page>-<width>.png."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from tests.browser.test_layout_in_chromium import OVERFLOW_JS, SCREENSHOT_DIR, log_in

# The demo's three changes (dora.demo OUT_OF_BAND) fall in the 4 weeks ending Sunday 6 December.
NOW = "2026-12-07T03:00Z"
WINDOW = "range=4w&end=2026-12-06"
PAGES = {
    "estate": f"/dashboards/estate?{WINDOW}",
    "network-stack": f"/dashboards/service?service=network-stack&{WINDOW}",
    "checkout": f"/dashboards/service?service=checkout&{WINDOW}",
}


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_out_of_band_changes_show_on_the_estate_and_service_pages(
    plain_static, live_server, page
) -> None:
    call_command("seed_demo", weeks=4, now=NOW, stdout=io.StringIO(), stderr=io.StringIO())
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    log_in(page, base, "demo", "demo")

    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        seen = {}
        for name, path in PAGES.items():
            response = page.goto(base + path)
            assert response is not None and response.status == 200, path
            page.wait_for_load_state("networkidle")
            page.screenshot(
                path=str(SCREENSHOT_DIR / f"out-of-band-{name}-{width}.png"), full_page=True
            )
            assert page.evaluate(OVERFLOW_JS)["scrollWidth"] <= width, (name, width)
            if name == "estate":
                seen[name] = page.locator("#out-of-band-total").inner_text()
                seen["cells"] = page.locator(
                    "td.cell span.line", has_text="outside the pipeline"
                ).all_inner_texts()
            else:
                rows = page.locator("#out-of-band-table tbody tr").all_inner_texts()
                seen[name] = [" ".join(row.split()) for row in rows]

        assert seen["estate"].startswith("3 changes made outside the pipeline in the window")
        assert sorted(seen["cells"]) == ["1 change outside the pipeline"] * 3
        # 2 days 5 hours before NOW, not undone: drifted. Checkout's, 9 days 3 hours before
        # NOW, was followed by a deployment to eu-west-1.
        assert seen["network-stack"] == [
            "4 Dec 22:00 UTC ec2:AuthorizeSecurityGroupIngress production/us-east-1 "
            "arn:aws:sts::210987654321:assumed-role/Admin/priya drifted demo"
        ]
        assert seen["checkout"] == [
            "28 Nov 00:00 UTC ssm:PutParameter production/eu-west-1 "
            "arn:aws:sts::210987654321:assumed-role/Admin/marta applied since demo"
        ]
    assert errors == []
