"""Read a local repository's history with the `git` command, streamed.

`git log -z` writes each commit's fields NUL-separated (a commit message never holds a NUL), then,
with `--name-only`, the paths it changed, each NUL-terminated. The output is read in chunks and
split on NUL, so a history of any length is never held whole: one commit at a time is.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# Each commit starts with an ASCII record separator before its sha (a marker, not a field).
_START = "\x1e"
_FIELDS = ("%H", "%P", "%an", "%aI", "%cI", "%B")
LOG_FORMAT = _START + "%x00".join(_FIELDS)
_SHA = re.compile(r"[0-9a-f]{40}([0-9a-f]{24})?")
CHUNK = 1 << 16


class GitError(Exception):
    """A git command failed or cannot run; the message says what to fix."""


@dataclass(frozen=True)
class GitCommit:
    sha: str
    parents: tuple[str, ...]
    author: str
    authored_at: str  # strict ISO 8601 with the author's offset
    committed_at: str
    message: str
    files: tuple[str, ...] | None = None  # None: not read (no service of the repo has paths)


@dataclass(frozen=True)
class GitTag:
    name: str
    sha: str  # the commit the tag names (an annotated tag peeled)
    annotated: bool
    tagged_at: str  # the annotated tag's date, else the commit's committer date


def git_executable() -> str:
    path = shutil.which("git")
    if path is None:
        raise GitError(
            "git is not installed (no `git` on PATH): install it (e.g. apt-get install git) "
            "or put it on PATH"
        )
    return path


def _run(path: str, *args: str) -> str:
    try:
        done = subprocess.run(
            [git_executable(), "-C", path, *args],
            capture_output=True,
            check=False,
        )
    except FileNotFoundError as exc:  # removed between which() and run()
        raise GitError(f"git is not installed: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise GitError(f"git {args[0]} failed in {path}: {message}")
    return done.stdout.decode("utf-8", "replace")


def repository_check(path: str) -> str:
    """The repository's git directory; GitError when `path` is no repository."""
    try:
        done = subprocess.run(
            [git_executable(), "-C", path, "rev-parse", "--absolute-git-dir"],
            capture_output=True,
            check=False,
        )
    except (FileNotFoundError, NotADirectoryError) as exc:
        raise GitError(f"{path} is not a git repository: {exc.strerror}") from exc
    if done.returncode != 0:
        raise GitError(
            f"{path} is not a git repository (git rev-parse: "
            f"{done.stderr.decode('utf-8', 'replace').strip()}); pass the path of a clone "
            "(the directory holding .git, or a bare repository)"
        )
    return done.stdout.decode().strip()


