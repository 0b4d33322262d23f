"""The GitLab sync (ingest.sources.gitlab.sync) against a fake GitLab on 127.0.0.1: a full
sync page by page, a 429 waited out, a crash between pages then a resumed sync, and an
unchanged second sync made of cursor-bounded list requests only.

The fake serves the shared devlake fixtures (tests/unit/test_gitlab_client.py's `raw`): 18
merge requests, 16 pipelines, 8 deployments (6 of them events), plus 7 synthetic commits, and
pages them as GitLab does: `updated_after` (inclusive), order_by=updated_at&sort=asc, `since`
on commits (newest first), `page`/`per_page`.
"""

from __future__ import annotations

import io
import re
import types
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.core.management import call_command

from dora.config import config_apply, config_load
from dora.models import Change, RawEvent, Service
from ingest.models import Source, SyncCursor
from ingest.sources.gitlab import sync as gitlab_sync
from ingest.sync import source_sync
from tests.fake_github import FakeClock
from tests.fake_gitlab import FakeGitLab
from tests.unit.test_gitlab_client import PROJECT, raw

pytestmark = pytest.mark.django_db
NOW = datetime(2024, 1, 1, tzinfo=UTC)
PER_PAGE = 5
# Hand-counted: 7 commits of the default branch and the 26 commits of the merge requests the
# fixtures list commits for (!1: 5, !3: 1, !4: 1, !5: 18, !6: 1; the 11 rows of !2 and !7,
# which the merge requests table lacks, are never asked for); 18 merge requests (18
# changes); 16 pipelines (16 runs); 8 deployments less the 2 of statuses the contract lacks
# (completed, undeployed) = 6.
MR_COMMITS = 5 + 1 + 1 + 18 + 1
EXPECTED = {"commit": 7 + MR_COMMITS, "change": 18, "pipeline_run": 16, "deployment": 6}


class Crash(Exception):
    pass


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def devlake_project(server: FakeGitLab) -> None:
    """The shared DevLake fixtures as project gitlab-data/snowflake_spend (id 12345678), 7
    synthetic commits, and an archived project beside it in the group."""
    project = server.project(PROJECT, 12345678)
    project.mrs = [d for _, d in raw("merge_requests")]
    for i, d in raw("merge_request_commits"):
        project.mr_commits.setdefault(i["Iid"], []).append(d)
    project.pipelines = [d for _, d in raw("pipeline_details")]
    project.deployments = [d for _, d in raw("deployments")]
    project.commits = [
        {
            "id": f"{i:040x}",
            "short_id": f"{i:08x}",
            "parent_ids": [f"{i - 1:040x}"] if i else [],
            "title": f"commit {i}",
            "message": f"commit {i}",
            "author_name": "dev",
            "authored_date": f"2023-11-{10 + i:02d}T10:00:00.000+00:00",
            "committed_date": f"2023-11-{10 + i:02d}T10:00:00.000+00:00",
            "created_at": f"2023-11-{10 + i:02d}T10:00:00.000+00:00",
        }
        for i in range(7)
    ]
    server.project("gitlab-data/old", 99, archived=True)


@pytest.fixture
def fake() -> Iterator[tuple[FakeGitLab, str]]:
    with FakeGitLab() as server:
        devlake_project(server)
        yield server, server.url


@pytest.fixture
def gitlab_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """python-gitlab's own retry waits (gitlab.utils sleeps with time.sleep): recorded."""
    import gitlab.utils

    sleeps: list[float] = []
    fake_time = types.SimpleNamespace(time=lambda: NOW.timestamp(), sleep=sleeps.append)
    monkeypatch.setattr(gitlab.utils, "time", fake_time)
    return sleeps


def source(url: str) -> Source:
    Service.objects.create(name="snowflake_spend", repos=[PROJECT])
    return Source.objects.create(
        name="gl",
        kind="gitlab",
        base_url=url,
        token_env="GL_TEST_TOKEN",
        repos=[PROJECT],
        backfill_days=6 * 365,  # back to 2018: every fixture object
    )


def sync(src: Source, **options: Any) -> Any:
    options.setdefault("clock", FakeClock(NOW.timestamp()))
    return source_sync(src, now=options.pop("now", NOW), per_page=PER_PAGE, **options)


