"""The full report's reads (dora.reads.report.MetricsComputation.prefetch, PostgreSQL, outside a
transaction) take the arrivals' rollout columns from the rollouts frame and each change's first
arrival from the arrivals, and leave out the columns only items list: the same frames (but for
those columns), report and items as the lazy reads (joins in SQL)."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import pytest
from django.db import connection

from dora.reads.report import MetricsComputation
from dora.reads.report_items import METRIC_NAMES, metric_items
from dora.reads.report_query import MetricsQuery
from dora.reads.scope import scope_resolve
from dora.reads.selectors import ARRIVAL_DESCRIPTION
from tests.builders import commit, deployment, when
from tests.integration.test_metrics_report import record, shop_timeline
from tests.integration.test_worked_examples import V_SINCE, V_UNTIL, value_stream_timeline

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        "connection.vendor != 'postgresql'", reason="frames are read at once on PostgreSQL only"
    ),
]


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(list(frame.columns), kind="stable").reset_index(drop=True)


def _same_reads(services: list[str], since: datetime, until: datetime) -> MetricsComputation:
    query = MetricsQuery(scope=scope_resolve(services=services), since=since, until=until)
    read_at_once = MetricsComputation(query, now=until)
    read_at_once.prefetch(MetricsComputation.REPORT_FRAMES)
    assert "arrival_rows" in read_at_once.__dict__ and not connection.in_atomic_block
    lazy = MetricsComputation(query, now=until)
    # The report's arrivals leave out what only the items list.
    assert set(lazy.arrivals.columns) - set(read_at_once.arrivals.columns) == set(
        ARRIVAL_DESCRIPTION
    )
    pairs = [
        (read_at_once.arrivals, lazy.arrivals[list(read_at_once.arrivals.columns)]),
        (read_at_once.deployments, lazy.deployments[list(read_at_once.deployments.columns)]),
        (read_at_once.stream_frames.changes, lazy.stream_frames.changes),
        (read_at_once.stream_frames.preprod, lazy.stream_frames.preprod),
        (read_at_once.stream_frames.intervals, lazy.stream_frames.intervals),
    ]
    for fast, slow in pairs:
        assert list(fast.columns) == list(slow.columns)
        assert fast.dtypes.to_dict() == slow.dtypes.to_dict()
        pd.testing.assert_frame_equal(_sorted(fast), _sorted(slow))
    report = read_at_once.report()
    assert report == lazy.report()
    for name in METRIC_NAMES:
        assert metric_items(name, query, now=until) is not None
    return read_at_once


def test_report_reads_match_the_lazy_reads_with_direct_pushes_and_failures() -> None:
    shop_timeline()
    record(
        [
            commit("c4", ["c3"], hours=60),  # a direct push: starts at its authored_at
            deployment("d5", "c4", hours=70),
        ]
    )
    reads = _same_reads(["shop"], when(days=-1), when(days=7))
    assert reads.lead_time.duration.n == 4


def test_report_reads_match_when_arrivals_predate_the_rollouts_frame() -> None:
    # A window longer than half a year: the rollouts frame starts at `since`, the arrivals 30
    # days earlier, so their rollouts are read by id.
    shop_timeline()
    reads = _same_reads(["shop"], when(days=10), when(days=400))
    arrived = set(reads.arrival_rows["rollout_id"])
    assert arrived and not arrived & set(reads.rollouts["rollout_id"])


def test_report_reads_match_for_the_value_stream_with_approvals() -> None:
    value_stream_timeline(gated=True)
    reads = _same_reads(["shop"], V_SINCE, V_UNTIL)
    stages = {s["name"]: s["p50_seconds"] for s in reads.stream.as_dict()["stages"]}
    assert stages["approval"] == (27 * 60 + 50) * 60.0
