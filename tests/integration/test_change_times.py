"""The start and merge times kept on change arrivals (dora/intake/change_times.py, issue 18) follow
their change's and commit's rows whichever order the events arrive in, without a read-time
look-up: late commits, a pushed commit recorded after its deployment, a corrected merge time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from dora.intake.change_times import arrival_times_stale, change_builds_stale
from dora.intake.events import events_record
from dora.models import Change, ChangeArrival
from dora.reads.scope import Scope
from dora.reads.selectors import arrivals_frame
from tests.builders import change, commit, deployment, pipeline_run, sha, when

pytestmark = pytest.mark.django_db


def _record(*events: dict[str, Any]) -> None:
    report = events_record(list(events))
    assert report.counts["rejected"] == 0, [i.reason for i in report.items if i.reason]


def _times(**where: Any) -> tuple[datetime | None, datetime | None]:
    row = ChangeArrival.objects.get(environment__name="production", **where)
    return row.started_at, row.merged_at


def test_squash_change_start_moves_when_its_branch_commits_arrive_late() -> None:
    """Hours after T0: c0 on main, shipped at 1 (the first rollout). PR 1 (opened at 2) is
    squash-merged at 10 as s1, shipped at 12. Its branch commits f1 (authored -5) and f2 (1)
    arrive only after the deployment: the change then starts at -5, its earliest commit."""
    _record(
        commit("c0", hours=0),
        commit("s1", ["c0"], hours=10),
        change(1, ["f1", "f2"], created=2, merged=10, squash="s1"),
        deployment("d0", "c0", hours=1),
        deployment("d1", "s1", hours=12),
    )
    # No branch commit stored: the change starts when it was opened.
    assert _times(change__number=1) == (when(2), when(10))

    _record(commit("f1", hours=-5), commit("f2", ["f1"], hours=1))
    assert _times(change__number=1) == (when(-5), when(10))
    assert arrival_times_stale() == []

    # What the reads take is the kept value: lead time from -5 to the arrival at 12.
    frame = arrivals_frame(Scope(tier="production"), since=when(-100), until=when(100))
    row = frame[frame["change_id"].notna()].iloc[0]
    assert (row["merged_at"] - row["start"]).total_seconds() == 15 * 3600


def test_direct_push_recorded_after_its_deployment() -> None:
    """p1, pushed straight to main (authored at 3, committed at 4), is deployed at 5 before its
    commit event arrives: it arrives once the commit is recorded, with the commit's times; a
    re-sent commit event with another author time (2) moves its start."""
    _record(commit("c0", hours=0), deployment("d0", "c0", hours=1))
    _record(deployment("d2", "p1", hours=5))
    assert not ChangeArrival.objects.filter(commit_sha=sha("p1")).exists()

    _record(commit("p1", ["c0"], hours=3, committed_at=when(4).isoformat()))
    assert _times(commit_sha=sha("p1")) == (when(3), when(4))

    _record(commit("p1", ["c0"], hours=2, committed_at=when(4).isoformat()))
    assert _times(commit_sha=sha("p1")) == (when(2), when(4))
    assert arrival_times_stale() == []


def test_corrected_merge_time_reaches_the_arrival() -> None:
    """PR 2 is first reported merged at 10, then (a re-sent event) at 9: the arrival follows."""
    _record(
        commit("c0", hours=0),
        commit("m2", ["c0"], hours=8),
        change(2, ["m2"], created=6, merged=10, merge="m2"),
        deployment("d0", "c0", hours=1),
        deployment("d1", "m2", hours=11),
    )
    assert _times(change__number=2) == (when(8), when(10))

    _record(change(2, ["m2"], created=6, merged=9, merge="m2"))
    assert _times(change__number=2) == (when(8), when(9))
    assert arrival_times_stale() == []


def _build_at(number: int) -> datetime | None:
    return Change.objects.get(number=number).build_at


def test_build_time_follows_runs_whichever_order_they_come_in() -> None:
    """PR 3 squash-merged at 10 as s3. CI on s3: a green run finishing at 12 recorded before
    the change, a failed one at 11 and a green one at 11.5 after it: the build is at 11.5.
    Then the 11.5 run is re-sent for another sha: the build falls back to 12."""
    _record(pipeline_run("ci-a", "s3", started=10, finished=12))
    _record(change(3, ["f3"], created=4, merged=10, squash="s3"))
    assert _build_at(3) == when(12)

    _record(
        pipeline_run("ci-b", "s3", started=10, finished=11, status="failure"),
        pipeline_run("ci-c", "s3", started=10, finished=11.5),
    )
    assert _build_at(3) == when(11.5)

    _record(pipeline_run("ci-c", "other", started=10, finished=11.5))
    assert _build_at(3) == when(12)
    assert change_builds_stale() == []
