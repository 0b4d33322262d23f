"""A fake GitHub REST API on 127.0.0.1 for sync tests: paginated fixture-shaped JSON, Link,
rate-limit headers, ETags and injected faults. Objects are built from the shared REST fixtures
(../shared/fixtures/github/rest) with their ids, shas and times varied.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.shared import shared_fixture

RATE_RESET = 1_900_000_000


def rest_example(name: str) -> Any:
    data = json.loads(shared_fixture("github", "rest", f"{name}.json").read_text())
    return data["examples"]["default"]["value"]


def _iso(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Fault:
    """Answer the next `times` matching requests with `status` instead of the data."""

    path: str  # substring of the request path
    status: int
    page: str | None = None  # only this ?page= (None: any)
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    times: int = 1


@dataclass
class Request:
    path: str
    query: dict[str, str]
    conditional: bool
    status: int


class FakeRepo:
    """One repository's objects, newest first as GitHub lists them."""

    def __init__(self, name: str, start: datetime) -> None:
        self.name = name
        self.commits: list[dict[str, Any]] = []
        self.pulls: list[dict[str, Any]] = []
        self.pull_commits: dict[int, list[dict[str, Any]]] = {}
        self.associated: dict[str, list[int]] = {}  # sha -> PRs it landed (/commits/{sha}/pulls)
        self.reviews: dict[int, list[dict[str, Any]]] = {}
        self.runs: list[dict[str, Any]] = []
        self.jobs: dict[int, list[dict[str, Any]]] = {}
        self.deployments: list[dict[str, Any]] = []
        self.statuses: dict[int, list[dict[str, Any]]] = {}
        self.releases: list[dict[str, Any]] = []
        self.tags: list[dict[str, Any]] = []
        self.issues: list[dict[str, Any]] = []
        self.start = start

    def commit_make(
        self, key: str, when: datetime, parents: list[str], *, authored: datetime | None = None
    ) -> dict[str, Any]:
        """A commit object named `key` (its message; its sha is derived from it), not listed
        on the default branch: a branch commit, or one to list with `commit_add`'s order."""
        obj = copy.deepcopy(rest_example("repos__list-commits")[0])
        obj["sha"] = hashlib.sha1(f"{self.name}:{key}".encode(), usedforsecurity=False).hexdigest()
        obj["commit"]["author"]["date"] = _iso(authored or when)
        obj["commit"]["committer"]["date"] = _iso(when)
        obj["commit"]["message"] = key
        obj["parents"] = [{"sha": parent} for parent in parents]
        return obj

    def commit_add(
        self, when: datetime, *, authored: datetime | None = None, message: str | None = None
    ) -> dict[str, Any]:
        """A commit on the default branch, child of the newest one."""
        n = len(self.commits)
        obj = self.commit_make(
            str(n), when, [self.commits[0]["sha"]] if self.commits else [], authored=authored
        )
        obj["commit"]["message"] = message or f"change {n}"
        self.commits.insert(0, obj)
        return obj

    def pull_add(
        self,
        number: int,
        when: datetime,
        commit: dict[str, Any],
        *,
        commits: list[dict[str, Any]] | None = None,
        created: datetime | None = None,
    ) -> None:
        """A PR merged at `when` as `commit` (its merge_commit_sha), holding `commits` (default:
        that one commit)."""
        pr = copy.deepcopy(rest_example("pulls__list")[0])
        pr.update(
            number=number,
            created_at=_iso(created or when - timedelta(hours=5)),
            updated_at=_iso(when),
            merged_at=_iso(when),
            closed_at=_iso(when),
            merge_commit_sha=commit["sha"],
            state="closed",
            draft=False,
        )
        pr["labels"] = []
        self.pulls.insert(0, pr)
        self.pulls.sort(key=lambda p: p["updated_at"], reverse=True)
        self.pull_commits[number] = copy.deepcopy(commits or [commit])
        review = copy.deepcopy(rest_example("pulls__list-reviews")[0])
        review.update(submitted_at=_iso(when - timedelta(hours=1)), state="APPROVED")
        self.reviews[number] = [review]

    def run_add(self, run_id: int, when: datetime, sha: str) -> None:
        run = copy.deepcopy(
            rest_example("actions__list-workflow-runs-for-repo")["workflow_runs"][0]
        )
        run.update(
            id=run_id,
            name="build",
            head_sha=sha,
            head_branch="main",
            status="completed",
            conclusion="success",
            created_at=_iso(when),
            run_started_at=_iso(when),
            updated_at=_iso(when + timedelta(minutes=9)),
        )
        self.runs.insert(0, run)
        job = copy.deepcopy(rest_example("actions__list-jobs-for-workflow-run")["jobs"][0])
        job.update(
            id=run_id * 10,
            run_id=run_id,
            name="test",
            status="completed",
            conclusion="success",
            head_sha=sha,
            started_at=_iso(when + timedelta(minutes=1)),
            completed_at=_iso(when + timedelta(minutes=8)),
        )
        self.jobs[run_id] = [job]

    def deployment_add(self, dep_id: int, when: datetime, sha: str) -> None:
        dep = copy.deepcopy(rest_example("repos__list-deployments")[0])
        dep.update(
            id=dep_id,
            sha=sha,
            ref="main",
            environment="production",
            created_at=_iso(when),
            updated_at=_iso(when + timedelta(minutes=4)),
            payload={},
        )
        self.deployments.insert(0, dep)
        status = copy.deepcopy(rest_example("repos__list-deployment-statuses")[0])
        status.update(id=dep_id * 10, state="success", created_at=_iso(when + timedelta(minutes=4)))
        self.statuses[dep_id] = [status]

    def release_add(self, rel_id: int, when: datetime, tag: str) -> None:
        rel = copy.deepcopy(rest_example("repos__list-releases")[0])
        rel.update(
            id=rel_id,
            tag_name=tag,
            target_commitish="main",
            draft=False,
            prerelease=False,
            created_at=_iso(when),
            published_at=_iso(when),
        )
        self.releases.insert(0, rel)

    def tag_add(self, name: str, sha: str) -> None:
        """Tag `sha` as `name` (again: the tag is deleted and re-created there)."""
        self.tag_delete(name)
        tag = copy.deepcopy(rest_example("repos__list-tags")[0])
        tag.update(name=name)
        tag["commit"] = {
            "sha": sha,
            "url": f"https://api.github.com/repos/{self.name}/commits/{sha}",
        }
        self.tags.append(tag)
        # GitHub lists tags by name, highest first, not by time.
        self.tags.sort(key=lambda t: t["name"], reverse=True)

    def tag_delete(self, name: str) -> None:
        self.tags = [t for t in self.tags if t["name"] != name]

    def issue_add(self, number: int, when: datetime) -> None:
        issue = copy.deepcopy(rest_example("issues__list-for-repo")[0])
        issue.pop("pull_request", None)
        issue.update(
            number=number,
            title=f"outage {number}",
            labels=[{"name": "incident"}],
            state="closed",
            created_at=_iso(when),
            updated_at=_iso(when + timedelta(hours=2)),
            closed_at=_iso(when + timedelta(hours=2)),
        )
        self.issues.insert(0, issue)


