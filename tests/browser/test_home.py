"""The home page in Chromium: log in, land on the overview (leadership), open the Estate
section's configuration tab and see the estate."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.contrib.auth.models import User

from dora.models import Environment, Service, Team, Tier

SCREENSHOT_DIR = Path(os.environ.get("DORA_SCREENSHOT_DIR", "/tmp"))


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_estate_configuration_after_logging_in(plain_static, live_server, page) -> None:
    User.objects.create_superuser("admin", "admin@example.com", "s3cret-pass")
    team = Team.objects.create(name="payments", timezone="Europe/Berlin")
    Service.objects.create(name="checkout", team=team, repos=["acme/checkout"])
    Service.objects.create(name="ledger-stack", team=team, kind="infra", repos=["acme/infra"])
    Environment.objects.create(name="staging", tier=Tier.STAGING, order=3)
    Environment.objects.create(name="production", tier=Tier.PRODUCTION, order=4)

    page.goto(live_server.url + "/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", "admin")
    page.fill("#id_password", "s3cret-pass")
    page.click("button[type=submit]")
    page.wait_for_url(live_server.url + "/dashboards/")  # a superuser lands on the overview
    page.get_by_role("navigation", name="Sections").get_by_role("link", name="Estate").click()
    page.get_by_role("navigation", name="Estate").get_by_role("link", name="Configuration").click()
    page.wait_for_url(live_server.url + "/dashboards/estate/configuration")

    assert page.locator("h1").inner_text() == "Estate"
    team_section = page.locator("section.team", has_text="payments")
    assert team_section.get_by_role("cell", name="checkout", exact=True).count() == 1
    assert team_section.locator("code", has_text="acme/checkout").count() == 1
    environments = page.locator("#environments").inner_text()
    assert "staging" in environments and "production" in environments
    assert page.get_by_role("link", name="API docs").get_attribute("href") == "/api/docs/"
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT_DIR / "dora-home.png"), full_page=True)
