"""Every dashboard page at a phone's width (390 px) and a laptop's (1440 px) in Chromium, on the
demo estate: no page scrolls sideways (wide tables scroll inside their own box) and nothing lies
off-screen; the team switchers work without JavaScript. Screenshots go to
screenshots/layout-<page>-<width>.png."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from dora.models import GateDecision
from dora.reads.report_items import METRIC_NAMES

ROOT = Path(__file__).resolve().parent.parent.parent
SCREENSHOT_DIR = Path(os.environ.get("DORA_SCREENSHOT_DIR", ROOT / "screenshots"))
TEAMS = ("payments", "discovery", "legacy-core", "platform")  # dora/demo.yml

# How far the page reaches sideways, and when too far, what makes it: the chain of elements from
# <body> down whose hiding alone brings the page back within the viewport (named in the failure).
OVERFLOW_JS = """
() => {
  const width = document.documentElement.clientWidth;
  const wide = () => document.documentElement.scrollWidth > width;
  const scrollWidth = document.documentElement.scrollWidth;
  const chain = [];
  let root = document.body;
  while (wide() && root && chain.length < 12) {
    let culprit = null;
    for (const el of root.children) {
      const display = el.style.display;
      el.style.display = 'none';
      const fixed = !wide();
      el.style.display = display;
      if (fixed) { culprit = el; break; }
    }
    if (!culprit) break;
    const cls = typeof culprit.className === 'string' && culprit.className
      ? '.' + culprit.className.trim().split(/\\s+/).join('.') : '';
    chain.push(culprit.tagName.toLowerCase() + (culprit.id ? '#' + culprit.id : '') + cls);
    root = culprit;
  }
  return {scrollWidth: scrollWidth, offenders: chain.join(' > ')};
}
"""


def dashboard_pages() -> dict[str, str]:
    """Every dashboard page of the demo estate, by a short name."""
    pages = {"overview": "/dashboards/"}
    pages |= {f"team-{team}": f"/dashboards/team?team={team}" for team in TEAMS}
    pages["service"] = "/dashboards/service?service=payments-api"
    pages |= {
        f"explain-{name}": f"/dashboards/explain/{name}?service=payments-api"
        for name in METRIC_NAMES
    }
    pages["estate-matrix"] = "/dashboards/estate"
    pages["estate-configuration"] = "/dashboards/estate/configuration"
    pages["gate"] = "/dashboards/gate"
    decision = GateDecision.objects.filter(allowed=False).order_by("-evaluated_at").first()
    assert decision is not None, "the demo has blocked gate decisions"
    pages["gate-decision"] = f"/dashboards/gate/{decision.id}"
    pages["report"] = "/dashboards/report"
    pages["definitions"] = "/definitions/"
    return pages


def log_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(base + "/accounts/login/?next=/dashboards/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/dashboards/")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_no_dashboard_page_scrolls_sideways_at_390_or_1440_px(
    plain_static, live_server, browser, page
) -> None:
    call_command("seed_demo", weeks=4, stdout=io.StringIO(), stderr=io.StringIO())
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    base = live_server.url
    log_in(page, base, "demo", "demo")  # a superuser: sees every team (dora.web.access)
    pages = dashboard_pages()

    overflowing = {}
    for width in (390, 1440):
        page.set_viewport_size({"width": width, "height": 900})
        for name, path in pages.items():
            response = page.goto(base + path)
            assert response is not None and response.status == 200, (path, response)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(SCREENSHOT_DIR / f"layout-{name}-{width}.png"), full_page=True)
            found = page.evaluate(OVERFLOW_JS)
            if found["scrollWidth"] > width:
                overflowing[(name, width)] = found
    assert not overflowing, "\n".join(
        f"{name} at {width} px: scrollWidth {found['scrollWidth']}; {found['offenders']}"
        for (name, width), found in overflowing.items()
    )

    # On a phone without JavaScript: the header's Teams menu (a <details>) and a team page's
    # switcher (a GET form) both move to another team; the breadcrumb names it.
    context = browser.new_context(java_script_enabled=False, viewport={"width": 390, "height": 900})
    plain = context.new_page()
    log_in(plain, base, "demo", "demo")
    plain.goto(base + "/dashboards/team?team=payments")
    plain.locator(".team-menu summary").click()
    plain.locator(".team-menu").get_by_role("link", name="discovery").click()
    plain.wait_for_url(base + "/dashboards/team?team=discovery")
    plain.select_option("#team-switch", "platform")
    plain.get_by_role("button", name="Show").click()
    plain.wait_for_url(base + "/dashboards/team?team=platform")
    crumbs = plain.locator("nav[aria-label=Breadcrumb] li").all_inner_texts()
    assert crumbs == ["Overview", "platform"]
    assert plain.locator("h1").inner_text() == "Team platform"
    plain.screenshot(path=str(SCREENSHOT_DIR / "layout-no-script-team-390.png"), full_page=True)
    context.close()
