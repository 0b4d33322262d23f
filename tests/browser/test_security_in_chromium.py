"""The Content-Security-Policy in Chromium (dora.csp): every page of the demo estate, plotly's
charts, Swagger UI at /api/docs/ and the admin work under the policy the server sends, and
Chromium reports no violation, also while charts are hovered and exported as PNG. Screenshots go
to screenshots/ (both widths: charts drawn, styles applied)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command

from dora.web.access import LEADERSHIP_GROUP

ROOT = Path(__file__).resolve().parent.parent.parent
SCREENSHOT_DIR = Path(os.environ.get("DORA_SCREENSHOT_DIR", ROOT / "screenshots"))

# Reported by the page itself: each violation as an event, whatever the console says.
VIOLATIONS_JS = """
window.__cspViolations = [];
document.addEventListener('securitypolicyviolation', (e) => window.__cspViolations.push(
  [e.violatedDirective, e.blockedURI, e.sourceFile + ':' + e.lineNumber].join(' ')));
"""
CHARTS_JS = """
() => ({figures: document.querySelectorAll('[data-figure]').length,
        drawn: Array.from(document.querySelectorAll('[data-figure].js-plotly-plot'))
                 .filter((el) => el.querySelector('.main-svg')).length,
        modebars: document.querySelectorAll('.modebar-container').length})
"""
# Plotly's own rules are in force (inserted into its sheet), not only its markup.
PLOTLY_STYLED_JS = """
() => { const bar = document.querySelector('.modebar');
        return bar ? getComputedStyle(bar).position : null; }
"""
DASHBOARD_PAGES = {
    "overview": "/dashboards/",
    "team": "/dashboards/team?team=payments",
    "service": "/dashboards/service?service=checkout",
    "estate": "/dashboards/estate",
    "report": "/dashboards/report",
}
PLAIN_PAGES = {
    "estate-configuration": "/dashboards/estate/configuration",
    "gate": "/dashboards/gate",
    "explain": "/dashboards/explain/lead_time?team=payments",
    "forbidden": "/dashboards/team?team=not-a-team",
}


class Watch:
    """CSP violations (the page's events and Chromium's console) and page errors."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.console: list[str] = []
        page.add_init_script(VIOLATIONS_JS)
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.console.append(f"pageerror: {e}"))

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            self.console.append(message.text)

    def violations(self) -> list[str]:
        return [*self.page.evaluate("window.__cspViolations || []"), *self.console]


def log_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(base + "/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/dashboards/")


def visit(page: Any, url: str, name: str, width: int) -> Any:
    response = page.goto(url)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(SCREENSHOT_DIR / f"csp-{name}-{width}.png"), full_page=True)
    return response


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_every_page_works_under_the_policy_with_no_violation(
    plain_static, live_server, page
) -> None:
    call_command("seed_demo", weeks=4, stdout=io.StringIO(), stderr=io.StringIO())
    User.objects.create_user("alice", password="alice-pass")  # a payments member (demo.yml)
    lead = User.objects.create_superuser("lead", password="lead-pass")
    lead.groups.add(Group.objects.get_or_create(name=LEADERSHIP_GROUP)[0])
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    watch = Watch(page)

    response = page.goto(base + "/accounts/login/")
    assert "script-src 'self';" in response.headers["content-security-policy"]
    log_in(page, base, "lead", "lead-pass")

    for width in (1440, 390):
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in DASHBOARD_PAGES.items():
            assert visit(page, base + path, name, width).status == 200, path
            charts = page.evaluate(CHARTS_JS)
            assert charts["figures"] > 0 and charts["drawn"] == charts["figures"], (name, charts)
            assert page.evaluate(PLOTLY_STYLED_JS) == "absolute", name
            assert watch.violations() == [], (name, width)
        for name, path in PLAIN_PAGES.items():
            visit(page, base + path, name, width)
            # Our stylesheet applies (base.css, not an inline <style>): the header's layout.
            header = page.evaluate("getComputedStyle(document.querySelector('header')).display")
            assert header == "flex", name
            assert watch.violations() == [], (name, width)

    # Hover a chart and export it as PNG (plotly draws it through a blob: image).
    page.set_viewport_size({"width": 1440, "height": 900})
    page.goto(base + "/dashboards/team?team=payments")
    page.wait_for_load_state("networkidle")
    chart = page.locator(".js-plotly-plot").first
    chart.hover()
    with page.expect_download() as download:
        chart.locator(".modebar-btn[data-title='Download plot as a PNG']").click()
    assert download.value.suggested_filename.endswith(".png")
    # The print link works without an inline onclick.
    page.goto(base + "/dashboards/report")
    page.evaluate("window.print = () => { window.__printed = true; }")
    page.click("[data-print]")
    assert page.evaluate("window.__printed === true")
    assert watch.violations() == []

    # Swagger UI: its init script is a file; an operation opens.
    visit(page, base + "/api/docs/", "api-docs", 1440)
    page.wait_for_selector(".opblock")
    page.locator(".opblock-summary").first.click()
    page.wait_for_selector(".opblock-body")
    # The admin, as a superuser: the index, a change list and a change form.
    for name, path in (
        ("admin", "/admin/"),
        ("admin-teams", "/admin/dora/team/"),
        ("admin-team", "/admin/dora/team/add/"),
        ("admin-sources", "/admin/ingest/source/"),
    ):
        assert visit(page, base + path, name, 1440).status == 200, path
    assert watch.violations() == []

    # The watch sees a violation when there is one: an inline style is refused.
    page.evaluate(
        "() => { const s = document.createElement('style');"
        " s.textContent = 'body { color: red }'; document.head.appendChild(s); }"
    )
    page.wait_for_timeout(200)
    assert any("style-src" in v for v in watch.violations())
