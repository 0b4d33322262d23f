"""Squash- and rebase-merged pull requests from GitHub, through the sync against the fake GitHub
and through signed webhook deliveries: one change each, starting at its first commit's author
time (METRICS §2), whichever order the deliveries arrive in.

The history, hours before NOW (2026-03-10 00:00 UTC), one repository, one service `shop`:

  -144  t0 on the default branch; -132 deployment A ships t0 (the first rollout).
  PR 1, squash-merged:  f1 authored -120, f2 -116 on its branch; opened -96;
        merged -72 as s1 (one parent, t0). Deployment B ships s1 at -60, live 4 min later.
  PR 2, rebase-merged:  r1 authored -52, r2 -49, r3 -46 on its branch (from s1); opened -48;
        merged -24: copies c1, c2, c3 of r1..r3 on the default branch (same author times and
        messages, committed -24). Deployment C ships c3 at -12, live 4 min later.

Lead times, by hand: PR 1 from f1 (-120 h) to B live (-60 h + 4 min) = 60 h 4 min;
PR 2 from r1 (-52 h) to C live (-12 h + 4 min) = 40 h 4 min.
"""

from __future__ import annotations

import copy
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command

from dora.models import (
    Change,
    ChangeArrival,
    Commit,
    Deployment,
    MissingCommit,
    RawEvent,
    Rollout,
    Service,
)
from ingest.sync import source_sync
from tests.builders import sha
from tests.facts import facts_snapshot
from tests.fake_github import FakeClock, FakeGitHub
from tests.integration.test_github_sync import REPO, make_source
from tests.integration.test_github_webhook import (  # noqa: F401 (webhook_secret: autouse)
    body_of,
    deliver,
    webhook_secret,
)

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 10, tzinfo=UTC)
LIVE = timedelta(minutes=4)  # a deployment's success status follows its creation by 4 minutes
PR1_LEAD = timedelta(hours=60, minutes=4)
PR2_LEAD = timedelta(hours=40, minutes=4)


def h(hours: float) -> datetime:
    return NOW + timedelta(hours=hours)


def iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def assert_one_change_each(repo: str, starts: dict[int, datetime]) -> None:
    """The facts the history must give, whatever path it took."""
    pr1, pr2 = (Change.objects.get(repo=repo, number=n) for n in (1, 2))
    assert pr1.started_at == starts[1]  # f1's author time, not the PR's opening (-96 h)
    assert pr2.started_at == starts[2]
    rollouts = list(Rollout.objects.filter(service__name="shop").order_by("seq"))
    assert [r.kind for r in rollouts] == ["change", "change", "change"]
    # Rollout C carries the three copies and nothing else: one arrival, PR 2's.
    arrivals_c = list(ChangeArrival.objects.filter(rollout=rollouts[2]))
    assert [(a.change_id, a.commit_sha) for a in arrivals_c] == [(pr2.id, "")]
    (arrival_b,) = ChangeArrival.objects.filter(rollout=rollouts[1])
    assert arrival_b.change_id == pr1.id
    assert arrival_b.arrived_at - pr1.started_at == PR1_LEAD
    assert arrivals_c[0].arrived_at - pr2.started_at == PR2_LEAD
    assert not ChangeArrival.objects.exclude(commit_sha="").exclude(rollout=rollouts[0]).exists()


def lead_time_report() -> dict[str, Any]:
    out = io.StringIO()
    call_command(
        "metrics",
        "--service",
        "shop",
        "--since",
        iso(h(-168)),
        "--until",
        iso(NOW),
        "--format",
        "json",
        stdout=out,
    )
    return json.loads(out.getvalue())


def assert_lead_times() -> None:
    report = lead_time_report()
    # Three change rollouts; the first is unattributed (nothing before it to measure from).
    assert report["deployment_frequency"]["rollouts"] == 3
    lead = report["lead_time"]
    assert lead["n"] == 2
    # The median of [60 h 4 min, 40 h 4 min].
    assert lead["p50_seconds"] == ((PR1_LEAD + PR2_LEAD) / 2).total_seconds()


# ---------------------------------------------------------------------------------------------
# The sync
# ---------------------------------------------------------------------------------------------