class FakeGitHub:
    """The server: start() in a thread, `url` is its API root, `requests` what it was asked."""

    def __init__(self, *, page_cap: int = 5) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.faults: list[Fault] = []
        self.requests: list[Request] = []
        self.page_cap = page_cap
        self.remaining = 5000
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                fake._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v3"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeGitHub:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def repo(self, name: str, start: datetime) -> FakeRepo:
        return self.repos.setdefault(name, FakeRepo(name, start))

    # -- routing ---------------------------------------------------------------------------

    def _routes(self, repo: FakeRepo, rest: list[str], query: dict[str, str]) -> Any:
        since = query.get("since")
        match rest:
            case ["commits"]:
                items = repo.commits
                if since:
                    items = [c for c in items if c["commit"]["committer"]["date"] >= since]
                return items
            case ["commits", sha]:
                return next((c for c in repo.commits if c["sha"] == sha), None)
            case ["commits", sha, "pulls"]:
                # The PRs that brought the commit: merged as it, holding it, or said so.
                return [
                    p
                    for p in repo.pulls
                    if p["merge_commit_sha"] == sha
                    or sha in {c["sha"] for c in repo.pull_commits.get(p["number"], [])}
                    or p["number"] in repo.associated.get(sha, ())
                ]
            case ["pulls"]:
                return repo.pulls
            case ["pulls", number, "commits"]:
                return repo.pull_commits[int(number)]
            case ["pulls", number, "reviews"]:
                return repo.reviews[int(number)]
            case ["actions", "runs"]:
                return ("workflow_runs", repo.runs)
            case ["actions", "runs", run_id, "jobs"]:
                return ("jobs", repo.jobs[int(run_id)])
            case ["deployments"]:
                return repo.deployments
            case ["deployments", dep_id, "statuses"]:
                return repo.statuses[int(dep_id)]
            case ["releases"]:
                return repo.releases
            case ["tags"]:
                return repo.tags
            case ["issues"]:
                label = query.get("labels")
                items = [
                    i
                    for i in repo.issues
                    if not label or any(lab["name"] == label for lab in i["labels"])
                ]
                if since:
                    items = [i for i in items if i["updated_at"] >= since]
                return items
        return None

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        path = parts.path.removeprefix("/api/v3")
        conditional = bool(handler.headers.get("If-None-Match"))
        with self._lock:
            fault = self._fault(path, query)
            if fault is not None:
                self._send(handler, fault.status, fault.body, fault.headers)
                self.requests.append(Request(path, query, conditional, fault.status))
                return
            segments = path.strip("/").split("/")
            body: Any = None
            headers: dict[str, str] = {}
            if len(segments) >= 3 and segments[0] == "repos":
                repo = self.repos.get(f"{segments[1]}/{segments[2]}")
                if repo is not None:
                    body = self._routes(repo, segments[3:], query)
            if body is None:
                status = 404
                body = {"message": "Not Found"}
            else:
                status = 200
                body, headers = self._paginate(path, query, body)
            etag = (
                '"'
                + hashlib.sha1(
                    json.dumps(body, sort_keys=True).encode(), usedforsecurity=False
                ).hexdigest()
                + '"'
            )
            headers["ETag"] = etag
            if status == 200 and handler.headers.get("If-None-Match") == etag:
                status, body = 304, None
            else:
                self.remaining -= 1
            self.requests.append(Request(path, query, conditional, status))
            self._send(handler, status, body, headers)

    def _paginate(self, path: str, query: dict[str, str], body: Any) -> tuple[Any, dict[str, str]]:
        wrap = None
        if isinstance(body, tuple):
            wrap, body = body
        if not isinstance(body, list):
            return body, {}
        per_page = min(int(query.get("per_page", 30)), self.page_cap)
        page = int(query.get("page", 1))
        chunk = body[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(body):
            # As GitHub: next and last while there are more pages (the last page has neither).
            next_query = urlencode({**query, "page": page + 1})
            last_query = urlencode({**query, "page": -(-len(body) // per_page)})
            headers["Link"] = (
                f'<{self.url}{path}?{next_query}>; rel="next", '
                f'<{self.url}{path}?{last_query}>; rel="last"'
            )
        if wrap:
            return {"total_count": len(body), wrap: chunk}, headers
        return chunk, headers

    def _fault(self, path: str, query: dict[str, str]) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and fault.path in path and fault.page in (None, query.get("page")):
                fault.times -= 1
                return fault
        return None

    def _send(
        self, handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str]
    ) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.send_header("X-RateLimit-Limit", "5000")
        handler.send_header("X-RateLimit-Remaining", str(self.remaining))
        handler.send_header("X-RateLimit-Reset", str(RATE_RESET))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)


class FakeClock:
    """An injectable clock: sleeping only moves time forward."""

    def __init__(self, start: float) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
