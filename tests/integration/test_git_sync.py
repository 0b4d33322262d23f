"""The scheduled sync of a `git` source: a repository built here with the git CLI (the `shop`
history of test_ingest_git), read in place by path and cloned by a file:// URL. Counts are derived
by hand from that history; no network is reached (file:// only)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from dora.config import config_apply, config_load
from dora.models import Commit, Deployment, Service
from ingest.models import Source, SyncCursor
from ingest.schedule import source_sync_exclusive
from ingest.sources.git.history import git_history_ingest
from ingest.sync import source_sync
from tests.integration.test_ingest_git import ROOT, at, shop

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command"),
]

NOTHING = {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0}


@pytest.fixture(autouse=True)
def cache(settings: Any, tmp_path: Path) -> Path:
    settings.DORA_GIT_CACHE = str(tmp_path / "cache")
    return tmp_path / "cache"


def git_source(location: str, **fields: Any) -> Source:
    tags = fields.pop("tags", None)
    deployments = (
        {"from": ["tags"], "tag_pattern": tags, "service": "shop", "environment": "production"}
        if tags
        else {}
    )
    return Source.objects.create(
        name=fields.pop("name", "shop-git"),
        kind="git",
        base_url="",
        token_env="",
        repos=["acme/shop"],
        location=location,
        deployments=deployments,
        backfill_days=0,
        **fields,
    )


@pytest.mark.parametrize("served", ["path", "url"])
def test_sync_first_then_nothing_then_new_commit_and_tag(
    tmp_path: Path, cache: Path, served: str
) -> None:
    repo, s = shop(tmp_path)
    Service.objects.create(name="shop", repos=["acme/shop"], configured=True)
    location = str(repo.path) if served == "path" else repo.path.as_uri()
    source = git_source(location, tags=r"^v\d")
    reports: list[dict[str, Any]] = []

    first = source_sync(source, progress=reports.append).as_dict()
    # Reachable from HEAD (main): c1, f1, c2, m1, sq, c3, r1c, r2c; tags ^v\d: v1.0, v1.1.
    assert first["events"] == {**NOTHING, "created": 10}
    assert first["objects"] == {"commits": 8, "tags": 2}
    assert first["repositories"] == 1
    assert Commit.objects.count() == 8
    assert set(Deployment.objects.values_list("version", flat=True)) == {"v1.0", "v1.1"}
    commits = [r for r in reports if r["stream"] == "commits"]
    assert commits[-1]["done"] == commits[-1]["total"] == 8
    assert sum(r["objects"] for r in commits) == 8
    if served == "url":
        clones = list(cache.iterdir())
        assert len(clones) == 1 and clones[0].name.startswith("shop-git-")
        bare = subprocess.run(
            ["git", "-C", str(clones[0]), "rev-parse", "--is-bare-repository"],
            capture_output=True,
            text=True,
        )
        assert bare.stdout.strip() == "true"
    cursor = SyncCursor.objects.get(source=source, repo="acme/shop", stream="refs")
    state = json.loads(cursor.resume_url)
    assert state["heads"] == {"HEAD": s["r2c"]}
    assert state["tags"] == {"v1.0": s["m1"], "v1.1": s["r2c"]}

    second = source_sync(source).as_dict()
    assert second["events"] == NOTHING  # nothing read, nothing recorded (not even unchanged)
    assert second["objects"] == {"commits": 0, "tags": 0}

    c4 = repo.commit("c4", {"d.txt": "d"}, at(16))
    repo.git("tag", "-a", "-m", "release 1.2", "v1.2", c4, author=at(16, 30))
    third = source_sync(source).as_dict()
    assert third["events"] == {**NOTHING, "created": 2}  # c4 and the deployment v1.2
    assert third["objects"] == {"commits": 1, "tags": 1}
    v12 = Deployment.objects.get(version="v1.2")
    assert v12.sha == c4 and v12.service.name == "shop"
    assert Commit.objects.count() == 9
    assert source_sync(source).as_dict()["events"] == NOTHING
    source.refresh_from_db()
    assert source.last_error == "" and source.last_sync_at is not None


def test_sync_reads_the_branches_given(tmp_path: Path) -> None:
    repo, s = shop(tmp_path)
    source = git_source(str(repo.path), branches=["main", "squashed"])
    result = source_sync(source).as_dict()
    # main's 8 commits, and s1, s2 of the branch `squashed` (merged as a squash, so not on main).
    assert result["objects"]["commits"] == 10
    assert {s["s1"], s["s2"]} <= set(Commit.objects.values_list("sha", flat=True))
    # A new commit on `squashed` only: the next pass reads just that one.
    repo.git("checkout", "-q", "squashed")
    s3 = repo.commit("s3", {"g.txt": "3"}, at(16))
    assert source_sync(source).as_dict()["objects"]["commits"] == 1
    assert Commit.objects.filter(sha=s3).exists()


def test_a_crash_before_the_cursor_is_saved_loses_nothing(tmp_path: Path) -> None:
    repo, _ = shop(tmp_path)
    source = git_source(str(repo.path))
    source_sync(source)
    SyncCursor.objects.filter(source=source).update(resume_url="")  # as if it had never saved
    again = source_sync(source).as_dict()
    assert again["events"] == {**NOTHING, "unchanged": 8}  # read again, stored nothing new
    assert Commit.objects.count() == 8


def test_bad_url_is_a_clear_error_on_the_source(tmp_path: Path, cache: Path) -> None:
    missing = (tmp_path / "nowhere.git").as_uri()
    source = git_source(missing, name="gone")
    result = source_sync_exclusive(source.pk)
    assert set(result) == {"rejected"}
    assert result["rejected"].startswith("Source 'gone': git clone of file://")
    assert "does not appear to be a git repository" in result["rejected"]
    source.refresh_from_db()
    assert source.last_error == result["rejected"]
    assert not cache.exists() or not any(cache.iterdir())  # no half clone left behind


def test_a_path_that_is_no_repository_is_a_clear_error(tmp_path: Path) -> None:
    source = git_source(str(tmp_path), name="plain")
    result = source_sync_exclusive(source.pk)
    assert "is not a git repository" in result["rejected"]


def test_remote_helpers_and_options_are_refused_before_git_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    for i, location in enumerate([f"ext::sh -c touch% {marker}", "-uhttps://x/y", "http://h/r"]):
        source = git_source(location, name=f"bad{i}")
        result = source_sync_exclusive(source.pk)
        assert result["rejected"].startswith(f"Source 'bad{i}': url ")
    assert not marker.exists()


def test_a_missing_branch_is_a_clear_error(tmp_path: Path) -> None:
    repo, _ = shop(tmp_path)
    source = git_source(str(repo.path), branches=["release"])
    result = source_sync_exclusive(source.pk)
    assert "'release' names no commit" in result["rejected"]


def test_config_applies_a_git_source(tmp_path: Path) -> None:
    text = f"""
