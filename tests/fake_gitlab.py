"""A fake GitLab REST v4 API on 127.0.0.1 for sync tests: each project's lists filtered and
paged as GitLab does (`updated_after`, inclusive, with order_by=updated_at&sort=asc; `since`
on commits, newest first; `page`/`per_page`), faults and extra headers answered once.

What it serves is put in `FakeProject`s: tests/integration/test_gitlab_sync.py loads the shared
DevLake fixtures, tests/history/gitlab.py a rendered history.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit


def _stamp(obj: dict[str, Any]) -> str:
    return obj.get("updated_at") or obj["created_at"]


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass
class FakeProject:
    """One project's objects. Lists in any order (the fake sorts them as GitLab would);
    per-object lists keyed by the MR's iid or the pipeline's id. `mr_commits` newest first, as
    GitLab lists them; `pipelines` are pipeline details (the list answers them too)."""

    path: str
    id: int
    archived: bool = False
    commits: list[dict[str, Any]] = field(default_factory=list)
    mrs: list[dict[str, Any]] = field(default_factory=list)
    mr_commits: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    notes: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    approvals: dict[int, dict[str, Any]] = field(default_factory=dict)
    pipelines: list[dict[str, Any]] = field(default_factory=list)
    jobs: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    issues: list[dict[str, Any]] = field(default_factory=list)
    tags: list[dict[str, Any]] = field(default_factory=list)
    releases: list[dict[str, Any]] = field(default_factory=list)


class FakeGitLab:
    """Projects by path, grouped by `groups` (group path -> project paths); every request is
    kept in `requests` as (path, query). `faults` answers the first request matching its
    pattern with its status and headers, once; `headers` adds headers to one answer, once."""

    def __init__(self) -> None:
        self.projects: dict[str, FakeProject] = {}
        self.groups: dict[str, list[str]] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.faults: list[tuple[re.Pattern[str], int, dict[str, str]]] = []
        self.headers: list[tuple[re.Pattern[str], dict[str, str]]] = []
        self._server: ThreadingHTTPServer | None = None

    def project(self, path: str, project_id: int, **fields: Any) -> FakeProject:
        self.projects[path] = FakeProject(path, project_id, **fields)
        self.groups.setdefault(path.rsplit("/", 1)[0], []).append(path)
        return self.projects[path]

    # -- serving ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "use the fake as a context manager"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeGitLab:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                fake._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        path = unquote(parts.path)
        q = {k: v[0] for k, v in parse_qs(parts.query).items()}
        self.requests.append((path, q))
        for i, (pattern, status, headers) in enumerate(self.faults):
            if pattern.search(f"{path}?{parts.query}"):
                del self.faults[i]
                self._send(handler, status, {"message": "fault"}, headers)
                return
        extra: dict[str, str] = {}
        for i, (pattern, headers) in enumerate(self.headers):
            if pattern.search(f"{path}?{parts.query}"):
                del self.headers[i]
                extra = headers
                break
        body = self.answer(path, q)
        if body is None:
            self._send(handler, 404, {"message": "404 Not Found"}, {})
        else:
            self._send(handler, 200, body, extra)

    @staticmethod
    def _send(
        handler: BaseHTTPRequestHandler, status: int, body: Any, headers: dict[str, str]
    ) -> None:
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(data)

    # -- lists --------------------------------------------------------------------------------

    def _updated(self, items: list[dict[str, Any]], q: dict[str, str]) -> list[dict[str, Any]]:
        assert q.get("order_by") == "updated_at" and q.get("sort") == "asc"
        after = _when(q["updated_after"]) if "updated_after" in q else None
        kept = [o for o in items if after is None or _when(_stamp(o)) >= after]
        return sorted(kept, key=lambda o: _when(_stamp(o)))

    def _page(self, items: list[Any], q: dict[str, str]) -> list[Any]:
        page, per_page = int(q.get("page", 1)), int(q.get("per_page", 20))
        return items[(page - 1) * per_page : page * per_page]

    def _project_of(self, key: str) -> FakeProject | None:
        if key.isdigit():
            return next((p for p in self.projects.values() if p.id == int(key)), None)
        return self.projects.get(key)

    def answer(self, path: str, q: dict[str, str]) -> Any:
        if m := re.match(r"^/api/v4/groups/(.+)/projects$", path):
            projects = [self.projects[p] for p in self.groups.get(m.group(1), [])]
            return [
                {"id": p.id, "path_with_namespace": p.path, "archived": p.archived}
                for p in projects
                if q.get("archived") != "false" or not p.archived
            ]
        m = re.match(
            r"^/api/v4/projects/(.+?)(/(?:repository|merge_requests|pipelines|"
            r"deployments|issues|releases).*)$",
            path,
        )
        project = self._project_of(m.group(1)) if m else None
        if m is None or project is None:
            return None
        return self._project_answer(project, m.group(2), q)

    def _project_answer(self, p: FakeProject, rest: str, q: dict[str, str]) -> Any:
        if rest == "/repository/commits":
            since = _when(q["since"]) if "since" in q else None
            items = [c for c in p.commits if since is None or _when(c["committed_date"]) >= since]
            return self._page(
                sorted(items, key=lambda c: _when(c["committed_date"]), reverse=True), q
            )
        if rest == "/repository/tags":
            return self._page(self._tags(p.tags, q), q)
        if rest == "/releases":
            return self._page(self._releases(p.releases, q), q)
        if rest == "/merge_requests":
            return self._page(self._updated(p.mrs, q), q)
        if m := re.fullmatch(r"/merge_requests/(\d+)/commits", rest):
            return p.mr_commits.get(int(m.group(1)), [])
        if m := re.fullmatch(r"/merge_requests/(\d+)/notes", rest):
            return self._page(p.notes.get(int(m.group(1)), []), q)
        if m := re.fullmatch(r"/merge_requests/(\d+)/approvals", rest):
            return p.approvals.get(int(m.group(1)), {"approved_by": []})
        if rest == "/pipelines":
            return self._page(self._updated(p.pipelines, q), q)
        if m := re.fullmatch(r"/pipelines/(\d+)", rest):
            return next((d for d in p.pipelines if d["id"] == int(m.group(1))), None)
        if m := re.fullmatch(r"/pipelines/(\d+)/jobs", rest):
            return self._page(p.jobs.get(int(m.group(1)), []), q)
        if rest == "/deployments":
            return self._page(self._updated(p.deployments, q), q)
        if rest == "/issues":
            return self._page(self._updated(p.issues, q), q)
        return None

    def _tags(self, tags: list[dict[str, Any]], q: dict[str, str]) -> list[dict[str, Any]]:
        """GET /repository/tags: order_by=updated (the tag's commit time) sort=desc; no time
        filter (GitLab has none for tags)."""
        assert q.get("order_by") == "updated" and q.get("sort") == "desc", q
        return sorted(tags, key=lambda t: _when(t["commit"]["committed_date"]), reverse=True)

    def _releases(self, releases: list[dict[str, Any]], q: dict[str, str]) -> list[dict[str, Any]]:
        """GET /releases: order_by=released_at sort=desc (GitLab's default); no time filter."""
        assert q.get("order_by") == "released_at" and q.get("sort") == "desc", q
        return sorted(releases, key=lambda r: _when(r["released_at"]), reverse=True)

    def lists(self, name: str) -> list[dict[str, str]]:
        """The queries of one list endpoint (`merge_requests`, `repository/commits`, ...)."""
        return [q for p, q in self.requests if p.endswith(f"/{name}")]
