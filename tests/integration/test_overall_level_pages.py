"""Every page that shows an overall level says what it is: with a tier year the nearest cluster
of that year, its reasons one click away; with 2025 the placement of the figures' average."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from django.core.management import call_command
from django.db import transaction

from tests.integration.test_dashboards import login, url

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static")]


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker) -> Iterator[None]:
    with django_db_blocker.unblock(), transaction.atomic():
        call_command(
            "seed_demo",
            weeks=13,
            now="2026-03-02T12:00:00Z",
            stdout=io.StringIO(),
            stderr=io.StringIO(),
        )
        yield
        transaction.set_rollback(True)


def test_team_page_with_a_tier_year_names_the_nearest_cluster_and_explains_it(demo) -> None:
    client = login("lead", leadership=True)
    html = client.get(url("/dashboards/team", team="legacy-core", benchmark="2024")).content
    html = html.decode()
    assert "nearest 2024 cluster" in html
    assert '<details class="nearest">' in html  # the reasons, one click away
    assert 'id="overall-level"' in html  # inside it: a link to it opens it
    assert "pulled furthest" in html and "Distance" in html
    assert 'href="#overall-level">why?</a>' in html
    # The services table says what its levels are and links each to its reasons.
    assert "Level: nearest 2024 cluster" in html
    assert "benchmark=2024#overall-level" in html


def test_overview_and_service_pages_say_what_the_level_is(demo) -> None:
    client = login("lead", leadership=True)
    overview = client.get(url("/dashboards/", benchmark="2023")).content.decode()
    assert "Level: nearest 2023 cluster" in overview
    assert "team=legacy-core&amp;benchmark=2023#overall-level" in overview
    service = client.get(url("/dashboards/service", service="billing", benchmark="2022"))
    assert "nearest 2022 cluster" in service.content.decode()


def test_with_2025_the_overall_is_the_placement_not_a_cluster(demo) -> None:
    client = login("lead", leadership=True)
    html = client.get(url("/dashboards/team", team="legacy-core")).content.decode()
    assert "nearest 2025 cluster" not in html and 'id="overall-level"' not in html
    assert "Better than" in html or "Insufficient data" in html
