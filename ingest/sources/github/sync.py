"""GitHub REST sync: a page loop per (repository, stream) with a cursor, through events_record.

Streams (GitHub REST, list endpoints at per_page=100; the mappers: github.mapper):
  commits      GET /repos/{r}/commits?since=  (no sha: the default branch). Parents are in the
               list; changed files are not: they cost one call per commit, so they are read
               only when a service of the repository has monorepo path globs (which need them)
  pulls        GET /repos/{r}/pulls?state=all&sort=updated&direction=desc, stopping at `since`
               (the endpoint has no since); per PR in the window: its commits, its reviews, and
               the merge commit when it is not one of the PR's (for its parents: merge/squash),
               read from the commits already stored (the commits stream lists parents), asked
               of the API only when it is not stored. Each change is merged over the stored
               one (github.webhook.change_merge), so what only a webhook knew (ready_at) stays.
               The PR's commits become commit events too (those not stored with their parents
               yet): a squash or rebase merge leaves them off the default branch, and the
               change starts at the first one's author time. landed_commits: the merge sha,
               or for a rebase merge the copies counted back from it along first parents and
               confirmed by one GET /repos/{r}/commits/{sha}/pulls (GitHubSync._landed)
  runs         GET /repos/{r}/actions/runs (newest first), stopping at `since`; per run: its jobs
  deployments  GET /repos/{r}/deployments (newest first), stopping at `since`; per deployment:
               its statuses (the first success is the finish time)
  releases     GET /repos/{r}/releases (newest first), stopping at `since`
  tags         GET /repos/{r}/tags (ordered by name, not time: read whole; see "Tags" below);
               per matching tag whose time is not known yet: its commit
  incidents    GET /repos/{r}/issues?labels=<label>&state=all&sort=updated&since=
Streams whose events the source's `deployments.from` does not use are still read when they
produce other events (runs are pipeline runs too); releases only when `releases` is configured,
tags only when `tags` is.

Cursor protocol (ingest.models.SyncCursor), so that a crash anywhere loses nothing and
duplicates nothing:
1. A pass reads the list newest first from `since`. Each page's events go through
   `dora.intake.events.events_record` (its own transactions); only then is the cursor saved with the
   next page's URL. A crash between the two re-reads that page next time: event ids are
   GitHub's, so reading it again updates the same records (idempotent), never adds any.
   Objects changed while a pass is under way move to the front of a newest-first list, which
   only shifts the rest towards later pages (re-read, not skipped); and they are newer than
   anything the pass saw, so the next pass reads them.
2. A completed pass keeps `since` and the first page's ETag/Last-Modified. The next pass asks
   for that same first page conditionally: a 304 means nothing changed (costs no budget).
   On a 200, `since` moves up to the newest time seen minus the overlap window (never past an
   object that may still change: a running workflow run, a deployment without a final status),
   and the pass reads from there; when `since` moves on an endpoint that filters by it, the
   first page is asked again for the new query (one request, only when something changed);
   the other lists' first page is the same query, so the 200 just read is used.
3. The first pass starts `backfill_days` back.

Tags. The list gives a tag's name and commit sha, no time, and is ordered by name, so it has
no `since` and no window: a pass reads every page. A tag matching `tag_pattern` is a deployment
to the release environment at its commit's committer date, taken, without a request, from the
tag's deployment already stored at the same sha, else from the stored commit (the commits
stream runs first), else from one `GET /repos/{r}/commits/{sha}` (per object; once per tag:
after that its stored deployment gives the time). No backfill window applies (filtering by age
would need that call first, and again on every later pass): every matching tag is recorded
once, whatever its age. The first page is asked conditionally as for the other lists; a new
tag sorting past the first page leaves it unchanged, so a stream whose last full read is older
than `TAGS_REFRESH` reads the list unconditionally (pages(tags) requests a day). A tag deleted
and re-created at another commit is the same deployment (its id is the name) moved to that
commit and time; a deleted tag's deployment stays (it happened; the sync deletes nothing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.db import transaction

from dora.intake.derive import pending_derive
from dora.models import Commit, RawEvent, Service
from ingest.http import (
    PER_PAGE,
    Clock,
    Page,
    RestClient,
    SourceRejected,
    SystemClock,
    rate_budget_for,
)
from ingest.models import Source, SyncCursor
from ingest.sources.base import Progress, SyncResult
from ingest.sources.github import mapper as gm
from ingest.sources.github.auth import AppSettings, source_credential
from ingest.sources.github.discovery import repositories_select
from ingest.sources.github.webhook import change_merge

logger = logging.getLogger(__name__)
OVERLAP = timedelta(hours=1)
TAGS_REFRESH = timedelta(days=1)
STREAMS = ("commits", "pulls", "runs", "deployments", "releases", "tags", "incidents")


@dataclass(frozen=True)
class _Stream:
    name: str
    path: str
    params: Callable[[str | None], dict[str, Any]]  # since (ISO) -> query
    stamp: str  # the field the list is ordered by, newest first ("": not ordered by time)
    server_since: bool  # the endpoint filters by since itself
    is_open: Callable[[Mapping[str, Any]], bool] = lambda obj: False
    # Not ordered by time (a change may leave the first page as it was): read the list
    # unconditionally when the last full read is older than this.
    refresh: timedelta | None = None


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _commit_stamp(obj: Mapping[str, Any]) -> str | None:
    detail = obj.get("commit") or {}
    return (detail.get("committer") or detail.get("author") or {}).get("date")


class GitHubSync:
    """The sync of one source; `run()` reads every repository's streams."""

    def __init__(
        self,
        source: Source,
        *,
        client: RestClient,
        now: datetime,
        progress: Progress | None = None,
    ) -> None:
        self.source = source
        self.client = client
        self.now = now
        self.progress = progress
        self.result = SyncResult()
        self.mapping = _mapping(source)
        self.path_globs = {repo for name, repos, paths in _services() for repo in repos if paths}

    # -- entry -----------------------------------------------------------------------------

    def run(self) -> SyncResult:
        repos = self._repositories()
        self.result.repositories = len(repos)
        for repo in repos:
            for stream in self._streams(repo):
                self._stream_sync(repo, stream)
        self.result.http = self.client.stats.as_dict()
        return self.result

    def _repositories(self) -> list[str]:
        """The source's `repos`, or its org's (github.discovery): an App lists what its
        installation may read (GET /installation/repositories), a token the org's
        (GET /orgs/{org}/repos); archived repositories and forks are left out unless
        asked for, then the include/exclude globs apply. The result keeps the list."""
        if self.source.repos:
            return list(self.source.repos)
        org = self.source.org
        if not org:
            raise SourceRejected(f"Source {self.source.name!r} names neither an org nor repos.")
        listed: list[Mapping[str, Any]] = []
        app = AppSettings.of(self.source.app) is not None
        url: str | None = "/installation/repositories" if app else f"/orgs/{org}/repos"
        params: dict[str, Any] | None = {"per_page": PER_PAGE}
        if not app:
            params["type"] = "all"
        while url:
            page = self.client.get(url, params)
            listed += page.data.get("repositories", []) if app else page.data
            url, params = page.next_url, None
        selected, skipped = repositories_select(listed, org=org, rules=self.source.discovery or {})
        self.result.discovered = selected
        self.result.skipped = skipped
        logger.info(
            "source %s: org %s: reading %s; left out %s", self.source.name, org, selected, skipped
        )
        return selected

    def _streams(self, repo: str) -> list[_Stream]:
        label = self.mapping.incident_label
        base = f"/repos/{repo}"
        streams = [
            _Stream(
                "commits",
                f"{base}/commits",
                lambda since: {"per_page": PER_PAGE, "since": since},
                "commit",
                True,
            ),
            _Stream(
                "pulls",
                f"{base}/pulls",
                lambda since: {
                    "state": "all",
                    "sort": "updated",
                    "direction": "desc",
                    "per_page": PER_PAGE,
                },
                "updated_at",
                False,
            ),
            _Stream(
                "runs",
                f"{base}/actions/runs",
                lambda since: {"per_page": PER_PAGE},
                "created_at",
                False,
                is_open=lambda run: run.get("status") != "completed",
            ),
            _Stream(
                "deployments",
                f"{base}/deployments",
                lambda since: {"per_page": PER_PAGE},
                "created_at",
                False,
            ),
            _Stream(
                "incidents",
                f"{base}/issues",
                lambda since: {
                    "labels": label,
                    "state": "all",
                    "sort": "updated",
                    "direction": "desc",
                    "per_page": PER_PAGE,
                    "since": since,
                },
                "updated_at",
                True,
            ),
        ]
        if "releases" in self.mapping.deployments_from:
            streams.insert(
                4,
                _Stream(
                    "releases",
                    f"{base}/releases",
                    lambda since: {"per_page": PER_PAGE},
                    "created_at",
                    False,
                ),
            )
        if "tags" in self.mapping.deployments_from:
            streams.insert(
                len(streams) - 1,  # before incidents, after commits (whose times it reads)
                _Stream(
                    "tags",
                    f"{base}/tags",
                    lambda since: {"per_page": PER_PAGE},
                    "",
                    False,
                    refresh=TAGS_REFRESH,
                ),
            )
        if "deployments_api" not in self.mapping.deployments_from:
            streams = [s for s in streams if s.name != "deployments"]
        return streams

    # -- the page loop ---------------------------------------------------------------------

    def _stream_sync(self, repo: str, stream: _Stream) -> None:
        cursor, _ = SyncCursor.objects.get_or_create(
            source=self.source, repo=repo, stream=stream.name
        )
        if cursor.since is None:
            cursor.since = self.now - timedelta(days=self.source.backfill_days)
        fresh = not cursor.resume_url
        if fresh:
            stale = stream.refresh is not None and (
                cursor.synced_at is None or self.now - cursor.synced_at >= stream.refresh
            )
            page = self.client.get(
                stream.path,
                self._params(stream, cursor),
                etag="" if stale else cursor.etag,
                last_modified="" if stale else cursor.last_modified,
            )
            if page.not_modified:
                self._report(repo, stream, 0, cursor, page)
                return
            advanced = self._since_advanced(cursor)
            if advanced is not None:
                cursor.since = advanced
                if stream.server_since:  # a new query; otherwise the same first page
                    page = self.client.get(stream.path, self._params(stream, cursor))
            cursor.etag, cursor.last_modified = page.etag, page.last_modified
            cursor.oldest_open = None
        else:
            page = self.client.get(cursor.resume_url)
        while True:
            objects, done = self._window(stream, cursor, page.data)
            events, open_stamps = self._page_events(repo, stream, objects)
            self.result.record(
                events,
                source=self.source.name,
                now=self.now,
                stream=stream.name,
                objects=len(objects),
            )
            # The worst moment to stop: events stored, cursor not yet saved (re-read next time).
            self._report(repo, stream, len(objects), cursor, page)
            stamps = [t for o in objects if (t := _time(self._stamp(stream, o)))]
            if stamps:
                cursor.newest_seen = max([*stamps, *filter(None, [cursor.newest_seen])])
            if open_stamps:
                cursor.oldest_open = min([*open_stamps, *filter(None, [cursor.oldest_open])])
            next_url = None if done else page.next_url
            cursor.resume_url = next_url or ""
            if not next_url:
                cursor.synced_at = self.now
            with transaction.atomic():
                cursor.save()
            if not next_url:
                return
            page = self.client.get(next_url)

    def _params(self, stream: _Stream, cursor: SyncCursor) -> dict[str, Any]:
        return {k: v for k, v in stream.params(_iso(cursor.since)).items() if v is not None}

    def _since_advanced(self, cursor: SyncCursor) -> datetime | None:
        """The new lower bound after a change (see the module doc), or None to keep it."""
        if cursor.newest_seen is None:
            return None
        bound = cursor.newest_seen
        if cursor.oldest_open is not None:
            bound = min(bound, cursor.oldest_open)
        bound -= OVERLAP
        return bound if bound > cursor.since else None

    def _stamp(self, stream: _Stream, obj: Mapping[str, Any]) -> str | None:
        if not stream.stamp:
            return None
        return _commit_stamp(obj) if stream.stamp == "commit" else obj.get(stream.stamp)

    def _window(
        self, stream: _Stream, cursor: SyncCursor, data: Iterable[Mapping[str, Any]]
    ) -> tuple[list[Mapping[str, Any]], bool]:
        """The page's objects at or after `since`; done when the list went past it."""
        if isinstance(data, Mapping):  # actions/runs wraps its list
            data = data.get("workflow_runs", [])
        if stream.server_since:
            return list(data), False
        kept, done = [], False
        for obj in data:
            stamp = _time(self._stamp(stream, obj))
            if stamp is not None and stamp < cursor.since:
                done = True
                break
            kept.append(obj)
        return kept, done

    def _report(
        self, repo: str, stream: _Stream, count: int, cursor: SyncCursor, page: Page
    ) -> None:
        if self.progress is not None:
            number = _page_number(page.url)
            # GitHub's Link names the last page except on the last page itself.
            last = _page_number(page.last_url) if page.last_url else None
            self.progress(
                {
                    "repo": repo,
                    "stream": stream.name,
                    "objects": count,
                    "resume_url": cursor.resume_url,
                    "page": number,
                    "pages": last or (number if not page.next_url else None),
                    **self.client.stats.as_dict(),
                }
            )

    # -- objects -> events -----------------------------------------------------------------

    def _page_events(
        self, repo: str, stream: _Stream, objects: list[Mapping[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[datetime]]:
        events: list[dict[str, Any]] = []
        open_stamps: list[datetime] = []
        source = self.source.name
        base = f"/repos/{repo}"
        landed = self._stored_commits(repo, objects) if stream.name == "pulls" else {}
        branch_commits: list[Mapping[str, Any]] = []
        for obj in objects:
            if stream.name == "commits":
                if repo in self.path_globs:
                    obj = self._all(f"{base}/commits/{obj['sha']}")
                events.append(gm.commit_event(repo, obj, source=source))
            elif stream.name == "pulls":
                number = obj["number"]
                commits = self._list(f"{base}/pulls/{number}/commits")
                reviews = self._list(f"{base}/pulls/{number}/reviews")
                merge_commit = None
                sha = obj.get("merge_commit_sha")
                if obj.get("merged_at") and sha and sha not in {c["sha"] for c in commits}:
                    merge_commit = landed.get(sha) or self._all(f"{base}/commits/{sha}")
                branch_commits += commits
                events.append(
                    gm.change_event(
                        repo,
                        obj,
                        commits=commits,
                        reviews=reviews,
                        merge_commit=merge_commit,
                        landed=self._landed(repo, obj, commits, merge_commit),
                        source=source,
                    )
                )
            elif stream.name == "runs":
                jobs = self._list(f"{base}/actions/runs/{obj['id']}/jobs", key="jobs")
                run = gm.pipeline_run_event(repo, obj, jobs=jobs, source=source)
                if run is not None:
                    events.append(run)
                events += gm.run_deployment_events(repo, obj, self.mapping)
                for job in jobs:
                    events += gm.job_deployment_events(repo, job, self.mapping)
                if stream.is_open(obj):
                    open_stamps.append(_time(obj["created_at"]))  # type: ignore[arg-type]
            elif stream.name == "deployments":
                statuses = self._list(f"{base}/deployments/{obj['id']}/statuses")
                produced = gm.deployment_events(repo, obj, statuses, self.mapping)
                events += produced
                if gm.deployment_outcome(statuses)[0] == "running":
                    open_stamps.append(_time(obj["created_at"]))  # type: ignore[arg-type]
            elif stream.name == "releases":
                events += gm.release_deployment_events(repo, obj, self.mapping)
            elif stream.name == "incidents":
                events += gm.incident_events(repo, obj, self.mapping)
        if stream.name == "pulls":
            events = self._branch_commit_events(repo, branch_commits) + self._changes_merged(events)
        elif stream.name == "tags":
            events = self._tag_events(repo, objects)
        return events, open_stamps

    def _tag_events(self, repo: str, tags: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The matching tags' deployments, each timed by its commit's committer date.

        The time comes from the tag's deployment stored at the same sha, else from the stored
        commit, else from one single-commit request (see the module doc, "Tags").
        """
        matching = [t for t in tags if self.mapping.tag_matches(t["name"])]
        if not matching:
            return []
        ids = {t["name"]: gm.tag_deployment_ids(repo, t["name"], self.mapping) for t in matching}
        recorded: dict[tuple[str, str], str] = {}  # (name, sha) -> finished_at
        by_id = {event_id: name for name, event_ids in ids.items() for event_id in event_ids}
        for external_id, payload in RawEvent.objects.filter(
            source=self.source.name, type="deployment", external_id__in=list(by_id)
        ).values_list("external_id", "payload"):
            if payload.get("sha") and payload.get("finished_at"):
                recorded[(by_id[external_id], payload["sha"])] = payload["finished_at"]
        shas = {t["commit"]["sha"] for t in matching}
        committed = {
            sha: _iso(at)
            for sha, at in Commit.objects.filter(
                repo=repo, sha__in=shas, committed_at__isnull=False
            ).values_list("sha", "committed_at")
        }
        events: list[dict[str, Any]] = []
        for tag in matching:
            sha = tag["commit"]["sha"]
            tagged_at = recorded.get((tag["name"], sha)) or committed.get(sha)
            if tagged_at is None:
                commit = self._all(f"/repos/{repo}/commits/{sha}")
                tagged_at = committed[sha] = _commit_stamp(commit) or ""
            if tagged_at:
                events += gm.tag_deployment_events(repo, tag, tagged_at, self.mapping)
        return events

    def _branch_commit_events(
        self, repo: str, commits: list[Mapping[str, Any]]
    ) -> list[dict[str, Any]]:
        """The PRs' commits (`/pulls/{n}/commits`) as commit events, so a change starts at its
        first commit's author time whatever the merge did with them: a squash or rebase merge
        leaves them off the default branch, where the commits stream never sees them. Commits
        stored with their parents already (the commits stream, read first, may hold them with
        their files) are left as they are. They are not on the default branch: no deployment
        ships them, so none becomes a direct push.
        """
        shas = {c["sha"] for c in commits}
        if not shas:
            return []
        stored = set(
            Commit.objects.filter(repo=repo, sha__in=shas)
            .exclude(parents=[])
            .values_list("sha", flat=True)
        )
        events: dict[str, dict[str, Any]] = {}
        for commit in commits:
            if commit["sha"] not in stored:
                events[commit["sha"]] = gm.commit_event(repo, commit, source=self.source.name)
        return list(events.values())

    def _landed(
        self,
        repo: str,
        pr: Mapping[str, Any],
        commits: list[dict[str, Any]],
        merge_commit: Mapping[str, Any] | None,
    ) -> list[str] | None:
        """The shas a merged PR created on its base branch (CONTRACT §1 landed_commits).

        A merge or squash: merge_commit_sha. A rebase merge: merge_commit_sha is the last rebased
        copy, and the PR's commit count says how many first-parent commits up to it are copies;
        `/commits/{sha}/pulls` on the oldest of them confirms (one call per rebase-merged PR;
        a rebase merge lands its copies together, so nothing else sits between). Unconfirmed,
        the copies are those whose author date and message match the PR's commits one by one.
        """
        sha = pr.get("merge_commit_sha")
        if not pr.get("merged_at") or not sha:
            return None
        method = gm.merge_method(pr, commits, merge_commit)
        if method != "rebase" or len(commits) < 2:
            return gm.landed_commits(method, sha, commits, [])
        chain = gm.first_parent_chain(sha, len(commits), lambda s: self._commit_of(repo, s))
        if len(chain) == len(commits):
            oldest = chain[-1]["sha"]
            pulls = self._all(f"/repos/{repo}/commits/{oldest}/pulls")
            if any(p.get("number") == pr["number"] for p in pulls or []):
                return [c["sha"] for c in reversed(chain)]
        return gm.landed_commits(method, sha, commits, chain)

    def _commit_of(self, repo: str, sha: str) -> Mapping[str, Any] | None:
        """One commit in the REST shape: the stored one (with its parents), else GitHub's."""
        stored = self._stored_commits_by_sha(repo, [sha])
        return stored.get(sha) or self._all(f"/repos/{repo}/commits/{sha}")

    def _stored_commits_by_sha(self, repo: str, shas: list[str]) -> dict[str, dict[str, Any]]:
        """Stored commits with their parents, in the REST shape merge_method reads."""
        rows = Commit.objects.filter(repo=repo, sha__in=shas).exclude(parents=[])
        return {
            sha: {
                "sha": sha,
                "parents": [{"sha": parent} for parent in parents],
                "commit": {"author": {"date": _iso(authored_at)}, "message": message},
            }
            for sha, parents, authored_at, message in rows.values_list(
                "sha", "parents", "authored_at", "message"
            )
        }

    def _stored_commits(
        self, repo: str, pulls: list[Mapping[str, Any]]
    ) -> dict[str, dict[str, Any]]:
        """The merged PRs' landed commits already stored, in the REST shape merge_method reads.

        The commits stream (read before the PRs) lists the default branch with parents, author
        dates and messages: everything a merge commit is fetched for. Asking GitHub again for
        each merged PR's merge commit would cost one call per PR; one query here costs none.
        Commits without parents (stored from a source that did not know them) are fetched.
        """
        shas = [
            p["merge_commit_sha"] for p in pulls if p.get("merged_at") and p.get("merge_commit_sha")
        ]
        if not shas:
            return {}
        return self._stored_commits_by_sha(repo, shas)

    def _changes_merged(self, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Each change over the one stored before, as a webhook delivery merges it.

        Events are stored whole: without this a sync would drop what only a webhook knew (the
        time a PR left draft, `ready_at`; a squash sha's classification). The sync's own fields
        replace the stored ones, the rest stay (ingest.sources.github.webhook.change_merge).
        """
        ids = [c["id"] for c in changes]
        stored = dict(
            RawEvent.objects.filter(
                source=self.source.name, type="change", external_id__in=ids
            ).values_list("external_id", "payload")
        )
        return [change_merge(dict(stored[c["id"]]), c) if c["id"] in stored else c for c in changes]

    def _all(self, path: str) -> Any:
        return self.client.get(path).data

    def _list(self, path: str, *, key: str | None = None) -> list[dict[str, Any]]:
        """Every page of a per-object list (PR commits, reviews, jobs, statuses)."""
        items: list[dict[str, Any]] = []
        url: str | None = path
        params: dict[str, Any] | None = {"per_page": PER_PAGE}
        while url:
            page = self.client.get(url, params)
            data = page.data
            items += data.get(key, []) if key else data
            url, params = page.next_url, None
        return items


def _services() -> list[tuple[str, list[str], list[str]]]:
    return [
        (name, list(repos or []), list(paths or []))
        for name, repos, paths in Service.objects.values_list("name", "repos", "paths")
    ]


def _mapping(source: Source) -> gm.GitHubMapping:
    services: dict[str, list[str]] = {}
    for name, repos, _ in _services():
        for repo in repos:
            services.setdefault(repo, []).append(name)
    deployments = source.deployments or {}
    incidents = source.incidents or {}
    return gm.GitHubMapping(
        source=source.name,
        services=services,
        deployments_from=tuple(deployments.get("from") or ("deployments_api",)),
        workflow_pattern=deployments.get("workflow_pattern"),
        tag_pattern=deployments.get("tag_pattern"),
        environments=dict(deployments.get("environments") or {}),
        release_environment=deployments.get("release_environment", "production"),
        incident_label=incidents.get("label") or "incident",
    )


def _page_number(url: str) -> int:
    """The `page` a list URL asks for (1 when it names none)."""
    try:
        return int(parse_qs(urlsplit(url).query).get("page", ["1"])[0])
    except ValueError:
        return 1


def github_source_sync(
    source: Source | str,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
    now: datetime | None = None,
    client: RestClient | None = None,
) -> SyncResult:
    """Read a source's repositories into events (see the module doc); returns the counts.

    The token is read from the environment variable the source names, or minted for its
    GitHub App installation (github.auth); the rate budget is that credential's, shared with
    every other sync of it in this process. SourceRejected (a human must fix something) is
    kept on the source as `last_error` and raised.
    """
    if isinstance(source, str):
        source = Source.objects.get(name=source)
    clock = clock or SystemClock()
    now = now or datetime.fromtimestamp(clock.time(), UTC)
    try:
        if client is None:
            credential = source_credential(source, clock=clock)
            client = RestClient(
                source.base_url,
                clock=clock,
                credential=credential,
                budget=rate_budget_for(credential.budget_key),
            )
    except SourceRejected as exc:
        Source.objects.filter(pk=source.pk).update(last_error=str(exc))
        raise
    try:
        result = GitHubSync(source, client=client, now=now, progress=progress).run()
    except SourceRejected as exc:
        Source.objects.filter(pk=source.pk).update(last_error=str(exc))
        raise
    finally:
        stats = client.stats
        Source.objects.filter(pk=source.pk).update(
            rate_remaining=stats.rate_remaining,
            rate_reset_at=datetime.fromtimestamp(stats.rate_reset, UTC)
            if stats.rate_reset
            else None,
        )
    Source.objects.filter(pk=source.pk).update(last_sync_at=now, last_error="")
    pending_derive()  # the pairs the pages marked (a crash before this leaves them to the beat)
    return result