def has_commits(path: str, rev: str = "HEAD") -> bool:
    done = subprocess.run(
        [git_executable(), "-C", path, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def log_command(
    path: str, *, rev: str = "HEAD", since: str | None = None, files: bool, also: bool = False
) -> list[str]:
    command = [
        git_executable(),
        "-C",
        path,
        "-c",
        "log.showSignature=false",
        "log",
        "-z",
        "--no-color",
        "--encoding=UTF-8",
        f"--format={LOG_FORMAT}",
    ]
    if files:
        # A merge's paths against its first parent (what it brought into the branch); renames
        # as a deletion and an addition, so both the old and the new path count.
        command += ["--name-only", "--diff-merges=first-parent", "--no-renames"]
    if since:
        command.append(f"--since={since}")
    if also:
        command.append("--stdin")  # more starting points, one a line (any number of them)
    command += [rev, "--"]
    return command


def tokens(stream, chunk: int = CHUNK) -> Iterator[str]:
    """NUL-terminated tokens of a byte stream, decoded as UTF-8 (bad bytes replaced)."""
    rest = b""
    while data := stream.read(chunk):
        parts = (rest + data).split(b"\0")
        rest = parts.pop()
        for part in parts:
            yield part.decode("utf-8", "replace")
    if rest:
        yield rest.decode("utf-8", "replace")


def commits_parse(items: Iterator[str], *, files: bool) -> Iterator[GitCommit]:
    """`git log -z --format=LOG_FORMAT [--name-only]` tokens -> commits, one at a time."""
    pending: list[str] | None = None  # the six fields of the commit being read
    paths: list[str] = []

    def done() -> GitCommit:
        assert pending is not None
        sha, parents, author, authored, committed, message = pending
        return GitCommit(
            sha=sha,
            parents=tuple(parents.split()),
            author=author,
            authored_at=authored,
            committed_at=committed,
            message=message.rstrip("\n"),
            files=tuple(paths) if files else None,
        )

    for token in items:
        if token.startswith(_START) and _SHA.fullmatch(token[1:]):
            if pending is not None:
                yield done()
            pending, paths = [token[1:]], []
            continue
        if pending is None:
            if token.strip():
                raise GitError(f"unexpected git log output: {token[:80]!r}")
            continue
        if len(pending) < len(_FIELDS):
            pending.append(token)
            continue
        if not token:
            continue  # the separator between a commit's fields and its paths
        if not paths and token.startswith("\n"):
            token = token[1:]  # the paths start on a new line
        if token:
            paths.append(token)
    if pending is not None:
        yield done()


def commits_read(
    path: str,
    *,
    rev: str = "HEAD",
    since: str | None = None,
    files: bool = False,
    also: Sequence[str] = (),
) -> Iterator[GitCommit]:
    """The commits reachable from `rev` or any of `also` (newest first), from one `git log`."""
    command = log_command(path, rev=rev, since=since, files=files, also=bool(also))
    # stderr to a file: a pipe nobody reads while stdout streams could fill and stall git.
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE if also else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        assert process.stdout is not None
        if also:
            assert process.stdin is not None
            # git reads every starting point before it writes anything: no deadlock.
            process.stdin.write("".join(f"{sha}\n" for sha in also).encode())
            process.stdin.close()
        try:
            yield from commits_parse(tokens(process.stdout), files=files)
        finally:
            process.stdout.close()
            code = process.wait()
            errors.seek(0)
            error = errors.read().decode("utf-8", "replace").strip()
    if code != 0:
        raise GitError(f"git log failed in {path}: {error}")


_TAG_FORMAT = "%00".join(
    (
        "%(refname:strip=2)",
        "%(objecttype)",
        "%(objectname)",
        "%(*objecttype)",
        "%(*objectname)",
        "%(creatordate:iso-strict)",
        "%(*committerdate:iso-strict)",
    )
)


def tags_read(path: str) -> Iterator[GitTag]:
    """Every tag naming a commit, with the commit it names and its time; others are skipped."""
    output = _run(path, "for-each-ref", f"--format={_TAG_FORMAT}", "refs/tags")
    for line in output.splitlines():
        if not line:
            continue
        name, kind, sha, peeled_kind, peeled, created, peeled_committed = line.split("\0")
        if kind == "commit":
            # A lightweight tag: creatordate is the commit's committer date.
            yield GitTag(name=name, sha=sha, annotated=False, tagged_at=created)
        elif kind == "tag" and peeled_kind == "commit":
            # An annotated tag: creatordate is the tagger's date (the commit's when it has none).
            yield GitTag(
                name=name, sha=peeled, annotated=True, tagged_at=created or peeled_committed
            )
        elif kind == "tag" and peeled_kind == "tag":
            # A tag of a tag: peel it to its commit.
            target = _run(path, "rev-parse", "--verify", "--quiet", f"{sha}^{{commit}}").strip()
            if target:
                yield GitTag(
                    name=name,
                    sha=target,
                    annotated=True,
                    tagged_at=created or _run(path, "log", "-1", "--format=%cI", target).strip(),
                )


def rev_resolve(path: str, rev: str) -> str | None:
    """The commit `rev` names (a branch, a tag, HEAD, a sha), or None when it names none.

    `--end-of-options` keeps a configured name from ever being read as an option."""
    done = subprocess.run(
        [
            git_executable(),
            "-C",
            path,
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            f"{rev}^{{commit}}",
        ],
        capture_output=True,
        check=False,
    )
    sha = done.stdout.decode().strip()
    return sha if done.returncode == 0 and _SHA.fullmatch(sha) else None


def commits_present(path: str, shas: Sequence[str]) -> set[str]:
    """Those of `shas` the repository still holds as commits (a force-pushed branch's old head
    may be gone from a clone that was pruned and collected); one `git cat-file` for all."""
    if not shas:
        return set()
    done = subprocess.run(
        [git_executable(), "-C", path, "cat-file", "--batch-check=%(objectname) %(objecttype)"],
        input="".join(f"{sha}\n" for sha in shas).encode(),
        capture_output=True,
        check=False,
    )
    present = set()
    for line in done.stdout.decode("utf-8", "replace").splitlines():
        name, _, kind = line.partition(" ")
        if kind == "commit":
            present.add(name)
    return present


def commits_count(
    path: str, starts: Sequence[str], *, exclude: Sequence[str] = (), since: str | None = None
) -> int:
    """How many commits `commits_read` would read from `starts` less those reachable from
    `exclude` (shas only, passed on stdin)."""
    if not starts:
        return 0
    command = [git_executable(), "-C", path, "rev-list", "--count", "--stdin"]
    if since:
        command.append(f"--since={since}")
    lines = [*starts, *(f"^{sha}" for sha in exclude)]
    done = subprocess.run(
        command, input="".join(f"{line}\n" for line in lines).encode(), capture_output=True
    )
    if done.returncode != 0:
        raise GitError(f"git rev-list failed in {path}: {done.stderr.decode().strip()}")
    return int(done.stdout.decode().strip() or 0)
