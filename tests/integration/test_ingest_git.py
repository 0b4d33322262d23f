"""`manage.py ingest_git`: local repositories built here with the git CLI, at fixed times, read into
commit events and tag deployments (CONTRACT §1). Expectations are derived by hand from the histories
the builders write; shas are read back from git as each commit is made."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from dora.models import Commit, Deployment, Rollout, Service
from ingest.sources.git.reader import commits_parse

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command"),
]

ROOT = Path(__file__).resolve().parents[2]


def at(hour: int, minute: int = 0, offset: int = 0) -> str:
    """2026-03-02 at hour:minute in a zone `offset` hours east of UTC, as git takes it."""
    zone = timezone(timedelta(hours=offset))
    return datetime(2026, 3, 2, hour, minute, tzinfo=zone).isoformat()


def utc(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, 2, hour, minute, tzinfo=UTC)


class Repo:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir()
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.name", "Ada Lovelace")
        self.git("config", "user.email", "ada@example.com")
        self.git("config", "commit.gpgsign", "false")
        self.git("config", "tag.gpgsign", "false")

    def git(self, *args: str, author: str = at(0), committer: str | None = None) -> str:
        env = {
            **os.environ,
            "GIT_AUTHOR_DATE": author,
            "GIT_COMMITTER_DATE": committer or author,
            "GIT_CONFIG_NOSYSTEM": "1",
            "HOME": str(self.path),
        }
        done = subprocess.run(
            ["git", "-C", str(self.path), *args], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def commit(
        self, message: str, files: dict[str, str], author: str, committer: str | None = None
    ) -> str:
        for name, text in files.items():
            (self.path / name).parent.mkdir(parents=True, exist_ok=True)
            (self.path / name).write_text(text)
            self.git("add", name)
        self.git("commit", "-q", "-m", message, author=author, committer=committer)
        return self.git("rev-parse", "HEAD")


def ingest(path: Path, *args: str) -> str:
    out = io.StringIO()
    call_command("ingest_git", str(path), *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def shop(tmp_path: Path) -> tuple[Repo, dict[str, str]]:
    """main: c1 10:00; feature f1 11:00 merged --no-ff as m1 (13:00); c2 authored 12:00+01:00
    (11:00Z), committed 12:30+01:00 (11:30Z); squash of s1, s2 as sq (13:30); c3 14:00; branch r
    (r1 author 12:10, r2 author 12:20) rebased onto c3 at 14:30 (copies r1c, r2c keep the
    author times, committer 14:30) and fast-forwarded into main.
    Tags: v1.0 lightweight on m1; v1.1 annotated on r2c at 15:00; 'nightly' on c3."""
    repo = Repo(tmp_path / "shop")
    s: dict[str, str] = {}
    s["c1"] = repo.commit("c1: start", {"a.txt": "a"}, at(10))
    repo.git("checkout", "-q", "-b", "feature")
    s["f1"] = repo.commit("f1: feature", {"f.txt": "f"}, at(11))
    repo.git("checkout", "-q", "main")
    s["c2"] = repo.commit("c2: main moves", {"b.txt": "b"}, at(12, 0, 1), at(12, 30, 1))
    repo.git("merge", "-q", "--no-ff", "-m", "m1: merge feature", "feature", author=at(13))
    s["m1"] = repo.git("rev-parse", "HEAD")
    repo.git("checkout", "-q", "-b", "squashed")
    s["s1"] = repo.commit("s1", {"g.txt": "1"}, at(12, 40))
    s["s2"] = repo.commit("s2", {"g.txt": "2"}, at(12, 50))
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--squash", "squashed", author=at(13, 30))
    s["sq"] = repo.commit("sq: squash of s1 s2", {}, at(13, 30))
    repo.git("checkout", "-q", "-b", "r", s["m1"])
    s["r1"] = repo.commit("r1", {"r.txt": "1"}, at(12, 10))
    s["r2"] = repo.commit("r2", {"r.txt": "2"}, at(12, 20))
    repo.git("checkout", "-q", "main")
    s["c3"] = repo.commit("c3", {"c.txt": "c"}, at(14))
    repo.git("tag", "nightly")
    repo.git("checkout", "-q", "r")
    repo.git("rebase", "-q", "main", author=at(14, 30))
    s["r2c"] = repo.git("rev-parse", "HEAD")
    s["r1c"] = repo.git("rev-parse", "HEAD~1")
    repo.git("checkout", "-q", "main")
    repo.git("merge", "-q", "--ff-only", "r", author=at(14, 30))
    repo.git("tag", "v1.0", s["m1"])
    repo.git("tag", "-a", "-m", "release 1.1", "v1.1", s["r2c"], author=at(15))
    return repo, s


def test_commits_field_by_field(tmp_path: Path) -> None:
    repo, s = shop(tmp_path)
    out = ingest(repo.path, "--repo", "acme/shop", "--quiet")
    # Reachable from main: c1, f1, c2, m1, sq, c3, r1c, r2c (s1, s2, r1, r2 are not).
    assert out.startswith("8 commits, 0 tag deployments: 8 created, 0 updated, 0 unchanged")
    rows = {c.sha: c for c in Commit.objects.filter(repo="acme/shop")}
    assert set(rows) == {s[k] for k in ("c1", "f1", "c2", "m1", "sq", "c3", "r1c", "r2c")}
    expected = {
        # name: (parents, authored_at, committed_at, message)
        "c1": ([], utc(10), utc(10), "c1: start"),
        "f1": (["c1"], utc(11), utc(11), "f1: feature"),
        "c2": (["c1"], utc(11), utc(11, 30), "c2: main moves"),
        "m1": (["c2", "f1"], utc(13), utc(13), "m1: merge feature"),
        "sq": (["m1"], utc(13, 30), utc(13, 30), "sq: squash of s1 s2"),
        "c3": (["sq"], utc(14), utc(14), "c3"),
        "r1c": (["c3"], utc(12, 10), utc(14, 30), "r1"),
        "r2c": (["r1c"], utc(12, 20), utc(14, 30), "r2"),
    }
    for name, (parents, authored, committed, message) in expected.items():
        row = rows[s[name]]
        assert row.source == "git:acme/shop"
        assert row.external_id == f"commit:acme/shop@{s[name]}"  # type:id
        assert row.parents == [s[p] for p in parents], name
        assert row.authored_at == authored, name
        assert row.committed_at == committed, name
        assert row.author == "Ada Lovelace"
        assert row.message == message
        assert row.files == []  # no service of acme/shop has paths: files are not read
    # The rebased copies are new commits, not the originals.
    assert s["r1"] != s["r1c"] and s["r2"] != s["r2c"]


def test_tags_are_deployments_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    repo, s = shop(tmp_path)
    Service.objects.create(name="shop", repos=["acme/shop"], configured=True)
    args = ("--repo", "acme/shop", "--service", "shop", "--tags", r"^v\d", "--quiet")
    out = ingest(repo.path, *args)
    assert out.startswith("8 commits, 2 tag deployments: 10 created, 0 updated, 0 unchanged")
    deployments = {d.version: d for d in Deployment.objects.all()}
    assert set(deployments) == {"v1.0", "v1.1"}  # 'nightly' does not match
    light, annotated = deployments["v1.0"], deployments["v1.1"]
    assert (light.sha, light.finished_at) == (s["m1"], utc(13))  # the commit's committer date
    assert (annotated.sha, annotated.finished_at) == (s["r2c"], utc(15))  # the tag's own date
    for d in (light, annotated):
        assert d.service.name == "shop" and d.environment.name == "production"
        assert d.status == "success" and d.repo == "acme/shop"
        assert d.source == "git:acme/shop"
    # v1.1 ships what v1.0 did not: c2 and f1 shipped with m1; then sq, c3, r1c, r2c.
    rollout = Rollout.objects.get(deployments=annotated)
    assert set(rollout.commits.values_list("sha", flat=True)) == {
        s["sq"],
        s["c3"],
        s["r1c"],
        s["r2c"],
    }

    again = ingest(repo.path, *args)
    assert again.startswith("8 commits, 2 tag deployments: 0 created, 0 updated, 10 unchanged")
    assert Commit.objects.count() == 8 and Deployment.objects.count() == 2

    other = ingest(repo.path, *args[:4], "--tags", "^v", "--environment", "staging", "--quiet")
    assert "2 created" in other  # the same tags to another environment: new deployments
    assert Deployment.objects.filter(environment__name="staging").count() == 2


def test_since(tmp_path: Path) -> None:
    repo, s = shop(tmp_path)
    Service.objects.create(name="shop", repos=["acme/shop"], configured=True)
    out = ingest(
        repo.path, "--repo", "acme/shop", "--since", "2026-03-02T13:15:00+00:00", "--quiet",
        "--service", "shop", "--tags", "^v",
    )  # fmt: skip
    # Committed at or after 13:15: sq (13:30), c3 (14:00), r1c, r2c (14:30); tags: v1.1 (15:00).
    assert out.startswith("4 commits, 1 tag deployments: 5 created")
    assert set(Commit.objects.values_list("sha", flat=True)) == {
        s["sq"],
        s["c3"],
        s["r1c"],
        s["r2c"],
    }
    assert list(Deployment.objects.values_list("version", flat=True)) == ["v1.1"]


def test_monorepo_files_and_change_sets(tmp_path: Path) -> None:
    """k0 touches both services; k1 api; k2 web; branch w: k4 web, merged --no-ff as k5; k3 the
    README only. v1 on k0, v2 on k3."""
    Service.objects.create(
        name="api", repos=["acme/mono"], paths=["services/api/**"], configured=True
    )
    Service.objects.create(
        name="web", repos=["acme/mono"], paths=["services/web/**"], configured=True
    )
    repo = Repo(tmp_path / "mono")
    k0 = repo.commit("k0", {"services/web/w.js": "w", "services/api/a.py": "a"}, at(9))
    repo.git("tag", "v1")
    k1 = repo.commit("k1", {"services/api/a.py": "a1"}, at(10))
    repo.git("checkout", "-q", "-b", "w")
    k4 = repo.commit("k4", {"services/web/x.js": "x"}, at(10, 30))
    repo.git("checkout", "-q", "main")
    k2 = repo.commit("k2", {"services/web/w.js": "w2"}, at(11))
    repo.git("merge", "-q", "--no-ff", "-m", "k5", "w", author=at(11, 30))
    k5 = repo.git("rev-parse", "HEAD")
    k3 = repo.commit("k3", {"README.md": "r"}, at(12))
    repo.git("tag", "v2")
    for service in ("api", "web"):
        ingest(repo.path, "--repo", "acme/mono", "--service", service, "--tags", "^v", "--quiet")
    files = dict(Commit.objects.values_list("sha", "files"))
    assert files == {
        k0: ["services/api/a.py", "services/web/w.js"],
        k1: ["services/api/a.py"],
        k4: ["services/web/x.js"],
        k2: ["services/web/w.js"],
        k5: ["services/web/x.js"],  # a merge: its paths against its first parent
        k3: ["README.md"],
    }
    assert Commit.objects.get(sha=k5).parents == [k2, k4]

    def shipped(service: str) -> set[str]:
        rollout = Rollout.objects.get(deployments__service__name=service, deployments__version="v2")
        return set(rollout.commits.values_list("sha", flat=True))

    assert shipped("api") == {k1}
    assert shipped("web") == {k2, k4, k5}


def test_own_history() -> None:
    probe = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--show-toplevel"], capture_output=True, text=True
    )
    if probe.returncode != 0 or Path(probe.stdout.strip()).resolve() != ROOT:
        pytest.skip("the test's checkout is not a git repository")
    count = int(
        subprocess.run(
            ["git", "-C", str(ROOT), "rev-list", "--count", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    out = ingest(ROOT, "--repo", "dora/self", "--quiet")
    assert out.startswith(f"{count} commits, 0 tag deployments: {count} created")
    assert Commit.objects.filter(repo="dora/self").count() == count


def test_errors_say_what_to_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    repo, _ = shop(tmp_path)
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(CommandError, match="is not a git repository"):
        ingest(plain, "--repo", "x/y")
    with pytest.raises(CommandError, match="is not a git repository"):
        ingest(tmp_path / "missing", "--repo", "x/y")
    with pytest.raises(CommandError, match="unknown service 'nope'"):
        ingest(repo.path, "--repo", "x/y", "--service", "nope", "--tags", "^v")
    Service.objects.create(name="shop", configured=True)
    with pytest.raises(CommandError, match="not a valid regular expression"):
        ingest(repo.path, "--repo", "x/y", "--service", "shop", "--tags", "v(")
    with pytest.raises(CommandError, match="--tags needs --service"):
        ingest(repo.path, "--repo", "x/y", "--tags", "^v")
    with pytest.raises(CommandError, match="--since"):
        ingest(repo.path, "--repo", "x/y", "--since", "last tuesday")
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(CommandError, match="git is not installed"):
        ingest(repo.path, "--repo", "x/y")
    assert Commit.objects.count() == 0


def test_parse_paths_and_messages_across_chunks() -> None:
    """The stream parser alone: a message with blank lines, a commit without paths, a path with a
    space, fed one byte at a time (tokens split anywhere)."""
    from ingest.sources.git.reader import tokens

    a, b = "a" * 40, "b" * 40
    raw = (
        f"\x1e{a}\0{b}\0Ann\0{at(10)}\0{at(11)}\0title\n\nbody\n\0\0\ndir/x y.txt\0z\0"
        f"\x1e{b}\0\0Bob\0{at(8)}\0{at(9)}\0empty\n\0"
    ).encode()
    commits = list(commits_parse(tokens(io.BytesIO(raw), chunk=1), files=True))
    assert [(c.sha, c.parents, c.author, c.message, c.files) for c in commits] == [
        (a, (b,), "Ann", "title\n\nbody", ("dir/x y.txt", "z")),
        (b, (), "Bob", "empty", ()),
    ]


def test_progress_is_plain_lines_when_not_a_terminal(tmp_path: Path) -> None:
    repo, _ = shop(tmp_path)
    err = io.StringIO()
    call_command(
        "ingest_git", str(repo.path), "--repo", "acme/shop", "--batch-size", "3",
        stdout=io.StringIO(), stderr=err,
    )  # fmt: skip
    # Batches of 3 events out of 8 commits: after 3, 6 and 8 commits, one line each.
    lines = err.getvalue().splitlines()
    assert [line.split(" commits")[0] for line in lines] == ["… 3 of 8", "… 6 of 8", "… 8 of 8"]
    assert all(line.endswith("/s)") for line in lines) and "\r" not in err.getvalue()


def test_progress_on_a_terminal_is_one_line_redrawn(tmp_path: Path) -> None:
    from tests.unit.test_progress import FakeTTY

    repo, _ = shop(tmp_path)
    err = FakeTTY()
    call_command(
        "ingest_git", str(repo.path), "--repo", "acme/shop", "--batch-size", "3",
        stdout=io.StringIO(), stderr=err,
    )  # fmt: skip
    # After 3, 6 and 8 commits the line is drawn over itself, then ended once. A line shorter
    # than the one before it is padded with spaces over the rest (a rate of 99.8/s after 101.0/s).
    text = err.getvalue()
    parts = [part.split(" commits")[0] for part in text.split("\r")[1:]]
    assert parts == ["… 3 of 8", "… 6 of 8", "… 8 of 8"]
    assert text.count("\n") == 1 and text.endswith("\n")
    assert all(part.rstrip("\n").rstrip(" ").endswith("/s)") for part in text.split("\r")[1:])


def test_a_tag_off_the_branch_brings_its_commits(tmp_path: Path) -> None:
    """main: c1 (10:00); branch hotfix: h1 (11:00), tagged v9, never merged."""
    Service.objects.create(name="shop", repos=["acme/shop"], configured=True)
    repo = Repo(tmp_path / "hot")
    c1 = repo.commit("c1", {"a.txt": "a"}, at(10))
    repo.git("tag", "v8")
    repo.git("checkout", "-q", "-b", "hotfix")
    h1 = repo.commit("h1", {"a.txt": "h"}, at(11))
    repo.git("tag", "v9")
    repo.git("checkout", "-q", "main")
    args = ("--repo", "acme/shop", "--service", "shop", "--tags", "^v", "--quiet")
    out = ingest(repo.path, *args)
    assert out.startswith("2 commits, 2 tag deployments: 4 created")
    assert set(Commit.objects.values_list("sha", flat=True)) == {c1, h1}
    rollout = Rollout.objects.get(deployments__version="v9")
    assert set(rollout.commits.values_list("sha", flat=True)) == {h1}
    # Without --tags only main's history is read.
    assert ingest(repo.path, "--repo", "acme/other", "--quiet").startswith("1 commits")
