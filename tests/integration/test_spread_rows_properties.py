"""Property test: version spread from the probe's few rows (`estate_reads._spread_rows`) is
version spread from the whole half year, for any history of deployments.

Histories mix shas and versions without a sha (and a version named like a sha), failures, ties,
versions first released before the half year and deployed again inside it, targets left behind
on old versions, two services, two environments; the moment is drawn too. The rows (the
figure) are compared; the items' release numbers may differ by the releases the probe leaves
out before the oldest live one. PostgreSQL only.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from dora.metrics.estate import version_spread
from dora.models import Deployment, Environment, Service, Target
from dora.reads import estate_reads
from dora.reads.scope import scope_resolve
from dora.reads.selectors import SPREAD_HISTORY

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the probe is PostgreSQL's"
)

END = datetime(2026, 11, 2, tzinfo=UTC)
DAY = timedelta(days=1)
SHA_A, SHA_B = "a" * 40, "b" * 40
# (sha, version): a version's key is its sha, else its version; "a"*40 as a version is sha A.
VERSIONS = [(SHA_A, "1.0"), (SHA_B, "2.0"), (SHA_A, ""), ("", "3.0"), ("", "4.0"), ("", SHA_A)]
TARGETS = [("production", "eu"), ("production", "us"), ("production", "ap"), ("staging", "eu")]

# Releases: a version of a service to some targets (either environment) on a day, in steps
# that make ties and reach back past the half year; a failed deployment now and then.
releases = st.lists(
    st.tuples(
        st.sampled_from(["shop", "cart"]),
        st.sampled_from(VERSIONS),
        st.integers(0, 80).map(lambda n: n * 3.5),
        st.lists(st.sampled_from(TARGETS), min_size=1, max_size=3, unique=True),
        st.sampled_from(["success"] * 4 + ["failure"]),
    ),
    min_size=1,
    max_size=20,
)


def _spread(scope, at: datetime, *, probe: bool) -> pd.DataFrame:
    since = at - SPREAD_HISTORY
    # With `since`, live_deployments_frame reads every success in [since, at): the whole history.
    frame = (
        estate_reads.live_deployments_frame(scope, at=at)
        if probe
        else estate_reads.live_deployments_frame(scope, at=at, since=since)
    )
    if probe:
        assert len(frame) <= len(estate_reads.live_deployments_frame(scope, at=at, since=since))
    return version_spread(frame, at=at).rows


class SpreadRowsPropertiesTest(TestCase):
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(history=releases, at_days=st.sampled_from([0, 7, 35, 70, 105.0]))
    def test_spread_from_the_probe_is_spread_from_the_half_year(self, history, at_days) -> None:
        environments = {
            "production": Environment.objects.create(name="production", tier="production"),
            "staging": Environment.objects.create(name="staging", tier="staging"),
        }
        targets = {
            (env, name): Target.objects.create(environment=environments[env], name=name)
            for env, name in TARGETS
        }
        services = {name: Service.objects.create(name=name) for name in ("shop", "cart")}
        n = 0
        for service, (sha, version), days, on, status in history:
            for i, (env, name) in enumerate(on):
                n += 1
                Deployment.objects.create(
                    source="prop",
                    external_id=str(n),
                    service=services[service],
                    environment=environments[env],
                    target=targets[env, name],
                    sha=sha,
                    version=version,
                    # The targets one after another, half a day apart (the first two may tie).
                    status=status if i == 0 else "success",
                    finished_at=END - (days - max(i - 1, 0) * 0.5) * DAY,
                )
        at = END - at_days * DAY
        organisation = scope_resolve()
        for scope in (
            organisation,
            replace(organisation, tier="staging", tier_named=True),
            scope_resolve(services=["shop"]),
            scope_resolve(target="eu"),
        ):
            pd.testing.assert_frame_equal(
                _spread(scope, at, probe=True), _spread(scope, at, probe=False)
            )
