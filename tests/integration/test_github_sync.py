"""ingest.sync against a fake GitHub on 127.0.0.1: faults, a crash between pages, resumption,
and an unchanged second sync made of conditional requests only. The fake server's URL is the
source's base_url, as a GitHub Enterprise one would be.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from dora.intake.events import events_record
from dora.models import Change, Commit, Deployment, Incident, PipelineRun, RawEvent, Service
from ingest.http import SourceRejected
from ingest.models import Source, SyncCursor
from ingest.sync import OVERLAP, TAGS_REFRESH, source_sync
from tests.fake_github import FakeClock, FakeGitHub, Fault

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 3, 10, tzinfo=UTC)
REPO = "octo/shop"


class Crash(Exception):
    pass


def estate(server: FakeGitHub) -> None:
    """12 commits, 7 merged PRs, 6 runs, 4 deployments, 3 releases, 3 incidents over 3 weeks."""
    repo = server.repo(REPO, NOW - timedelta(days=21))
    for i in range(12):
        when = NOW - timedelta(days=20) + timedelta(days=i * 1.5)
        commit = repo.commit_add(when)
        if i < 7:
            repo.pull_add(100 + i, when, commit)
        if i < 6:
            repo.run_add(5000 + i, when + timedelta(minutes=2), commit["sha"])
        if i < 4:
            repo.deployment_add(800 + i, when + timedelta(hours=1), commit["sha"])
        if i < 3:
            repo.release_add(70 + i, when + timedelta(hours=2), f"v1.{i}.0")
            repo.issue_add(10 + i, when + timedelta(hours=3))


def make_source(server: FakeGitHub) -> Source:
    Service.objects.create(name="shop", repos=[REPO])
    return Source.objects.create(
        name="gh-test",
        base_url=server.url,
        token_env="FAKE_GITHUB_TOKEN",
        repos=[REPO],
        backfill_days=30,
        deployments={"from": ["deployments_api", "releases"], "tag_pattern": "^v"},
    )


def stored(source: str) -> dict[str, set[str]]:
    return {
        "commit": set(Commit.objects.filter(source=source).values_list("sha", flat=True)),
        "change": set(Change.objects.filter(source=source).values_list("external_id", flat=True)),
        "pipeline_run": set(
            PipelineRun.objects.filter(source=source).values_list("external_id", flat=True)
        ),
        "deployment": set(
            Deployment.objects.filter(source=source).values_list("external_id", flat=True)
        ),
        "incident": set(
            Incident.objects.filter(source=source).values_list("external_id", flat=True)
        ),
    }


def expected(server: FakeGitHub) -> dict[str, set[str]]:
    """The stored ids of what the server holds (external ids are `<type>:<event id>`)."""
    repo = server.repos[REPO]
    return {
        "commit": {c["sha"] for c in repo.commits},
        "change": {f"change:{REPO}#{p['number']}" for p in repo.pulls},
        "pipeline_run": {f"pipeline_run:{REPO}:run:{r['id']}" for r in repo.runs},
        "deployment": {f"deployment:{REPO}:deployment:{d['id']}@shop" for d in repo.deployments}
        | {f"deployment:{REPO}:release:{r['id']}@shop" for r in repo.releases},
        "incident": {f"incident:{REPO}:issue:{i['number']}@shop" for i in repo.issues},
    }


def test_sync_survives_faults_and_a_crash_then_resumes_without_loss_or_duplicates(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_GITHUB_TOKEN", "t0ken")
    with FakeGitHub(page_cap=5) as server:
        estate(server)
        source = make_source(server)
        server.faults = [
            Fault("/pulls", 502, page="2"),
            Fault(
                "/actions/runs",
                403,
                headers={"Retry-After": "7"},
                body={"message": "You have exceeded a secondary rate limit."},
            ),
        ]
        clock = FakeClock(NOW.timestamp())
        seen: list[dict[str, Any]] = []

        def crash_after_commits_page_2(info: dict[str, Any]) -> None:
            seen.append(info)
            if info["stream"] == "commits" and sum(s["stream"] == "commits" for s in seen) == 2:
                raise Crash("killed between pages")

        with pytest.raises(Crash):
            source_sync(source, progress=crash_after_commits_page_2, clock=clock, now=NOW)
        # Pages 1 and 2 were recorded; only page 1's cursor was saved (the crash hit before
        # page 2's): the next run resumes at page 2.
        cursor = SyncCursor.objects.get(source=source, repo=REPO, stream="commits")
        assert "page=2" in cursor.resume_url
        assert Commit.objects.filter(source="gh-test").count() == 10

        mark = len(server.requests)
        result = source_sync(source, clock=clock, now=NOW)
        first_commits = next(r for r in server.requests[mark:] if r.path.endswith("/commits"))
        assert first_commits.query.get("page") == "2"

        assert stored("gh-test") == expected(server)
        counts = {t: RawEvent.objects.filter(source="gh-test", type=t).count() for t in stored("")}
        assert counts == {t: len(ids) for t, ids in expected(server).items()}
        # The 502 was retried after a backoff, the secondary limit after its Retry-After.
        assert 7.0 in clock.sleeps and 1.0 in clock.sleeps
        assert [r.status for r in server.requests if r.status >= 400] == [502, 403]
        assert result.objects["pulls"] == 7
        assert result.http["rate_remaining"] == server.remaining
        commit = Commit.objects.get(source="gh-test", sha=server.repos[REPO].commits[0]["sha"])
        assert commit.parents == [server.repos[REPO].commits[1]["sha"]]

        # Nothing changed: every request is conditional and answered 304.
        mark = len(server.requests)
        again = source_sync(source, clock=clock, now=NOW + timedelta(minutes=15))
        second = server.requests[mark:]
        assert len(second) == 6  # one per stream of the one repository
        assert all(r.conditional and r.status == 304 for r in second)
        assert again.http["not_modified"] == 6
        assert sum(again.objects.values()) == 0

        # A new commit, PR and run: the next sync reads them and moves its windows up.
        repo = server.repos[REPO]
        later = NOW + timedelta(days=1)
        commit = repo.commit_add(later)
        repo.pull_add(200, later, commit)
        repo.run_add(6000, later, commit["sha"])
        mark = len(server.requests)
        third = source_sync(source, clock=clock, now=later + timedelta(hours=1))
        assert stored("gh-test") == expected(server)
        # The PR list has no `since`: its first page, answered 200 to the conditional request,
        # is the page to read (not asked again). The commits list filters by `since`: the
        # moved window is a new query.
        lists = [r.path.split(f"/repos/{REPO}/")[-1] for r in server.requests[mark:]]
        assert lists.count("pulls") == 1 and lists.count("commits") == 2
        # `since` moved up to the newest PR read before, less the overlap: the window re-read
        # holds that PR (idempotent) and the new one, not the whole backfill.
        newest_before = datetime.fromisoformat(repo.pulls[1]["updated_at"])
        cursor = SyncCursor.objects.get(source=source, stream="pulls")
        assert cursor.since == newest_before - OVERLAP
        assert third.objects["pulls"] == 2
        assert third.objects["commits"] == 2


def test_sync_bad_token_is_kept_on_the_source_for_a_human() -> None:
    with FakeGitHub() as server:
        source = make_source(server)
        server.faults = [Fault("/commits", 401, body={"message": "Bad credentials"})]
        with pytest.raises(SourceRejected, match="token"):
            source_sync(source, clock=FakeClock(NOW.timestamp()), now=NOW)
        source.refresh_from_db()
        assert "Bad credentials" in source.last_error


def test_sync_command_prints_progress_and_totals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ingest.http.SystemClock.sleep", lambda self, seconds: None)
    with FakeGitHub() as server:
        estate(server)
        # The command reads the real clock: the backfill must reach the estate's dates.
        Source.objects.filter(pk=make_source(server).pk).update(backfill_days=3650)
        out, err = io.StringIO(), io.StringIO()
        call_command("sync", "--source", "gh-test", stdout=out, stderr=err)
        text = out.getvalue()
        assert "octo/shop commits: page 1 of 3, 5 objects" in text
        assert "gh-test: done, 1 repositories, 35 objects" in text
        assert "rate budget" in text and not err.getvalue()
        with pytest.raises(CommandError, match="No source named nope"):
            call_command("sync", "--source", "nope")


def test_sync_reads_merge_commits_from_the_commits_list_not_one_call_per_pr(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_GITHUB_TOKEN", "t0ken")
    with FakeGitHub(page_cap=5) as server:
        repo = server.repo(REPO, NOW - timedelta(days=5))
        root = repo.commit_add(NOW - timedelta(days=4))
        branch = {**root, "sha": "b" * 40, "parents": [{"sha": root["sha"]}]}
        branch["commit"] = {**root["commit"], "message": "work on the branch"}
        squash = repo.commit_add(NOW - timedelta(days=3))  # one parent: a squash
        merge = repo.commit_add(NOW - timedelta(days=2))
        merge["parents"] = [{"sha": squash["sha"]}, {"sha": branch["sha"]}]  # a merge commit
        repo.pull_add(1, NOW - timedelta(days=3), branch)
        repo.pull_add(2, NOW - timedelta(days=2), branch)
        pulls = {p["number"]: p for p in repo.pulls}
        pulls[1]["merge_commit_sha"], pulls[2]["merge_commit_sha"] = squash["sha"], merge["sha"]
        source = make_source(server)

        source_sync(source, clock=FakeClock(NOW.timestamp()), now=NOW)

        # The commits list (read first) gave both landed commits' parents: no single-commit
        # call per merged PR, and each PR's merge method is still told right.
        assert not [r for r in server.requests if "/commits/" in r.path]
        squashed = Change.objects.get(source="gh-test", number=1)
        merged = Change.objects.get(source="gh-test", number=2)
        assert (squashed.squash_sha, squashed.merge_sha) == (squash["sha"], "")
        assert (merged.merge_sha, merged.squash_sha) == (merge["sha"], "")


def test_sync_keeps_what_only_a_webhook_knew_about_a_change(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_GITHUB_TOKEN", "t0ken")
    with FakeGitHub(page_cap=5) as server:
        estate(server)
        source = make_source(server)
        pr = next(p for p in server.repos[REPO].pulls if p["number"] == 100)
        # A ready_for_review delivery stored the time PR 100 left draft; the sync cannot know it.
        ready_at = (datetime.fromisoformat(pr["created_at"]) + timedelta(hours=1)).isoformat()
        webhook_change = {
            "type": "change",
            "id": f"{REPO}#100",
            "repo": REPO,
            "number": 100,
            "title": "old title",
            "created_at": pr["created_at"],
            "ready_at": ready_at,
        }
        events_record([webhook_change], default_source="gh-test", now=NOW)

        source_sync(source, clock=FakeClock(NOW.timestamp()), now=NOW)

        change = Change.objects.get(source="gh-test", number=100)
        assert change.ready_at == datetime.fromisoformat(ready_at)  # kept
        assert change.title == pr["title"]  # the sync's word on what the PR says
        assert change.commits == [c["sha"] for c in server.repos[REPO].pull_commits[100]]
        assert change.merge_sha == pr["merge_commit_sha"]
        payload = RawEvent.objects.get(source="gh-test", type="change", external_id=f"{REPO}#100")
        assert payload.payload["ready_at"]


def test_sync_derives_once_when_done_not_per_page(monkeypatch: pytest.MonkeyPatch) -> None:
    from dora.models import DerivePending, Rollout

    monkeypatch.setenv("FAKE_GITHUB_TOKEN", "t0ken")
    pending_seen: list[int] = []
    with FakeGitHub(page_cap=2) as server:
        estate(server)
        source = make_source(server)

        source_sync(
            source,
            progress=lambda *args, **kwargs: pending_seen.append(DerivePending.objects.count()),
            clock=FakeClock(NOW.timestamp()),
            now=NOW,
        )

    # Pages only mark what they touched (deployments pages leave pairs pending) ...
    assert max(pending_seen) > 0
    # ... and the sync derives them when it is done: the 4 deployments and 3 releases of the
    # one service and environment are 7 rollouts, nothing left pending.
    assert DerivePending.objects.count() == 0
    assert Rollout.objects.filter(service__name="shop").count() == 7


def tagged_estate(server: FakeGitHub) -> dict[str, dict[str, Any]]:
    """The estate plus a commit older than the backfill and three tags (two match `^v`)."""
    repo = server.repo(REPO, NOW - timedelta(days=45))
    old = repo.commit_add(NOW - timedelta(days=40))  # before the 30-day backfill: not listed
    estate(server)
    recent, last = repo.commits[3], repo.commits[0]
    repo.tag_add("v1.0", old["sha"])
    repo.tag_add("v1.1", recent["sha"])
    repo.tag_add("nightly-7", last["sha"])  # does not match: no deployment
    return {"old": old, "recent": recent, "last": last}


def make_tag_source(server: FakeGitHub) -> Source:
    source = make_source(server)
    source.deployments = {"from": ["deployments_api", "releases", "tags"], "tag_pattern": "^v"}
    source.save()
    return source


def tag_deployments() -> dict[str, Deployment]:
    return {
        d.version: d
        for d in Deployment.objects.filter(source="gh-test", external_id__contains=":tag:")
    }


def committed(commit: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(commit["commit"]["committer"]["date"])


def test_sync_records_matching_tags_at_their_commits_time_fetching_only_unstored_commits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_GITHUB_TOKEN", "t0ken")
    with FakeGitHub(page_cap=2) as server:  # 3 tags: two pages
        commits = tagged_estate(server)
        source = make_tag_source(server)
        clock = FakeClock(NOW.timestamp())

        result = source_sync(source, clock=clock, now=NOW)

        tags = tag_deployments()
        assert set(tags) == {"v1.0", "v1.1"}  # nightly-7 is ignored
        assert tags["v1.1"].external_id == f"deployment:{REPO}:tag:v1.1@shop"
        assert (tags["v1.1"].sha, tags["v1.1"].finished_at) == (
            commits["recent"]["sha"],
            committed(commits["recent"]),
        )
        assert (tags["v1.0"].sha, tags["v1.0"].finished_at) == (
            commits["old"]["sha"],
            committed(commits["old"]),
        )
        assert all(d.environment.name == "production" for d in tags.values())
        assert all(d.status == "success" for d in tags.values())
        # v1.1's commit came with the commits list; only v1.0's (older than the backfill) was
        # asked for, once.
        single = [r.path for r in server.requests if f"/repos/{REPO}/commits/" in r.path]
        assert single == [f"/repos/{REPO}/commits/{commits['old']['sha']}"]
        assert not Commit.objects.filter(sha=commits["old"]["sha"]).exists()
        tag_pages = [r for r in server.requests if r.path.endswith("/tags")]
        assert len(tag_pages) == 2
        assert result.objects["tags"] == 3

        # Nothing changed: the tags list costs one conditional request, answered 304.
        mark = len(server.requests)
        again = source_sync(source, clock=clock, now=NOW + timedelta(minutes=15))
        tag_requests = [r for r in server.requests[mark:] if r.path.endswith("/tags")]
        assert [(r.conditional, r.status, r.query.get("page")) for r in tag_requests] == [
            (True, 304, None)
        ]
        assert all(r.conditional and r.status == 304 for r in server.requests[mark:])
        assert again.http["not_modified"] == 7  # the six streams of make_source, and tags


def test_sync_new_and_recreated_tags_cost_no_commit_call_when_times_are_known(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_GITHUB_TOKEN", "t0ken")
    with FakeGitHub(page_cap=5) as server:
        commits = tagged_estate(server)
        source = make_tag_source(server)
        clock = FakeClock(NOW.timestamp())
        source_sync(source, clock=clock, now=NOW)
        repo = server.repos[REPO]

        # A new tag on a listed commit, v1.1 deleted and re-created at the newest commit,
        # and a tag deleted for good (a tag of the same name could come back later).
        repo.tag_add("v1.2", commits["recent"]["sha"])
        repo.tag_add("v1.1", commits["last"]["sha"])
        repo.tag_add("v0.9", commits["recent"]["sha"])
        mark = len(server.requests)
        source_sync(source, clock=clock, now=NOW + timedelta(minutes=15))
        repo.tag_delete("v0.9")
        source_sync(source, clock=clock, now=NOW + timedelta(minutes=30))

        # v1.0's time is its stored deployment's, the others' their stored commits': the
        # list changed, yet no commit was asked for again.
        assert not [r for r in server.requests[mark:] if "/commits/" in r.path]
        tags = tag_deployments()
        assert set(tags) == {"v0.9", "v1.0", "v1.1", "v1.2"}  # a deleted tag's deployment stays
        # Re-created elsewhere: the same deployment (the id is the tag's name), moved.
        assert (tags["v1.1"].sha, tags["v1.1"].finished_at) == (
            commits["last"]["sha"],
            committed(commits["last"]),
        )
        assert tags["v1.2"].finished_at == committed(commits["recent"])
        assert tags["v1.0"].finished_at == committed(commits["old"])
        assert Deployment.objects.filter(source="gh-test", version="v1.1").count() == 1


def test_sync_reads_the_tags_list_whole_once_a_day_as_new_tags_may_sort_past_page_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FAKE_GITHUB_TOKEN", "t0ken")
    with FakeGitHub(page_cap=2) as server:
        commits = tagged_estate(server)
        source = make_tag_source(server)
        clock = FakeClock(NOW.timestamp())
        source_sync(source, clock=clock, now=NOW)

        # "v0.5" sorts after the first page (v1.1, v1.0): that page is unchanged.
        server.repos[REPO].tag_add("v0.5", commits["recent"]["sha"])
        mark = len(server.requests)
        source_sync(source, clock=clock, now=NOW + TAGS_REFRESH - timedelta(minutes=1))
        tag_requests = [r for r in server.requests[mark:] if r.path.endswith("/tags")]
        assert [(r.conditional, r.status) for r in tag_requests] == [(True, 304)]
        assert "v0.5" not in tag_deployments()

        mark = len(server.requests)
        source_sync(source, clock=clock, now=NOW + TAGS_REFRESH)
        tag_requests = [r for r in server.requests[mark:] if r.path.endswith("/tags")]
        assert [(r.conditional, r.status) for r in tag_requests] == [(False, 200), (False, 200)]
        assert tag_deployments()["v0.5"].finished_at == committed(commits["recent"])
