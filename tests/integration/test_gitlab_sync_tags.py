"""The GitLab sync's tags and releases streams (`deployments.from: [tags, releases]`) against
the fake GitLab: read newest first down to the cursor, mapped as the Tag Push and Release
Hooks are, and an unchanged second sync stopping at its cursor.

Tags and releases follow the shapes of docs.gitlab.com/api/tags (list repository tags) and
docs.gitlab.com/api/releases (list releases); a tag's commit is the shared REST commit fixture
(tests/fixtures/shared/gitlab/rest/get_commit.json) with its sha and times varied.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dora.models import Deployment, Service
from ingest.models import Source, SyncCursor
from ingest.sync import source_sync
from tests.fake_github import FakeClock
from tests.fake_gitlab import FakeGitLab
from tests.shared import shared_fixture

pytestmark = pytest.mark.django_db
PROJECT = "acme/web"
NOW = datetime(2026, 3, 1, tzinfo=UTC)
DAY1 = datetime(2026, 2, 1, 12, tzinfo=UTC)
PER_PAGE = 2


def _at(days: float) -> str:
    return (DAY1 + timedelta(days=days)).isoformat().replace("+00:00", "Z")


def _sha(name: str) -> str:
    return f"{sum(map(ord, name)):040x}"


def tag(name: str, days: float) -> dict[str, Any]:
    commit = json.loads(shared_fixture("gitlab", "rest", "get_commit.json").read_text())
    commit = {k: v for k, v in commit.items() if k not in ("last_pipeline", "stats", "status")}
    commit.update(
        id=_sha(name), short_id=_sha(name)[:8], authored_date=_at(days), committed_date=_at(days)
    )
    commit["created_at"] = commit["committed_date"]
    return {
        "name": name,
        "message": None,
        "target": commit["id"],
        "commit": commit,
        "release": None,
        "protected": True,
        "created_at": None,
    }


def release(name: str, days: float, *, upcoming: bool = False) -> dict[str, Any]:
    return {
        "tag_name": name,
        "name": f"Release {name}",
        "description": "",
        "created_at": _at(days),
        "released_at": _at(days),
        "upcoming_release": upcoming,
        "author": {"id": 1, "username": "ana", "name": "ana"},
        "commit": copy.deepcopy(tag(name, days)["commit"]),
        "tag_path": f"/{PROJECT}/-/tags/{name}",
    }


@pytest.fixture
def fake() -> Iterator[FakeGitLab]:
    with FakeGitLab() as server:
        project = server.project(PROJECT, 77)
        # Newest first by commit time: nightly-5, v2.0 | v1.1, v1.0 | v0.9 (before the backfill).
        project.tags = [
            tag("v0.9", -400),
            tag("v1.0", 0),
            tag("v1.1", 2),
            tag("v2.0", 4),
            tag("nightly-5", 5),
        ]
        # Newest first by release time: v3.0 (upcoming: dated after NOW), v2.0 | v1.0, v0.1.
        project.releases = [
            release("v0.1", -400),
            release("v1.0", 1),
            release("v2.0", 4),
            release("v3.0", 60, upcoming=True),
        ]
        yield server


def source(url: str) -> Source:
    Service.objects.create(name="web", repos=[PROJECT])
    return Source.objects.create(
        name="gl",
        kind="gitlab",
        base_url=url,
        token_env="GL_TEST_TOKEN",
        repos=[PROJECT],
        backfill_days=365,
        deployments={"from": ["tags", "releases"], "tag_pattern": r"^v\d"},
    )


def sync(src: Source, now: datetime = NOW) -> Any:
    return source_sync(src, now=now, clock=FakeClock(now.timestamp()), per_page=PER_PAGE)


def deployments() -> list[tuple[str, str, str]]:
    return sorted(
        Deployment.objects.filter(source="gl").values_list("external_id", "version", "sha")
    )


def test_gitlab_sync_reads_tags_and_releases_as_deployments(fake: FakeGitLab) -> None:
    src = source(fake.url)

    result = sync(src)

    # Tags matching ^v\d within the year: v1.0, v1.1, v2.0 (nightly-5 does not match, v0.9 is
    # older than the backfill). Released releases within the year: v1.0, v2.0 (v3.0 upcoming).
    assert deployments() == [
        (f"deployment:{PROJECT}:release:v1.0@web", "v1.0", _sha("v1.0")),
        (f"deployment:{PROJECT}:release:v2.0@web", "v2.0", _sha("v2.0")),
        (f"deployment:{PROJECT}:tag:v1.0@web", "v1.0", _sha("v1.0")),
        (f"deployment:{PROJECT}:tag:v1.1@web", "v1.1", _sha("v1.1")),
        (f"deployment:{PROJECT}:tag:v2.0@web", "v2.0", _sha("v2.0")),
    ]
    tagged = Deployment.objects.get(external_id=f"deployment:{PROJECT}:tag:v1.1@web")
    assert tagged.finished_at == DAY1 + timedelta(days=2)  # the tag's commit time
    assert result.events["created"] == 5
    # Tags, 2 a page: pages 1 and 2 full and newer than the backfill, page 3 (v0.9) past it.
    assert [q["page"] for q in fake.lists("repository/tags")] == ["1", "2", "3"]
    # Releases: page 2 (v1.0, v0.1) reaches past the backfill: the pass stops there.
    assert [q["page"] for q in fake.lists("releases")] == ["1", "2"]
    for q in fake.lists("repository/tags") + fake.lists("releases"):
        assert "updated_after" not in q and "since" not in q  # neither list filters by time
    # Newest seen minus an hour: nightly-5's commit; v2.0's release (v3.0 is upcoming).
    cursors = {c.stream: c for c in SyncCursor.objects.filter(source=src)}
    assert cursors["tags"].since == DAY1 + timedelta(days=5, hours=-1)
    assert cursors["releases"].since == DAY1 + timedelta(days=4, hours=-1)
    assert cursors["tags"].resume_url == cursors["releases"].resume_url == ""


def test_gitlab_second_sync_of_tags_and_releases_stops_at_the_cursor(fake: FakeGitLab) -> None:
    src = source(fake.url)
    sync(src)
    fake.requests.clear()

    result = sync(src, NOW + timedelta(minutes=15))

    # Tags: page 1 is nightly-5 (the boundary, read again: no deployment) and v2.0, older than
    # the cursor (nightly-5's time minus 1 h): one request.
    assert [q["page"] for q in fake.lists("repository/tags")] == ["1"]
    # Releases: page 1 is v3.0 (upcoming, skipped) and v2.0 (at the cursor's boundary, read
    # again); page 2 starts with v1.0, past the cursor: two requests, nothing new.
    assert [q["page"] for q in fake.lists("releases")] == ["1", "2"]
    assert result.objects["tags"] == 1 and result.objects["releases"] == 1
    assert result.events["created"] == 0 and result.events["updated"] == 0
    assert len(deployments()) == 5

    # v3.0 is released (its date moved to before the sync): the next sync records it.
    project = fake.projects[PROJECT]
    project.releases[-1] = release("v3.0", 20)
    fake.requests.clear()

    result = sync(src, NOW + timedelta(minutes=30))

    assert result.events["created"] == 1
    assert (f"deployment:{PROJECT}:release:v3.0@web", "v3.0", _sha("v3.0")) in deployments()
