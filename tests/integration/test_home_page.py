"""The home page (a redirect to where the viewer starts, tests/integration/test_navigation.py;
the login for anyone else) and the Estate section's configuration tab, once the home page."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.contrib.staticfiles import finders
from django.templatetags.static import static
from django.test import Client

from dora.models import Environment, Service, Target, Team, Tier
from tests.assets import assert_local_assets


@pytest.mark.django_db
def test_home_redirects_anonymous_users_to_the_login(client: Client) -> None:
    response = client.get("/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/"


@pytest.mark.django_db
def test_estate_configuration_lists_teams_services_and_environments_to_leadership(
    client: Client,
) -> None:
    team = Team.objects.create(name="payments")
    Service.objects.create(name="checkout", team=team, kind="app", repos=["acme/checkout"])
    Service.objects.create(name="orphan-job", kind="infra")
    production = Environment.objects.create(name="production", tier=Tier.PRODUCTION, order=4)
    Target.objects.create(environment=production, name="eu-west-1")
    # Staff see the whole estate; members only their teams (tests/integration/test_disclosure.py).
    client.force_login(User.objects.create_user("alice", password="pw", is_staff=True))

    response = client.get("/dashboards/estate/configuration")

    assert response.status_code == 200
    html = response.content.decode()
    for text in ("payments", "checkout", "acme/checkout", "orphan-job", "Without a team"):
        assert text in html
    for text in ("production", "Production", "eu-west-1", "/api/docs/"):
        assert text in html


@pytest.mark.django_db
def test_api_docs_page_loads_swagger_ui_from_local_static_files(
    client: Client, plain_static
) -> None:
    client.force_login(User.objects.create_user("alice", password="pw"))

    response = client.get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assets = assert_local_assets(html)  # parsed: the page's CSRF token is random text
    assert any(
        url.startswith("/static/drf_spectacular_sidecar/swagger-ui-dist/") for _, url in assets
    )


@pytest.mark.django_db
def test_pages_name_the_favicon_from_our_static_files(client: Client) -> None:
    client.force_login(User.objects.create_user("alice", password="pw", is_staff=True))
    icon = static("dora/favicon.svg")

    for path in ("/dashboards/", "/admin/"):  # "/" redirects to a dashboard (h-nav)
        html = client.get(path).content.decode()
        assert ("link", icon) in assert_local_assets(html), path
    assert finders.find("dora/favicon.svg")
    # A response that names no icon (a PDF, a JSON error): browsers ask for /favicon.ico.
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"] == icon


@pytest.mark.django_db
def test_api_schema_is_served(client: Client) -> None:
    client.force_login(User.objects.create_user("alice", password="pw"))

    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert response.json()["info"]["title"] == "Delivery metrics API"
