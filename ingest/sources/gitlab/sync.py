"""GitLab sync: per (project, stream), a page loop through python-gitlab with a cursor.

Streams (GitLab REST v4, per_page=100; mappers: gitlab.mapper, as the collector in client.py):
  commits         GET /projects/:id/repository/commits?since=  (the default branch, newest
                  first; no updated_after: a commit never changes)
  merge_requests  GET /projects/:id/merge_requests?state=all&updated_after=&order_by=updated_at
                  &sort=asc; per MR: its commits, notes and approvals. The MR's commits become
                  commit events too (those not stored with parents yet), as GitHub's sync
  pipelines       GET /projects/:id/pipelines?updated_after=&order_by=updated_at&sort=asc; per
                  pipeline: its detail and jobs
  deployments     GET /projects/:id/deployments?updated_after=&order_by=updated_at&sort=asc
                  (only when `deployments.from` has deployments_api)
  incidents       GET /projects/:id/issues?state=all&updated_after=&order_by=updated_at&sort=asc
  tags            GET /projects/:id/repository/tags?order_by=updated&sort=desc (newest commit
                  first; only when `deployments.from` has tags): mapper.rest_tag_deployment_events,
                  the Tag Push Hook's mapping, at the tag's commit time
  releases        GET /projects/:id/releases?order_by=released_at&sort=desc (only when
                  `deployments.from` has releases): mapper.release_deployment_events, the
                  Release Hook's mapping; an upcoming release is skipped until released
Projects: the source's `repos` (the file's `projects:`), or every project of its `org` (the
file's `group:`, subgroups included, archived ones left out).

Cursor protocol (ingest.models.SyncCursor, one per project and stream), so that a crash
anywhere loses nothing and duplicates nothing:
- The `updated_after` streams read oldest change first. Each page's events go through
  `dora.intake.events.events_record`; only then is the cursor saved, its `since` moved to the newest
  `updated_at` of the page minus OVERLAP (one second: `updated_after` is inclusive for some
  lists and not others, so the boundary is read again rather than trusted), and the next page
  is page 1 of that new query. A crash between the two re-reads the page (event ids are
  GitLab's: the same records are updated, none added). An object changed while a pass runs
  moves to the end of the list, past `since`: it is read later in the same pass or the next.
  Should a whole page share one `updated_at` (since cannot move), the next page number is kept
  in `resume_url` instead.
- The commits list is newest first by commit time with `since`: a pass keeps `since` and saves
  the next page number in `resume_url` after each page; a finished pass moves `since` to the
  newest commit time seen minus COMMIT_OVERLAP (as GitHub's sync does).
- Tags and releases have no time filter: they are read newest first (commit time, release
  time) as the commits list is, a pass keeping `since` and saving the next page number, and
  stopping at the first page that reaches past `since` (objects older than it are left out);
  a finished pass moves `since` to the newest time seen minus COMMIT_OVERLAP. A tag pushed
  late on a commit older than that is not read by the sync (its Tag Push Hook records it).
- The first pass starts `backfill_days` back. An unchanged second pass asks each list once,
  bounded by its cursor, and gets back only the boundary objects it already holds (tags and
  releases: pages until the first one reaching past the cursor, one when the boundary object
  does not fill a page).
Rate limits: python-gitlab retries 429 and 5xx itself (`retry_transient_errors`, honouring
Retry-After / RateLimit-Reset); every response's RateLimit-Remaining / RateLimit-Reset are
recorded, and when the budget is spent the next page first waits (on the injected clock) until
the reset. The lease is renewed after every page through `progress`, as GitHub's sync does.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import gitlab
from django.db import transaction
from gitlab.exceptions import (
    GitlabAuthenticationError,
    GitlabError,
    GitlabGetError,
    GitlabListError,
)

from dora.intake.derive import pending_derive
from dora.models import Commit
from ingest.http import Clock, SourceRejected, SourceUnavailable, SystemClock
from ingest.models import Source, SyncCursor
from ingest.sources.base import Progress, SyncResult
from ingest.sources.gitlab import mapper as gl
from ingest.sources.gitlab.client import PER_PAGE, gitlab_client
from ingest.sources.gitlab.views import gitlab_mapping

OVERLAP = timedelta(seconds=1)
COMMIT_OVERLAP = timedelta(hours=1)
STREAMS = (
    "commits",
    "merge_requests",
    "pipelines",
    "deployments",
    "incidents",
    "tags",
    "releases",
)


@dataclass(frozen=True)
class _Stream:
    name: str
    manager: Callable[[Any], Any]  # project -> its python-gitlab list manager
    params: Mapping[str, Any]
    updated: bool  # filtered by updated_after, oldest first (else newest first, by since)
    # Newest first with no time filter (tags, releases): the time each object is ordered by,
    # the pass stopping at the first page reaching past `since`. None: the list filters.
    stamp: Callable[[Mapping[str, Any]], str | None] | None = None


def instance_url(base_url: str) -> str:
    """The instance root python-gitlab wants (it adds /api/v4 itself): a base_url given as the
    API root (`https://gitlab.example.com/api/v4`) works too."""
    url = base_url.rstrip("/")
    return url.removesuffix("/api/v4")


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Budget:
    """RateLimit-Remaining / RateLimit-Reset of the last response (a requests hook) and the
    counts the sync reports."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls = 0
        self.retries = 0
        self.slept_seconds = 0.0
        self.remaining: int | None = None
        self.reset: float | None = None
        # X-Total-Pages of the last response (GitLab leaves it out past 10,000 objects).
        self.total_pages: int | None = None

    def hook(self, response: Any, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        if response.status_code == 429 or response.status_code >= 500:
            self.retries += 1
        headers = response.headers
        try:
            pages = headers.get("X-Total-Pages")
            self.total_pages = int(pages) if pages else None
            if "RateLimit-Remaining" in headers:
                self.remaining = int(headers["RateLimit-Remaining"])
            if "RateLimit-Reset" in headers:
                self.reset = float(headers["RateLimit-Reset"])
        except ValueError:
            pass

    def wait(self) -> None:
        """Before a page: when the budget is spent, sleep until it resets."""
        if self.remaining is not None and self.remaining <= 0 and self.reset is not None:
            seconds = self.reset - self.clock.time()
            if seconds > 0:
                self.slept_seconds += seconds
                self.clock.sleep(seconds)
            self.remaining = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "api_calls": self.calls,
            "retries": self.retries,
            "slept_seconds": self.slept_seconds,
            "rate_remaining": self.remaining,
        }


