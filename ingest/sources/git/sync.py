"""Git sync: a `git` source's repository read on its schedule, through the same code path as
`manage.py ingest_git` (ingest.sources.git.history.git_history_ingest).

Where the repository is (`Source.location`, config `path:` or `url:`):
- a path is read in place (a clone or a bare repository the worker can read);
- a URL is cloned the first time, bare and without file contents (`--filter=blob:none`: commits
  and trees are all the history needs), into DORA_GIT_CACHE/<source>-<hash of the URL>.git, and
  fetched (`git fetch --prune --tags`) on every later sync. Only the file, https, ssh and git
  transports are allowed (`protocol.allow=never` plus one `protocol.<name>.allow=always` each),
  git never prompts (GIT_TERMINAL_PROMPT=0, ssh in batch mode), every value is passed as one
  argv item after `--` or `--end-of-options`, never through a shell. A clone is made in a
  temporary directory and renamed when complete, so a crash leaves no half clone behind.

Cursor protocol (ingest.models.SyncCursor, repo <name>, stream `refs`): its `resume_url` holds,
as JSON, what the last complete pass read: `heads` {revision: sha} and `tags` {name: sha} of the
tags that matched, with `deploys` (the pattern, service and environment they were read with).
A pass reads the commits of the current heads (and of new tags) not reachable from the heads and
tags read before (`git log <new> --not <old>`), then the new or moved tags as deployments, and
saves the cursor after the intake has stored them all. An unchanged repository reads and records
nothing. A crash before the cursor is saved reads the same commits again next time: their ids are
stable, so they are stored unchanged and nothing is lost or doubled. The first pass reads the
whole history, or `backfill` days of it when the source gives one.

Errors: a path that is not a repository, a URL git cannot clone from, a branch the repository
does not have are SourceRejected (kept on the source as `last_error`); a network failure or a
timeout (DORA_GIT_TIMEOUT_SECONDS) is SourceUnavailable (retried; the next run resumes).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from dora.intake.derive import pending_derive
from ingest.http import Clock, SourceRejected, SourceUnavailable, SystemClock
from ingest.models import Source, SyncCursor
from ingest.sources.base import Progress, SyncResult
from ingest.sources.git import mapper
from ingest.sources.git.config import (
    PROTOCOLS,
    git_location_problem,
    git_revision_problem,
    location_is_url,
)
from ingest.sources.git.history import GitIngested, git_history_ingest
from ingest.sources.git.reader import (
    GitError,
    commits_present,
    git_executable,
    repository_check,
    rev_resolve,
    tags_read,
)

STREAM = "refs"
PROTOCOL_OPTIONS = ("-c", "protocol.allow=never") + tuple(
    item for name in PROTOCOLS for item in ("-c", f"protocol.{name}.allow=always")
)
# What git prints when the network, not the configuration, failed: retried, not rejected.
_TRANSIENT = re.compile(
    r"could not resolve host|temporary failure in name resolution|connection (refused|timed out"
    r"|reset)|network is unreachable|operation timed out|returned error: 5\d\d|HTTP 5\d\d",
    re.IGNORECASE,
)


class GitUnavailable(GitError):
    """A git command failed for a reason that may pass (the network, a timeout)."""


def git_cache_path(source: Source) -> Path:
    """The bare clone of a URL source: one directory per source and URL."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", source.name).strip("-.") or "source"
    digest = hashlib.sha256(source.location.encode()).hexdigest()[:12]
    return Path(settings.DORA_GIT_CACHE) / f"{slug}-{digest}.git"


