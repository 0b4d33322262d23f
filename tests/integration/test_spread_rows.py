"""Version spread's deployments (`estate_reads._spread_rows`), worked by hand on PostgreSQL.

The probe finds each target's latest deployment(s), ties included, and the first release of
every version since the oldest live version's first release; a version is its sha, or its
version when it has no sha; a failed deployment and one outside the half year count for nothing;
with a target, only that target's deployments count.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from dora.models import Deployment, Environment, Service, Target
from dora.reads import estate_reads, selectors
from dora.reads.scope import scope_resolve

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="the probe is PostgreSQL's"),
]

AT = datetime(2026, 11, 2, tzinfo=UTC)
DAY = timedelta(days=1)


def _deploy(
    name: str, service, target, *, day: float, sha: str = "", version: str = "", status="success"
):
    return Deployment.objects.create(
        source="spread",
        external_id=name,
        service=service,
        environment=target.environment,
        target=target,
        sha=sha,
        version=version,
        status=status,
        finished_at=AT - timedelta(days=40) + day * DAY,
    ).pk


def _rows(scope) -> set[int]:
    since = AT - selectors.SPREAD_HISTORY
    rows = estate_reads._spread_rows(scope, since=since, at=AT)
    history = selectors._deployments(scope).filter(
        status="success", finished_at__gte=since, finished_at__lt=AT
    )
    return set(history.filter(id__in=rows).values_list("id", flat=True))


def test_latest_per_target_and_first_releases_since_the_oldest_live_one() -> None:
    production = Environment.objects.create(name="production", tier="production", order=2)
    staging = Environment.objects.create(name="staging", tier="staging", order=1)
    eu = Target.objects.create(environment=production, name="eu")
    us = Target.objects.create(environment=production, name="us")
    stage = Target.objects.create(environment=staging, name="eu")
    shop = Service.objects.create(name="shop")
    other = Service.objects.create(name="other")
    a, b, z = "a" * 40, "b" * 40, "f" * 40

    ids = {
        # Released before the oldest live version's first release (day 1): not needed.
        "z-eu": _deploy("z-eu", shop, eu, day=0, sha=z),
        "a-eu": _deploy("a-eu", shop, eu, day=1, sha=a),  # A's first release: the cut
        "a-us": _deploy("a-us", shop, us, day=2, sha=a),  # A again: not a first release
        "b-eu": _deploy("b-eu", shop, eu, day=5, sha=b),  # B: released after the cut
        # 3.0 (no sha) first reaches us on day 4, then us again: only the first is needed.
        "c-us": _deploy("c-us", shop, us, day=4, version="3.0"),
        "c-us-again": _deploy("c-us-again", shop, us, day=4.5, version="3.0"),
        "b-us-failed": _deploy("b-us-failed", shop, us, day=5.5, sha=b, status="failure"),
        # us ends on two deployments at the same moment: both live (A again, and D).
        "a-us-again": _deploy("a-us-again", shop, us, day=6, sha=a),
        "d-us": _deploy("d-us", shop, us, day=6, version="4.0"),
        # 3.5, another version without a sha, first released after 3.0: a release of its own,
        # not 3.0 again (nor the same "no sha" version), though no target runs it any more.
        "e-eu": _deploy("e-eu", shop, eu, day=6.5, version="3.5"),
        # eu ends on a version without a sha: its version is what tells it apart.
        "c-eu": _deploy("c-eu", shop, eu, day=7, version="3.0"),
        # Another environment's and another service's deployments are their own.
        "stage": _deploy("stage", shop, stage, day=8, sha=b),
        "other": _deploy("other", other, eu, day=3, sha=a),
        # Outside the half year before AT: never read.
        "old": _deploy("old", shop, eu, day=-200, sha=a),
    }
    production_scope = scope_resolve(services=["shop"])

    assert _rows(production_scope) == {
        ids[name] for name in ("a-eu", "c-us", "b-eu", "a-us-again", "d-us", "e-eu", "c-eu")
    }

    # Only eu's deployments: its latest is 3.0 (day 7), released there on day 7: nothing before.
    assert _rows(replace(production_scope, target="eu")) == {ids["c-eu"]}
    # Both services: each service's own cut.
    assert _rows(scope_resolve(services=["shop", "other"])) == {
        ids[name]
        for name in ("a-eu", "c-us", "b-eu", "a-us-again", "d-us", "e-eu", "c-eu", "other")
    }
    # The staging tier: its one deployment.
    staging_scope = replace(production_scope, tier="staging", tier_named=True)
    assert _rows(staging_scope) == {ids["stage"]}