class GitLabSync:
    """The sync of one gitlab source; `run()` reads every project's streams."""

    def __init__(
        self,
        source: Source,
        *,
        client: gitlab.Gitlab,
        budget: _Budget,
        now: datetime,
        progress: Progress | None = None,
        per_page: int = PER_PAGE,
    ) -> None:
        self.source = source
        self.client = client
        self.budget = budget
        self.now = now
        self.progress = progress
        self.per_page = per_page
        self.result = SyncResult()
        self.mapping = gitlab_mapping(
            source.name, {"deployments": source.deployments, "incidents": source.incidents}
        )

    def run(self) -> SyncResult:
        projects = self._projects()
        self.result.repositories = len(projects)
        for path in projects:
            project = self.client.projects.get(path, lazy=True)
            for stream in self._streams():
                self._stream_sync(path, project, stream)
        self.result.http = self.budget.as_dict()
        return self.result

    def _projects(self) -> list[str]:
        if self.source.repos:
            return list(self.source.repos)
        if not self.source.org:
            raise SourceRejected(f"Source {self.source.name!r} names neither a group nor projects.")
        group = self.client.groups.get(self.source.org, lazy=True)
        return [
            p.path_with_namespace
            for p in group.projects.list(
                iterator=True, include_subgroups="true", archived="false", per_page=self.per_page
            )
        ]

    def _streams(self) -> list[_Stream]:
        ordered = {"order_by": "updated_at", "sort": "asc"}
        streams = [
            _Stream("commits", lambda p: p.commits, {}, False),
            _Stream("merge_requests", lambda p: p.mergerequests, {"state": "all", **ordered}, True),
            _Stream("pipelines", lambda p: p.pipelines, ordered, True),
            _Stream("deployments", lambda p: p.deployments, ordered, True),
            _Stream("incidents", lambda p: p.issues, {"state": "all", **ordered}, True),
            _Stream(
                "tags",
                lambda p: p.tags,
                {"order_by": "updated", "sort": "desc"},
                False,
                stamp=lambda t: (t.get("commit") or {}).get("committed_date"),
            ),
            _Stream(
                "releases",
                lambda p: p.releases,
                {"order_by": "released_at", "sort": "desc"},
                False,
                stamp=_released_at,
            ),
        ]
        used = {"deployments": "deployments_api", "tags": "tags", "releases": "releases"}
        return [
            s
            for s in streams
            if s.name not in used or used[s.name] in self.mapping.deployments_from
        ]

    # -- the page loop ---------------------------------------------------------------------

    def _stream_sync(self, path: str, project: Any, stream: _Stream) -> None:
        cursor, _ = SyncCursor.objects.get_or_create(
            source=self.source, repo=path, stream=stream.name
        )
        if cursor.since is None:
            cursor.since = self.now - timedelta(days=self.source.backfill_days)
        page_no = int(cursor.resume_url or 1)
        while True:
            bound = {"updated_after" if stream.updated else "since": _iso(cursor.since)}
            if stream.stamp is not None:
                bound = {}  # the list has no time filter: the pass stops at `since` itself
            self.budget.wait()
            objects = [
                dict(o.attributes)
                for o in stream.manager(project).list(
                    get_all=False, page=page_no, per_page=self.per_page, **stream.params, **bound
                )
            ]
            pages = self.budget.total_pages  # the list's, before the objects' own requests
            listed = len(objects)
            reached_since = False
            if stream.stamp is not None:
                stamped = [(o, _time(stream.stamp(o))) for o in objects]
                reached_since = any(t is not None and t < cursor.since for _, t in stamped)
                objects = [o for o, t in stamped if t is not None and t >= cursor.since]
            events = self._page_events(path, project, stream, objects)
            self.result.record(
                events,
                source=self.source.name,
                now=self.now,
                stream=stream.name,
                objects=len(objects),
            )
            # The worst moment to stop: events stored, cursor not yet saved (re-read next time).
            self._report(path, stream, len(objects), page_no, pages)
            key = "updated_at" if stream.updated else "committed_date"
            stamps = [
                t for o in objects if (t := _time(stream.stamp(o) if stream.stamp else o.get(key)))
            ]
            newest = max(stamps) if stamps else None
            if newest is not None:
                cursor.newest_seen = max([newest, *filter(None, [cursor.newest_seen])])
            more = listed >= self.per_page and not reached_since
            if stream.updated:
                moved = newest - OVERLAP if newest is not None else None
                if moved is not None and moved > cursor.since:
                    cursor.since, page_no = moved, 1
                elif more:
                    page_no += 1  # a whole page at one time: since cannot move
            elif more:
                page_no += 1
            elif cursor.newest_seen is not None:  # a commits pass is done
                cursor.since = max(cursor.since, cursor.newest_seen - COMMIT_OVERLAP)
            cursor.resume_url = str(page_no) if more and page_no > 1 else ""
            if not more:
                cursor.synced_at = self.now
            with transaction.atomic():
                cursor.save()
            if not more:
                return

    def _report(self, path: str, stream: _Stream, count: int, page: int, pages: int | None) -> None:
        if self.progress is not None:
            self.progress(
                {
                    "repo": path,
                    "stream": stream.name,
                    "objects": count,
                    "page": page,
                    "pages": pages,
                    **self.budget.as_dict(),
                }
            )

    # -- objects -> events -----------------------------------------------------------------

    def _page_events(
        self, path: str, project: Any, stream: _Stream, objects: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        source = self.source.name
        events: list[dict[str, Any]] = []
        branch_commits: list[dict[str, Any]] = []
        for obj in objects:
            if stream.name == "commits":
                events.append(gl.commit_event(path, obj, source=source))
            elif stream.name == "merge_requests":
                mr = project.mergerequests.get(obj["iid"], lazy=True)
                commits = [dict(c.attributes) for c in mr.commits()]
                branch_commits += commits
                notes = [dict(n.attributes) for n in mr.notes.list(iterator=True, sort="asc")]
                try:
                    approvals: dict[str, Any] | None = dict(mr.approvals.get().attributes)
                except (GitlabGetError, GitlabListError):  # not offered by this instance
                    approvals = None
                events.append(
                    gl.change_event(
                        path, obj, commits=commits, notes=notes, approvals=approvals, source=source
                    )
                )
            elif stream.name == "pipelines":
                detail = project.pipelines.get(obj["id"])
                jobs = [dict(j.attributes) for j in detail.jobs.list(iterator=True)]
                if event := gl.pipeline_run_event(
                    path, detail.attributes, jobs=jobs, source=source
                ):
                    events.append(event)
            elif stream.name == "deployments":
                events += gl.deployment_events(path, obj, self.mapping)
            elif stream.name == "incidents":
                events += gl.incident_events(path, obj, self.mapping)
            elif stream.name == "tags":
                events += gl.rest_tag_deployment_events(path, obj, self.mapping)
            elif stream.name == "releases":
                events += gl.release_deployment_events(path, obj, self.mapping)
        if branch_commits:
            events = self._branch_commit_events(path, branch_commits) + events
        return events

    def _branch_commit_events(
        self, path: str, commits: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """The MRs' commits as commit events, so a change starts at its first commit's author
        time whatever the merge did with them (a squash leaves them off the default branch,
        where the commits stream never sees them). GitLab's MR commits list gives no parents
        (`parent_ids: []`): commits stored with their parents already (the commits stream runs
        first) are left as they are. As GitHub's sync does."""
        stored = set(
            Commit.objects.filter(repo=path, sha__in={c["id"] for c in commits})
            .exclude(parents=[])
            .values_list("sha", flat=True)
        )
        events: dict[str, dict[str, Any]] = {}
        for commit in commits:
            if commit["id"] not in stored:
                events[commit["id"]] = gl.commit_event(path, commit, source=self.source.name)
        return list(events.values())


def _released_at(release: Mapping[str, Any]) -> str | None:
    """A release's time in the list's order; None for an upcoming one (released_at in the
    future, GitLab's `upcoming_release`): not a deployment yet, and it must not move the
    cursor past itself (read again once released)."""
    return None if release.get("upcoming_release") else release.get("released_at")


def gitlab_source_sync(
    source: Source | str,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
    now: datetime | None = None,
    client: gitlab.Gitlab | None = None,
    per_page: int = PER_PAGE,
) -> SyncResult:
    """Read a gitlab source's projects into events (see the module doc); returns the counts.

    The token is read from the environment variable the source names. A refusal a human must
    fix (401/403/404) is kept on the source as `last_error` and raised as SourceRejected;
    what outlasts python-gitlab's retries is SourceUnavailable (a later run resumes).
    """
    if isinstance(source, str):
        source = Source.objects.get(name=source)
    clock = clock or SystemClock()
    now = now or datetime.fromtimestamp(clock.time(), UTC)
    client = client or gitlab_client(
        instance_url(source.base_url), os.environ.get(source.token_env) or None
    )
    budget = _Budget(clock)
    client.session.hooks.setdefault("response", []).append(budget.hook)
    try:
        result = GitLabSync(
            source, client=client, budget=budget, now=now, progress=progress, per_page=per_page
        ).run()
    except (GitlabAuthenticationError, GitlabError) as exc:
        code = getattr(exc, "response_code", None)
        if isinstance(exc, GitlabAuthenticationError) or code in (401, 403, 404):
            problem = f"GitLab refused the sync ({code}): {exc.error_message}"
            Source.objects.filter(pk=source.pk).update(last_error=problem)
            raise SourceRejected(problem) from exc
        raise SourceUnavailable(f"GitLab did not answer ({code}): {exc.error_message}") from exc
    except SourceRejected as exc:
        Source.objects.filter(pk=source.pk).update(last_error=str(exc))
        raise
    finally:
        client.session.hooks["response"].remove(budget.hook)
        Source.objects.filter(pk=source.pk).update(
            rate_remaining=budget.remaining,
            rate_reset_at=datetime.fromtimestamp(budget.reset, UTC) if budget.reset else None,
        )
    Source.objects.filter(pk=source.pk).update(last_sync_at=now, last_error="")
    pending_derive()
    return result