def _git_remote(*args: str, where: str) -> None:
    """Run a git command that reaches a remote: allowed transports only, never a prompt."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    timeout = settings.DORA_GIT_TIMEOUT_SECONDS
    try:
        done = subprocess.run(
            [git_executable(), *PROTOCOL_OPTIONS, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env=env,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise GitUnavailable(f"git {args[0]} of {where} took over {timeout:.0f}s") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        error = GitUnavailable if _TRANSIENT.search(message) else GitError
        raise error(f"git {args[0]} of {where} failed: {message}")


def git_clone_or_fetch(source: Source) -> str:
    """The local bare clone of a URL source, cloned the first time and fetched after."""
    url, target = source.location, git_cache_path(source)
    if (target / "HEAD").is_file():
        _git_remote("-C", str(target), "fetch", "--prune", "--tags", "--quiet", "origin", where=url)
        return str(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        _git_remote(
            "clone", "--bare", "--filter=blob:none", "--quiet", "--", url, str(partial), where=url
        )
        # A bare clone maps no fetch refspec: give it the branches, so fetches move them.
        _git_remote(
            "-C",
            str(partial),
            "config",
            "remote.origin.fetch",
            "+refs/heads/*:refs/heads/*",
            where=url,
        )
        partial.rename(target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return str(target)


class GitSync:
    """The sync of one git source; `run()` reads what is new since the last pass."""

    def __init__(self, source: Source, *, now: datetime, progress: Progress | None = None) -> None:
        self.source = source
        self.now = now
        self.progress = progress
        self.result = SyncResult()
        repos = source.repos if isinstance(source.repos, list) else []
        if len(repos) != 1 or not isinstance(repos[0], str):
            raise SourceRejected(f"Source {source.name!r} names no repository: give it repo:.")
        self.repo = repos[0]
        self._reported = 0

    def _report(self, stream: str, objects: int, **extra: Any) -> None:
        if self.progress is not None:
            self.progress({"repo": self.repo, "stream": stream, "objects": objects, **extra})

    def repository(self) -> str:
        location = self.source.location
        if problem := git_location_problem(location):
            raise SourceRejected(f"Source {self.source.name!r}: {problem}")
        if location_is_url(location):
            path = git_clone_or_fetch(self.source)
            self._report("fetch", 0)  # a long clone: the lease is renewed once it is done
            return path
        repository_check(location)
        return location

    def run(self) -> SyncResult:
        path = self.repository()
        cursor, _ = SyncCursor.objects.get_or_create(
            source=self.source, repo=self.repo, stream=STREAM
        )
        state = json.loads(cursor.resume_url) if cursor.resume_url else {}
        heads: dict[str, str] = {}
        for rev in self.source.branches or ["HEAD"]:
            if problem := git_revision_problem(rev):
                raise SourceRejected(f"Source {self.source.name!r}: branches: {problem}")
            sha = rev_resolve(path, rev)
            if sha is None:
                raise SourceRejected(
                    f"Source {self.source.name!r}: {rev!r} names no commit in "
                    f"{self.source.location} (an empty repository? a branch it does not have?)"
                )
            heads[rev] = sha
        options = self.source.deployments if isinstance(self.source.deployments, dict) else {}
        deploys = {key: options.get(key) for key in ("tag_pattern", "service", "environment")}
        matching = []
        if deploys["tag_pattern"] and deploys["service"]:
            pattern = re.compile(deploys["tag_pattern"])
            matching = [tag for tag in tags_read(path) if mapper.tag_matches(pattern, tag)]
        first = not state
        since = (
            self.now - timedelta(days=self.source.backfill_days)
            if first and self.source.backfill_days
            else None
        )
        # Tags read before with other settings deploy anew (other ids); otherwise only new ones.
        old_tags = state.get("tags", {}) if state.get("deploys") == deploys else {}
        new_tags = [
            tag
            for tag in matching
            if old_tags.get(tag.name) != tag.sha
            and not (since and mapper.parse_time(tag.tagged_at) < since)
        ]
        read_before = {*state.get("heads", {}).values(), *state.get("tags", {}).values()}
        exclude = sorted(commits_present(path, sorted(read_before)))
        done = git_history_ingest(
            path,
            repo=self.repo,
            starts=list(heads.values()),
            exclude=exclude,
            tags=new_tags,
            service=deploys["service"],
            environment=deploys["environment"] or "production",
            since=since,
            count_first=True,
            progress=self._batch,
            now=self.now,
            defer_derivation=True,
            sent_by=f"sync:{self.source.name}",
        )
        self.result.repositories = 1
        self.result.add_report(done.report, stream="commits", objects=done.commits)
        self.result.objects["tags"] = done.tags
        # Only now, every event stored: what this pass read (see the module doc).
        cursor.resume_url = json.dumps(
            {"heads": heads, "tags": {t.name: t.sha for t in matching}, "deploys": deploys},
            sort_keys=True,
        )
        cursor.synced_at = self.now
        with transaction.atomic():
            cursor.save()
        return self.result

    def _batch(self, done: GitIngested) -> None:
        """One batch stored: commits done of the total counted before the pass."""
        objects, self._reported = done.commits - self._reported, done.commits
        self._report("commits", objects, done=done.commits, total=done.total)


def git_source_sync(
    source: Source | str,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
    now: datetime | None = None,
    **_: Any,
) -> SyncResult:
    """Read what is new in a git source's repository into events (see the module doc).

    A problem a human must fix is kept on the source as `last_error` and raised as
    SourceRejected; a failure that may pass is SourceUnavailable (a later run resumes).
    """
    if isinstance(source, str):
        source = Source.objects.get(name=source)
    clock = clock or SystemClock()
    now = now or datetime.fromtimestamp(clock.time(), UTC)
    try:
        result = GitSync(source, now=now, progress=progress).run()
    except GitUnavailable as exc:
        raise SourceUnavailable(f"Source {source.name!r}: {exc}") from exc
    except (GitError, SourceRejected) as exc:
        problem = str(exc) if isinstance(exc, SourceRejected) else f"Source {source.name!r}: {exc}"
        Source.objects.filter(pk=source.pk).update(last_error=problem)
        raise SourceRejected(problem) from exc
    Source.objects.filter(pk=source.pk).update(last_sync_at=now, last_error="")
    pending_derive()
    return result