def fake_history(server: FakeGitHub) -> dict[str, dict[str, Any]]:
    repo = server.repo(REPO, h(-168))
    t0 = repo.commit_add(h(-144))
    f1 = repo.commit_make("f1", h(-120), [t0["sha"]])
    f2 = repo.commit_make("f2", h(-116), [f1["sha"]])
    s1 = repo.commit_add(h(-72), message="PR one (#1)")
    repo.pull_add(1, h(-72), s1, commits=[f1, f2], created=h(-96))
    r1 = repo.commit_make("r1", h(-52), [s1["sha"]])
    r2 = repo.commit_make("r2", h(-49), [r1["sha"]])
    r3 = repo.commit_make("r3", h(-46), [r2["sha"]])
    copies = [
        repo.commit_add(h(-24), authored=h(t), message=original["commit"]["message"])
        for original, t in ((r1, -52), (r2, -49), (r3, -46))
    ]
    repo.pull_add(2, h(-24), copies[-1], commits=[r1, r2, r3], created=h(-48))
    repo.associated[copies[0]["sha"]] = [2]  # GitHub lists PR 2 for each of its copies
    repo.deployment_add(800, h(-132), t0["sha"])
    repo.deployment_add(801, h(-60), s1["sha"])
    repo.deployment_add(802, h(-12), copies[-1]["sha"])
    return {"f1": f1, "r1": r1, "s1": s1, "c1": copies[0], "c2": copies[1], "c3": copies[2]}


def test_sync_squash_and_rebase_merged_prs_are_one_change_each_from_their_first_commit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_GITHUB_TOKEN", "t0ken")
    with FakeGitHub(page_cap=5) as server:
        shas = fake_history(server)
        source = make_source(server)
        source_sync(source, clock=FakeClock(NOW.timestamp()), now=NOW)

        assert_one_change_each(REPO, {1: h(-120), 2: h(-52)})
        assert_lead_times()
        pr1, pr2 = (Change.objects.get(repo=REPO, number=n) for n in (1, 2))
        assert pr1.landed_commits == [shas["s1"]["sha"]]
        assert pr2.landed_commits == [shas[c]["sha"] for c in ("c1", "c2", "c3")]
        assert pr2.squash_sha == shas["c3"]["sha"]
        # One confirmation per rebase-merged PR, on its oldest copy.
        asked = [
            r.path for r in server.requests if r.path.endswith("/pulls") and "/commits/" in r.path
        ]
        assert asked == [f"/repos/{REPO}/commits/{shas['c1']['sha']}/pulls"]


# ---------------------------------------------------------------------------------------------
# Webhooks
# ---------------------------------------------------------------------------------------------

HOOK_REPO = "Codertocat/Hello-World"  # the fixtures' repository; its default branch is master
PUSH = json.loads(body_of("push/with-new-branch.payload.json"))
PULL = json.loads(body_of("pull_request/closed.payload.json"))
DEPLOYMENT = json.loads(body_of("deployment_status/payload.json"))
ZERO = "0" * 40
# name -> (authored at, message); the copies keep the originals' times and messages.
COMMITS = {
    "t0": (-144, "t0"),
    "f1": (-120, "f1"),
    "f2": (-116, "f2"),
    "s1": (-72, "PR one (#1)"),
    "r1": (-52, "r1"),
    "r2": (-49, "r2"),
    "r3": (-46, "r3"),
    "c1": (-52, "r1"),
    "c2": (-49, "r2"),
    "c3": (-46, "r3"),
}


def push(ref: str, before: str, names: list[str]) -> dict[str, Any]:
    """A variant of the with-new-branch push: `names` pushed to `ref` on top of `before`."""
    payload = copy.deepcopy(PUSH)
    template = payload["commits"][0]
    payload["commits"] = [
        {
            **copy.deepcopy(template),
            "id": sha(name),
            "message": COMMITS[name][1],
            "timestamp": iso(h(COMMITS[name][0])),
            "added": [],
        }
        for name in names
    ]
    payload.update(
        ref=f"refs/heads/{ref}",
        before=before,
        after=sha(names[-1]),
        created=before == ZERO,
        head_commit=payload["commits"][-1],
    )
    return payload