services:
  - name: shop
    repos: [acme/shop]
sources:
  - name: shop-git
    kind: git
    url: {(tmp_path / "shop").as_uri()}
    repo: acme/shop
    branches: [main]
    tags: "^v"
    service: shop
    interval: 5m
"""
    diff = config_apply(config_load(text))
    assert "+ source shop-git" in diff.lines and not diff.errors
    source = Source.objects.get(name="shop-git")
    assert (source.kind, source.location, source.repos) == (
        "git",
        (tmp_path / "shop").as_uri(),
        ["acme/shop"],
    )
    assert source.branches == ["main"] and source.backfill_days == 0
    assert source.interval_seconds == 300
    assert source.deployments == {
        "from": ["tags"],
        "tag_pattern": "^v",
        "service": "shop",
        "environment": "production",
    }


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("path: /srv/a\n    url: file:///srv/a\n    repo: a/b", "or url (one it clones), not both"),
        ("repo: a/b", "give path: /srv/git/shop.git or url:"),
        ("path: /srv/a", "'repo' is required"),
        ("path: /srv/a\n    repo: a/b\n    tags: '^v('", "not a valid regular expression"),
        ("path: /srv/a\n    repo: a/b\n    tags: '^v'", "tags: needs service"),
        ("path: /srv/a\n    repo: a/b\n    token_env: X", "a git source names path or url"),
        ("path: /srv/a\n    repo: a/b\n    org: acme", "a git source names path or url"),
    ],
)
def test_config_reader_git_problems(entry: str, message: str) -> None:
    from dora.config import ConfigError

    text = f"sources:\n  - name: g\n    kind: git\n    {entry}\n"
    with pytest.raises(ConfigError) as caught:
        config_load(text)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("path: srv/a", "path 'srv/a' is not absolute"),
        ("url: http://h/r.git", "the http protocol is not used"),
        ("url: -oProxyCommand=x", "starts with '-'"),
        ("url: 'ext::sh -c x'", "remote helpers"),
        ("url: 'https://u:p@h/r.git'", "a password in the URL"),
        ("path: /srv/a\n    branches: [--output=/tmp/x]", "is not a branch or revision name"),
    ],
)
def test_config_check_git_problems(entry: str, message: str) -> None:
    text = f"sources:\n  - name: g\n    kind: git\n    repo: a/b\n    {entry}\n"
    diff = config_apply(config_load(text))
    assert any(message in error for error in diff.errors), diff.errors
    assert not Source.objects.filter(name="g").exists()


def test_own_history_commit_count_equals_rev_list(tmp_path: Path) -> None:
    """The shared ingest on this project's own checkout (its .git)."""
    inside = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--git-dir"], capture_output=True, text=True
    )
    if inside.returncode != 0:
        pytest.skip(f"{ROOT} is not a git checkout (no .git): nothing to read")
    expected = int(
        subprocess.run(
            ["git", "-C", str(ROOT), "rev-list", "--count", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    done = git_history_ingest(str(ROOT), repo="self/dora", count_first=True)
    assert done.commits == done.total == expected
    assert done.report.counts["created"] == expected
    assert Commit.objects.filter(repo="self/dora").count() == expected


def test_sync_command_reports_commits_done_of_total(tmp_path: Path) -> None:
    import io

    from django.core.management import call_command

    repo, _ = shop(tmp_path)
    git_source(repo.path.as_uri())
    out = io.StringIO()
    call_command("sync", "--source", "shop-git", stdout=out, stderr=io.StringIO())
    lines = out.getvalue().splitlines()
    assert lines[0] == f"shop-git: syncing {repo.path.as_uri()}"
    # One batch (8 commits < 5,000): one progress line, then the summary; no API to count.
    assert lines[1].startswith("  acme/shop commits: 8 of 8 commits")
    assert lines[2] == (
        "shop-git: done, 1 repositories, 8 objects, events "
        "{'created': 8, 'updated': 0, 'unchanged': 0, 'rejected': 0}"
    )


def test_a_force_pushed_branch_is_read_from_its_new_head(tmp_path: Path) -> None:
    repo, s = shop(tmp_path)
    source = git_source(repo.path.as_uri())
    source_sync(source)
    # main rewound to c3 and a new commit on it: r1c, r2c are no longer on main.
    repo.git("reset", "-q", "--hard", s["c3"])
    c5 = repo.commit("c5", {"e.txt": "e"}, at(17))
    result = source_sync(source).as_dict()
    assert result["objects"]["commits"] == 1 and result["events"]["created"] == 1
    assert Commit.objects.filter(sha=c5).exists() and Commit.objects.count() == 9


def test_changed_tag_settings_record_the_tags_again(tmp_path: Path) -> None:
    repo, _ = shop(tmp_path)
    Service.objects.create(name="shop", repos=["acme/shop"], configured=True)
    source = git_source(str(repo.path), tags=r"^v\d")
    source_sync(source)
    source.deployments = {**source.deployments, "environment": "staging"}
    source.save()
    result = source_sync(source).as_dict()
    # No new commit; v1.0 and v1.1 to staging are other deployments (other ids).
    assert result["objects"] == {"commits": 0, "tags": 2}
    assert result["events"]["created"] == 2
    assert Deployment.objects.filter(environment__name="staging").count() == 2


def test_source_clean_checks_a_git_row() -> None:
    from django.core.exceptions import ValidationError

    row = Source(name="x", kind="git", location="srv/a", repos=["a/b", "c/d"], branches="main")
    with pytest.raises(ValidationError) as caught:
        row.clean()
    assert set(caught.value.message_dict) == {"location", "repos", "branches"}
    assert "is not absolute" in caught.value.message_dict["location"][0]
    Source(name="y", kind="git", location="/srv/a", repos=["a/b"], branches=["main"]).clean()


def test_the_scheduler_queues_a_git_source_and_its_task_syncs_it(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from ingest.schedule import sources_dispatch

    repo, _ = shop(tmp_path)
    source = git_source(str(repo.path))
    queued: list[int] = []
    assert sources_dispatch(now=datetime.now(UTC), enqueue=queued.append) == [source.pk]
    assert queued == [source.pk]
    result = source_sync_exclusive(source.pk)  # what source_sync_task runs
    assert result["objects"] == {"commits": 8, "tags": 0}
    assert result["events"] == {**NOTHING, "created": 8}
