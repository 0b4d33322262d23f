"""One code path from a repository on disk to the event intake: `manage.py ingest_git` and the
scheduled sync of a `git` source both call `git_history_ingest`.

It reads the commits reachable from `starts` (shas or revisions) and not from `exclude` (shas of
what an earlier run read) with one streamed `git log`, then the given tags as deployments, and
records them with `dora.intake.events.events_record` in batches. Event ids are stable
(mapper.py), so reading anything twice stores nothing new.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ingest.sources.git import mapper
from ingest.sources.git.reader import GitTag, commits_count, commits_read, tags_read

BATCH_SIZE = 5_000


@dataclass
class GitIngested:
    """What one run read and what the intake made of it."""

    commits: int = 0
    tags: int = 0
    total: int | None = None  # commits to read, when counted first
    report: Any = None  # dora.intake.events.IntakeReport


def tags_matching(
    path: str, pattern: re.Pattern[str], *, since: datetime | None = None
) -> list[GitTag]:
    """The repository's tags whose name the pattern finds (a search), dated `since` or later."""
    return [
        tag
        for tag in tags_read(path)
        if mapper.tag_matches(pattern, tag)
        and not (since and mapper.parse_time(tag.tagged_at) < since)
    ]


def repository_reads_files(repo: str) -> bool:
    """Changed paths are read only when a monorepo service of the repository has path globs."""
    from dora.models import Service

    return Service.objects.filter(repos__contains=[repo]).exclude(paths=[]).exists()


def git_history_ingest(
    path: str,
    *,
    repo: str,
    starts: Sequence[str] = ("HEAD",),
    exclude: Sequence[str] = (),
    tags: Sequence[GitTag] = (),
    service: str | None = None,
    environment: str = "production",
    since: datetime | None = None,
    count_first: bool = False,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[GitIngested], None] | None = None,
    **record: Any,
) -> GitIngested:
    """Record the commits of `starts` (and of the tags' commits) not reachable from `exclude`,
    then `tags` as successful deployments of `service` to `environment`.

    `since` reads only commits committed from then on. `count_first` counts the commits to read
    first (`git rev-list --count`), so `progress` (called after each batch) knows the total.
    `record` goes to events_record (e.g. now=, sent_by=, derive_every=, defer_derivation=).
    GitError when git fails.
    """
    from dora.intake.events import events_record

    done = GitIngested()
    starts = list(dict.fromkeys([*starts, *sorted({tag.sha for tag in tags})]))
    since_text = since.isoformat() if since else None
    if count_first:
        done.total = commits_count(path, starts, exclude=exclude, since=since_text)
    files = repository_reads_files(repo)

    def events() -> Iterator[dict[str, Any]]:
        if starts and not set(starts) <= set(exclude):
            for commit in commits_read(
                path,
                rev=starts[0],
                since=since_text,
                files=files,
                also=[*starts[1:], *(f"^{sha}" for sha in exclude)],
            ):
                done.commits += 1
                yield mapper.commit_event(repo, commit)
        for tag in tags:
            done.tags += 1
            yield mapper.tag_deployment_event(
                repo, tag, service=service or "", environment=environment
            )

    done.report = events_record(
        events(),
        default_source=mapper.source_name(repo),
        batch_size=batch_size,
        keep_items=False,
        progress=(lambda _n: progress(done)) if progress is not None else None,
        **record,
    )
    return done