def pull_request(number: int, head: str, last: str, count: int, created: float) -> dict[str, Any]:
    """A variant of the closed payload, opened: PR `number` from branch `head` at `last`."""
    payload = copy.deepcopy(PULL)
    pr = payload["pull_request"]
    pr.update(
        number=number,
        state="open",
        created_at=iso(h(created)),
        updated_at=iso(h(created)),
        closed_at=None,
        merged_at=None,
        merged=False,
        commits=count,
    )
    pr["head"] = {**pr["head"], "ref": head, "sha": sha(last)}
    payload["action"] = "opened"
    return payload


def merged(opened: dict[str, Any], at: float, landed: str) -> dict[str, Any]:
    payload = copy.deepcopy(opened)
    payload["action"] = "closed"
    payload["pull_request"].update(
        state="closed",
        merged=True,
        merged_at=iso(h(at)),
        closed_at=iso(h(at)),
        updated_at=iso(h(at)),
        merge_commit_sha=sha(landed),
    )
    return payload


def deployment_status(number: int, name: str, at: float) -> dict[str, Any]:
    payload = copy.deepcopy(DEPLOYMENT)
    payload["deployment"].update(id=number, sha=sha(name), created_at=iso(h(at)))
    payload["deployment_status"].update(id=number * 10, created_at=iso(h(at) + LIVE))
    return payload


def deliveries() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    opened1 = pull_request(1, "pr-one", "f2", 2, -96)
    opened2 = pull_request(2, "pr-two", "r3", 3, -48)
    return {
        "pushes": [
            ("push", push("master", "a" * 40, ["t0"])),
            ("push", push("pr-one", ZERO, ["f1", "f2"])),
            ("push", push("master", sha("t0"), ["s1"])),
            ("push", push("pr-two", ZERO, ["r1", "r2", "r3"])),
            ("push", push("master", sha("s1"), ["c1", "c2", "c3"])),
        ],
        "pull_requests": [
            ("pull_request", opened1),
            ("pull_request", merged(opened1, -72, "s1")),
            ("pull_request", opened2),
            ("pull_request", merged(opened2, -24, "c3")),
        ],
        "deployments": [
            ("deployment_status", deployment_status(900, "t0", -132)),
            ("deployment_status", deployment_status(901, "s1", -60)),
            ("deployment_status", deployment_status(902, "c3", -12)),
        ],
    }


def as_github_sends_them() -> list[tuple[str, dict[str, Any]]]:
    """Each push before the pull request delivery that follows it in time."""
    d = deliveries()
    pushes, prs, deploys = d["pushes"], d["pull_requests"], d["deployments"]
    return [
        pushes[0],
        deploys[0],
        pushes[1],
        prs[0],
        pushes[2],
        prs[1],
        deploys[1],
        pushes[3],
        prs[2],
        pushes[4],
        prs[3],
        deploys[2],
    ]


def pull_requests_first() -> list[tuple[str, dict[str, Any]]]:
    """Every pull_request delivery before any push: each push must complete the changes."""
    d = deliveries()
    return [*d["pull_requests"], *d["pushes"], *d["deployments"]]


def test_webhook_squash_and_rebase_merges_are_one_change_each_in_either_order() -> None:
    Service.objects.create(name="shop", repos=[HOOK_REPO])
    snapshots = []
    for order in (as_github_sends_them, pull_requests_first):
        for i, (event, payload) in enumerate(order()):
            status, body = deliver(event, payload, delivery=f"{order.__name__}-{i}")
            assert status == 200, body
            assert body["counts"]["rejected"] == 0, body
        assert_one_change_each(HOOK_REPO, {1: h(-120), 2: h(-52)})
        assert_lead_times()
        pr1, pr2 = (Change.objects.get(repo=HOOK_REPO, number=n) for n in (1, 2))
        assert pr1.commits == [sha("f1"), sha("f2")]
        assert pr1.landed_commits == [sha("s1")] and pr1.squash_sha == sha("s1")
        assert pr2.landed_commits == [sha("c1"), sha("c2"), sha("c3")]
        snapshots.append(facts_snapshot())
        for model in (Rollout, Deployment, Change, Commit, RawEvent, MissingCommit):
            model.objects.all().delete()
    assert snapshots[0] == snapshots[1]
