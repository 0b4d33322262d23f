"""The estate matrix, gate decisions and the leadership report in Chromium on the demo estate: a
team member opens the estate and the decisions (charts drawn with data, cells and decisions open
from the keyboard, no console error, nothing requested outside the server); the report is refused
to them; leadership reads it and downloads its PDF and CSV. Screenshots go to screenshots/."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command

from dora.reads.leadership_csv import CSV_HEADER
from dora.web.access import LEADERSHIP_GROUP
from tests.browser.test_dashboards_in_chromium import (
    SCREENSHOT_DIR,
    Watch,
    assert_charts_have_data,
    log_in,
    open_page,
)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_estate_gate_and_leadership_report_on_the_demo_estate(
    plain_static, live_server, page
) -> None:
    call_command("seed_demo", weeks=14, stdout=io.StringIO(), stderr=io.StringIO())
    User.objects.create_user("alice", password="alice-pass")  # a payments member (demo.yml)
    chief = User.objects.create_user("chief", password="chief-pass")
    chief.groups.add(Group.objects.get_or_create(name=LEADERSHIP_GROUP)[0])
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    page.set_viewport_size({"width": 1400, "height": 900})
    watch = Watch(page, base)

    log_in(page, base, "alice", "alice-pass")

    # Estate matrix: alice's services in every environment (payments runs no automation runs:
    # a note instead of an empty evidence chart; its deploy pipelines have a lag chart).
    drawn = open_page(page, base + "/dashboards/estate", "dashboard-estate-member")
    assert [chart["id"] for chart in drawn] == ["chart-automation-lag"]
    assert page.locator("#no-runs").is_visible()
    assert page.locator("h1").inner_text() == "Estate"
    assert page.locator("nav.tabs [aria-current=page]").inner_text() == "Matrix"
    rows = page.locator("#estate-matrix tbody th[scope=row]")
    assert sorted(rows.all_inner_texts()) == ["checkout", "ledger", "payments-api"]
    assert page.locator("#estate-matrix > thead > tr > th").count() == 4  # service + 3 envs
    # Every cell says its state in words, not only in colour.
    states = page.locator("#estate-matrix td.cell > .state").all_inner_texts()
    assert len(states) == 9 and set(states) <= {"Fresh", "Ageing", "Stale", "Not deployed"}
    # A cell's targets open from the keyboard.
    summary = page.locator("#estate-matrix td.cell details summary").first
    summary.focus()
    page.keyboard.press("Enter")
    assert page.locator("#estate-matrix td.cell details[open] table tbody tr").count() >= 1
    page.screenshot(path=str(SCREENSHOT_DIR / "dashboard-estate-member.png"), full_page=True)

    # Gate decisions: alice's services only; a blocked one opens to its checks.
    open_page(page, base + "/dashboards/gate", "dashboard-gate")
    services = set(
        page.locator("#decisions-table > tbody > tr > td:nth-child(2)").all_inner_texts()
    )
    assert services and services <= {"checkout", "ledger", "payments-api"}
    page.select_option("select[name=outcome]", "blocked")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state("networkidle")
    assert "outcome=blocked" in page.url
    outcomes = set(page.locator("#decisions-table .badge").all_inner_texts())
    assert outcomes == {"blocked"}
    first = page.locator("#decisions-table details").first
    first.locator("summary").focus()
    page.keyboard.press("Enter")
    assert first.locator("table.checks tbody tr").count() >= 5
    assert "failed (blocks)" in first.inner_text()
    page.screenshot(path=str(SCREENSHOT_DIR / "dashboard-gate-blocked.png"), full_page=True)

    assert watch.errors == [], watch.errors
    assert watch.outside == [], watch.outside

    # The leadership report is not alice's to read.
    refused = page.goto(base + "/dashboards/report")
    assert refused is not None and refused.status == 403
    assert "leadership group" in page.locator("main").inner_text()
    assert all("403 (Forbidden)" in error for error in watch.errors), watch.errors
    watch.errors.clear()

    page.goto(base + "/dashboards/")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/")
    log_in(page, base, "chief", "chief-pass")
    assert page.get_by_role("link", name="Leadership report").count() == 1

    # Leadership sees every service, the infra stacks' automation and its evidence.
    estate = open_page(page, base + "/dashboards/estate", "dashboard-estate")
    assert_charts_have_data(estate, "estate")
    assert {c["id"] for c in estate} == {"chart-automation-evidence", "chart-automation-lag"}
    assert page.locator("#estate-matrix tbody th[scope=row]").count() == 12
    assert page.locator("#estate-matrix td.cell-stale").count() >= 1  # the stale network stack

    report = open_page(page, base + "/dashboards/report", "dashboard-report")
    assert_charts_have_data(report, "report")
    assert page.locator("h1").inner_text().startswith("Leadership report: ")
    headline = page.locator("#headline-sentences li").all_inner_texts()
    assert len(headline) == 5 and headline[1].startswith("Lead time ")
    assert page.locator("#teams-table tbody tr").count() == 4
    assert page.locator("#improvements-list li").count() >= 1
    assert page.locator("#risk-sentences li").count() == 3
    # The three takeaways open the report, above the headline figures, at desk and phone widths.
    takeaways = page.locator("#takeaway-sentences li")
    assert takeaways.count() == 3
    first = takeaways.first.bounding_box()
    assert first and first["y"] < page.locator("#headline-sentences").bounding_box()["y"]
    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        assert takeaways.first.is_visible()
        # Nothing wider than the screen: a phone reads the takeaways without scrolling sideways.
        overflow = page.evaluate(
            "document.querySelector('.takeaways').scrollWidth - "
            "document.querySelector('.takeaways').clientWidth"
        )
        assert overflow <= 1, (width, overflow)
        page.screenshot(path=str(SCREENSHOT_DIR / f"dashboard-report-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 900})
    # Print: the page as paper shows the report without navigation or download links.
    page.emulate_media(media="print")
    assert not page.locator("header").is_visible()
    assert not page.locator(".downloads").is_visible()
    page.screenshot(path=str(SCREENSHOT_DIR / "dashboard-report-print.png"), full_page=True)
    page.emulate_media(media="screen")

    with page.expect_download() as pdf_download:
        page.click("#download-pdf")
    pdf = pdf_download.value
    assert pdf.suggested_filename.startswith("leadership-report-")
    assert pdf.suggested_filename.endswith(".pdf")
    with open(pdf.path(), "rb") as handle:
        body = handle.read()
    assert body.startswith(b"%PDF-") and body.rstrip().endswith(b"%%EOF")

    with page.expect_download() as csv_download:
        page.click("#download-csv")
    with open(csv_download.value.path(), encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and tuple(rows[0]) == CSV_HEADER
    # The three takeaways, then the organisation and four teams, five figures each.
    assert [r["team"] for r in rows[:3]] == ["(takeaway)"] * 3
    assert len(rows) == 3 + 5 * 5

    assert watch.errors == [], watch.errors
    assert watch.outside == [], watch.outside