def stored() -> dict[str, int]:
    return {
        kind: RawEvent.objects.filter(source="gl", type=kind).count()
        for kind in ("commit", "change", "pipeline_run", "deployment", "incident")
    }


def test_gitlab_full_sync_reads_every_page_into_events(
    fake: tuple[FakeGitLab, str], gitlab_sleeps: list[float]
) -> None:
    server, url = fake
    src = source(url)
    pages: list[dict[str, Any]] = []

    result = sync(src, progress=pages.append)

    assert stored() == {**EXPECTED, "incident": 0}
    assert Change.objects.count() == 18
    # 18 MRs at 5 a page, each next query starting at the page's newest minus 1s (so reading
    # its last one again): 5 + 5 (1 again) + 5 (1) + 5 (1) + 2 (1) = 22 reads in 5 pages.
    assert result.objects["merge_requests"] == 22
    assert len([p for p in pages if p["stream"] == "merge_requests"]) == 5
    assert result.events["created"] == 7 + MR_COMMITS + 18 + 16 + 6
    for q in server.lists("merge_requests"):
        assert q["per_page"] == "5" and q["state"] == "all" and "updated_after" in q
    # 7 commits newest first at 5 a page: pages 1 and 2 of one query.
    assert [q["page"] for q in server.lists("repository/commits")] == ["1", "2"]
    src.refresh_from_db()
    assert src.last_error == "" and src.last_sync_at == NOW
    newest_mr = max(_when(m["updated_at"]) for m in server.projects[PROJECT].mrs)
    cursor = SyncCursor.objects.get(source=src, repo=PROJECT, stream="merge_requests")
    assert cursor.since == newest_mr - timedelta(seconds=1) and cursor.resume_url == ""


def test_gitlab_sync_waits_out_a_429_and_a_spent_budget(
    fake: tuple[FakeGitLab, str], gitlab_sleeps: list[float]
) -> None:
    server, url = fake
    src = source(url)
    server.faults.append((re.compile(r"/merge_requests\?.*page=1"), 429, {"Retry-After": "7"}))
    reset = NOW.timestamp() + 30
    server.headers.append(
        (
            re.compile(r"/pipelines\?"),
            {"RateLimit-Remaining": "0", "RateLimit-Reset": str(int(reset))},
        )
    )
    clock = FakeClock(NOW.timestamp())

    result = sync(src, clock=clock)

    assert gitlab_sleeps == [7]  # python-gitlab waited the Retry-After, then asked again
    assert clock.sleeps == [30.0]  # the next page waited for the budget's reset
    assert result.http["retries"] == 1
    assert stored() == {**EXPECTED, "incident": 0}


def test_gitlab_sync_crash_between_pages_then_resume_loses_and_duplicates_nothing(
    fake: tuple[FakeGitLab, str], gitlab_sleeps: list[float]
) -> None:
    server, url = fake
    src = source(url)
    seen: list[str] = []

    def crash_after_first_page(info: dict[str, Any]) -> None:
        seen.append(info["stream"])
        if info["stream"] == "merge_requests":
            raise Crash  # events of page 1 stored, its cursor not saved

    with pytest.raises(Crash):
        sync(src, progress=crash_after_first_page)
    assert stored()["change"] == 5 and stored()["pipeline_run"] == 0
    cursor = SyncCursor.objects.get(source=src, repo=PROJECT, stream="merge_requests")
    assert cursor.since is None and cursor.resume_url == ""  # not saved: page 1 is read again

    result = sync(src)

    assert stored() == {**EXPECTED, "incident": 0}
    assert RawEvent.objects.filter(source="gl").count() == sum(EXPECTED.values())
    assert Change.objects.count() == 18
    # The resumed sync read page 1 again: its 5 changes (!1, !3, !4, !5, !6, whose MRs hold
    # all 26 MR commits) unchanged, the other 13 created.
    assert result.events["created"] == 13 + 16 + 6
    crashed, resumed = server.lists("merge_requests")[:2]
    assert crashed == resumed  # the same page 1 of the same query


