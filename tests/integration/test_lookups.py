"""dora.lookups: `__any` and `__any_indexed` select what `__in` selects, for a list (Many) and,
with `__any_indexed`, for a query; on PostgreSQL as one array, read through the index."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from dora.lookups import Many
from dora.models import Service, Team

pytestmark = pytest.mark.django_db


@pytest.fixture
def teams() -> dict[str, Team]:
    made = {name: Team.objects.create(name=name) for name in ("amber", "blue", "cyan")}
    Service.objects.create(name="shop", team=made["amber"])
    Service.objects.create(name="cart", team=made["cyan"])
    Service.objects.create(name="auth", team=made["cyan"])
    return made


def test_any_indexed_selects_the_listed_ids(teams: dict[str, Team]) -> None:
    ids = Many([teams["amber"].pk, teams["cyan"].pk])

    with CaptureQueriesContext(connection) as queries:
        names = set(Team.objects.filter(pk__any_indexed=ids).values_list("name", flat=True))

    assert names == {"amber", "cyan"}
    if connection.vendor == "postgresql":  # the list as a subquery's value, not a literal
        assert "= ANY((SELECT " in queries.captured_queries[0]["sql"]


def test_any_indexed_on_a_foreign_key_takes_many(teams: dict[str, Team]) -> None:
    services = Service.objects.filter(team_id__any_indexed=Many([teams["cyan"].pk]))

    assert set(services.values_list("name", flat=True)) == {"cart", "auth"}
    assert not Service.objects.filter(team__any_indexed=Many([])).exists()


def test_any_indexed_takes_a_query_of_ids(teams: dict[str, Team]) -> None:
    blue = Team.objects.filter(name="blue").values_list("pk", flat=True)
    of_cart = Service.objects.filter(name="cart").values_list("team_id", flat=True)

    with CaptureQueriesContext(connection) as queries:
        names = set(
            Team.objects.filter(pk__any_indexed=blue.union(of_cart)).values_list("name", flat=True)
        )

    assert names == {"blue", "cyan"}
    if connection.vendor == "postgresql":
        assert "= ANY(ARRAY(" in queries.captured_queries[0]["sql"]


def test_any_and_any_indexed_select_the_same_as_in(teams: dict[str, Team]) -> None:
    ids = [teams["blue"].pk, teams["cyan"].pk, 10**9]

    by_in = set(Team.objects.filter(pk__in=ids).values_list("name", flat=True))
    by_any = set(Team.objects.filter(pk__any=Many(ids)).values_list("name", flat=True))
    indexed = set(Team.objects.filter(pk__any_indexed=Many(ids)).values_list("name", flat=True))

    assert by_in == by_any == indexed == {"blue", "cyan"}
