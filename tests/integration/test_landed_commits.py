"""`change.landed_commits` (CONTRACT §1) through the events doors: POST /api/v1/events and
`manage.py import_events`. A rebase-merged pull request is one change whose start is its first
commit's author time, whichever order its events arrive in (METRICS §2)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from dora.models import Change, ChangeArrival, Commit, Deployment, RawEvent, Rollout
from tests.builders import change, commit, deployment, sha, when
from tests.facts import facts_snapshot
from tests.integration.test_intake import client_with, post

pytestmark = pytest.mark.django_db
HOUR = 3600


def rebase_history() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
    """Hours after T0:

    -20 t0 authored on main; -10 d0 ships t0 (the first rollout).
      0, 2, 4: r1, r2, r3 authored on the branch of PR 9 (opened at 1).
     10 PR 9 rebase-merged: main gets copies c1, c2, c3 of r1..r3, same author times.
     12 d1 ships c3.
    Returns (commits, deployments, the change).
    """
    commits = [
        commit("t0", hours=-20),
        commit("r1", ["t0"], hours=0),
        commit("r2", ["r1"], hours=2),
        commit("r3", ["r2"], hours=4),
        commit("c1", ["t0"], hours=0, committed_at=when(10).isoformat()),
        commit("c2", ["c1"], hours=2, committed_at=when(10).isoformat()),
        commit("c3", ["c2"], hours=4, committed_at=when(10).isoformat()),
    ]
    deployments = [deployment("d0", "t0", hours=-10), deployment("d1", "c3", hours=12)]
    pr = change(
        9,
        ["r1", "r2", "r3"],
        created=1,
        merged=10,
        squash="c3",
        landed_commits=[sha("c1"), sha("c2"), sha("c3")],
    )
    return commits, deployments, pr


def facts_of_pr_9() -> None:
    """The hand-computed facts of rebase_history, whatever the order it came in."""
    first, second = Rollout.objects.filter(service__name="shop").order_by("seq")
    assert first.sha == sha("t0") and second.sha == sha("c3")
    # One arrival for the change; no copy is a direct push of its own.
    (arrival,) = ChangeArrival.objects.filter(rollout=second)
    pr = Change.objects.get(number=9)
    assert arrival.change == pr and arrival.commit_sha == "" and arrival.arrived_at == when(12)
    # Started at r1's (and c1's) author time, not at the PR's opening (1 h).
    assert pr.started_at == when(0)
    assert (arrival.arrived_at - pr.started_at).total_seconds() == 12 * HOUR


def test_rebase_merged_pr_posted_to_the_api_is_one_change() -> None:
    commits, deployments, pr = rebase_history()
    status, body = post(client_with("ingest"), [*commits, pr, *deployments])
    assert status == 200, body
    facts_of_pr_9()
    assert Change.objects.get(number=9).landed_commits == [sha(c) for c in ("c1", "c2", "c3")]


@pytest.mark.parametrize("order", ["change after commits", "change before commits"])
def test_rebase_merged_pr_gives_the_same_facts_in_either_order(order: str, tmp_path: Path) -> None:
    commits, deployments, pr = rebase_history()
    batches = (
        [[*commits, *deployments], [pr]]
        if order == "change after commits"
        else [[pr], [*commits, *deployments]]
    )
    for i, batch in enumerate(batches):
        path = tmp_path / f"batch{i}.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in batch))
        call_command("import_events", str(path), "--quiet", stdout=io.StringIO())
    facts_of_pr_9()
    late = facts_snapshot()
    for model in (Rollout, Deployment, ChangeArrival, Change, Commit, RawEvent):
        model.objects.all().delete()
    status, _ = post(client_with("ingest"), [*commits, pr, *deployments])
    assert status == 200
    assert facts_snapshot() == late


def test_landed_commits_without_the_branch_commits_start_at_the_first_copy() -> None:
    """A sender that knows only what landed: the copies keep the author times."""
    commits, deployments, pr = rebase_history()
    pr["commits"] = []
    status, _ = post(client_with("ingest"), [*commits, pr, *deployments])
    assert status == 200
    facts_of_pr_9()


def test_a_squash_commit_landed_alone_does_not_start_the_change_at_the_merge() -> None:
    """landed_commits = [squash sha], no branch commits known: the squash commit is authored at
    the merge (10 h), so the change starts when it was opened (1 h), as without the field."""
    events = [
        commit("t0", hours=-20),
        commit("s1", ["t0"], hours=10),
        change(5, [], created=1, merged=10, squash="s1", landed_commits=[sha("s1")]),
        deployment("d0", "t0", hours=-10),
        deployment("d1", "s1", hours=12),
    ]
    assert post(client_with("ingest"), events)[0] == 200
    pr = Change.objects.get(number=5)
    assert pr.started_at == when(1)
    (arrival,) = ChangeArrival.objects.filter(rollout__sha=sha("s1"))
    assert arrival.change == pr


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("abc", "landed_commits: expected a list, got a string"),
        (["abc1234"], "landed_commits[0]: expected a full git sha (40 or 64 hex digits)"),
        ([sha("c1"), 7], "landed_commits[1]: expected a full git sha (40 or 64 hex digits), got a"),
        ([sha(str(i)) for i in range(1001)], "landed_commits: at most 1000 shas (got 1001)"),
    ],
)
def test_bad_landed_commits_are_one_rejected_item_naming_the_field(value: Any, reason: str) -> None:
    good = commit("t0", hours=-20)
    bad = change(9, [], created=1, merged=10, landed_commits=value)
    status, body = post(client_with("ingest"), [good, bad])
    assert status == 207
    assert body["items"][0]["status"] == "created"
    assert body["items"][1]["status"] == "rejected"
    assert body["items"][1]["reason"].startswith(reason)
    assert not Change.objects.exists() and Commit.objects.count() == 1