def test_gitlab_second_sync_unchanged_asks_each_list_once_bounded_by_its_cursor(
    fake: tuple[FakeGitLab, str], gitlab_sleeps: list[float]
) -> None:
    server, url = fake
    src = source(url)
    sync(src)
    cursors = {c.stream: c.since for c in SyncCursor.objects.filter(source=src)}
    server.requests.clear()

    result = sync(src, now=NOW + timedelta(minutes=15))

    lists = {
        "repository/commits": ("since", cursors["commits"]),
        "merge_requests": ("updated_after", cursors["merge_requests"]),
        "pipelines": ("updated_after", cursors["pipelines"]),
        "deployments": ("updated_after", cursors["deployments"]),
        "issues": ("updated_after", cursors["incidents"]),
    }
    for name, (key, since) in lists.items():
        (query,) = server.lists(name)  # one request per list
        assert _when(query[key]) == since, name
    assert result.events["created"] == 0 and result.events["updated"] == 0
    # Only the boundary objects come back: the newest commit (the bound is 1h before it), MR,
    # pipeline and deployment (the undeployed one's created_at is before the bound); no issue.
    assert result.objects == {
        "commits": 1,
        "merge_requests": 1,
        "pipelines": 1,
        "deployments": 1,
        "incidents": 0,
    }
    assert stored() == {**EXPECTED, "incident": 0}


def test_gitlab_group_source_reads_every_unarchived_project_of_it(
    fake: tuple[FakeGitLab, str], gitlab_sleeps: list[float]
) -> None:
    server, url = fake
    src = source(url)
    Source.objects.filter(pk=src.pk).update(repos=[], org="gitlab-data")
    src.refresh_from_db()

    result = sync(src)

    (query,) = server.lists("projects")
    assert query["include_subgroups"] == "true" and query["archived"] == "false"
    assert result.repositories == 1  # gitlab-data/old is archived
    assert stored() == {**EXPECTED, "incident": 0}


def test_gitlab_source_is_applied_from_the_file_with_gitlab_defaults() -> None:
    text = (
        "sources:\n"
        "  - name: gl\n"
        "    kind: gitlab\n"
        "    token_env: GITLAB_TOKEN\n"
        "    projects: [acme/platform/api, acme/web]\n"
        "    interval: 30m\n"
        "    backfill: 90d\n"
        "    webhook_secret_env: GL_HOOK\n"
        "    deployments: {from: [deployments_api], environments: {prod: production}}\n"
        "    incidents: {label: outage}\n"
    )

    diff = config_apply(config_load(text))

    assert diff.lines == ("+ source gl",) and diff.notes == ()
    src = Source.objects.get(name="gl")
    assert (src.kind, src.base_url, src.repos, src.org) == (
        "gitlab",
        "https://gitlab.com",
        ["acme/platform/api", "acme/web"],
        "",
    )
    assert (src.interval_seconds, src.backfill_days, src.webhook_secret_env) == (
        1800,
        90,
        "GL_HOOK",
    )
    assert src.deployments == {"from": ["deployments_api"], "environments": {"prod": "production"}}
    assert src.incidents == {"label": "outage"}
    src.full_clean()  # the admin's check accepts group/sub/project paths


def test_gitlab_base_url_may_be_the_api_root() -> None:
    assert gitlab_sync.instance_url("https://gitlab.example.com/api/v4/") == (
        "https://gitlab.example.com"
    )


def test_gitlab_pages_of_x_total_pages_in_the_command(
    fake: tuple[FakeGitLab, str], gitlab_sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, url = fake
    src = source(url)
    # GitLab's X-Total-Pages on the commits list's pages (the fake sends no totals otherwise).
    for page in ("1", "2"):
        server.headers.append(
            (re.compile(rf"/repository/commits\?(.*&)?page={page}(&|$)"), {"X-Total-Pages": "2"})
        )
    monkeypatch.setitem(gitlab_sync.gitlab_source_sync.__kwdefaults__, "per_page", PER_PAGE)
    Source.objects.filter(pk=src.pk).update(backfill_days=3650)
    out = io.StringIO()

    call_command("sync", "--source", src.name, stdout=out, stderr=io.StringIO())

    text = out.getvalue()
    # 7 commits newest first at 5 a page: 5 then 7 so far, of the 2 pages GitLab announced.
    assert f"  {PROJECT} commits: page 1 of 2, 5 objects, " in text
    assert f"  {PROJECT} commits: page 2 of 2, 7 objects, " in text
    # No total announced for the merge requests: the page alone.
    assert f"  {PROJECT} merge_requests: page 1, 5 objects, " in text
    assert f"{src.name}: done, 1 repositories" in text
