"""The GitLab collector (python-gitlab) against a fake GitLab on 127.0.0.1 serving the
shared devlake fixtures: every list read, every object mapped.

The fake answers one page per list (no `X-Next-Page`), the real objects of
../shared/fixtures/gitlab/devlake-raw, and empty lists for what the fixtures lack (notes,
jobs, issues).
"""

from __future__ import annotations

import csv
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from dora.intake.schema import event_validate
from ingest.sources.gitlab import mapper as gl
from ingest.sources.gitlab.client import gitlab_client, project_events
from tests.shared import shared_fixture

csv.field_size_limit(10**8)
PROJECT = "gitlab-data/snowflake_spend"


def raw(table: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    path = shared_fixture("gitlab", "devlake-raw", f"_raw_gitlab_api_{table}.csv")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [(json.loads(r["input"] or "null") or {}, json.loads(r["data"])) for r in rows]


def routes() -> list[tuple[re.Pattern[str], Any]]:
    mrs = [d for _, d in raw("merge_requests")]
    commits = raw("merge_request_commits")
    details = {d["id"]: d for _, d in raw("pipeline_details")}
    pipelines = [d for _, d in raw("pipeline_details")]
    deployments = [d for _, d in raw("deployments")]
    repo_commits = [deployments[0]["deployable"]["commit"]]
    # Objects read from a list address their sub-lists by the numeric project id they carry.
    base = r"^/api/v4/projects/(?:gitlab-data/snowflake_spend|\d+)"
    return [
        (re.compile(base + r"/repository/commits$"), lambda m: repo_commits),
        (re.compile(base + r"/merge_requests$"), lambda m: mrs),
        (
            re.compile(base + r"/merge_requests/(\d+)/commits$"),
            lambda m: [d for i, d in commits if i["Iid"] == int(m.group(1))],
        ),
        (re.compile(base + r"/merge_requests/\d+/notes$"), lambda m: []),
        (re.compile(base + r"/merge_requests/\d+/approvals$"), lambda m: {"approved_by": []}),
        (re.compile(base + r"/pipelines$"), lambda m: pipelines),
        (re.compile(base + r"/pipelines/(\d+)$"), lambda m: details[int(m.group(1))]),
        (re.compile(base + r"/pipelines/\d+/jobs$"), lambda m: []),
        (re.compile(base + r"/deployments$"), lambda m: deployments),
        (re.compile(base + r"/issues$"), lambda m: []),
    ]


@pytest.fixture
def fake_gitlab() -> Iterator[tuple[str, list[str], list[str]]]:
    table = routes()
    seen: list[str] = []
    queries: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            parts = urlsplit(self.path)
            path = unquote(parts.path)
            seen.append(path)
            queries.append(f"{path}?{unquote(parts.query)}")
            for pattern, answer in table:
                if m := pattern.match(path):
                    body = json.dumps(answer(m)).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
            self.send_response(404)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen, queries
    finally:
        server.shutdown()
        server.server_close()


def test_project_events_reads_every_list_and_maps_it(fake_gitlab: Any) -> None:
    url, seen, _ = fake_gitlab
    events = project_events(gitlab_client(url, "t0ken"), PROJECT, gl.GitLabMapping())
    for event in events:
        event_validate(event)
    kinds = [e["type"] for e in events]
    # 1 repository commit; 18 merge requests; 16 pipeline details, none skipped;
    # 8 deployments less the two of undocumented statuses (completed, undeployed).
    assert kinds.count("commit") == 1
    assert kinds.count("change") == 18
    assert kinds.count("pipeline_run") == 16
    assert kinds.count("deployment") == 6
    assert kinds.count("incident") == 0
    first = next(e for e in events if e["type"] == "change" and e["number"] == 1)
    assert first["commits"][0] == "abbe0ab2c7bb1dc2cfaa3ef3062f378fb908ba71"  # oldest first
    assert first["ready_at"] == "2019-06-28T05:21:43.743Z"  # notes read, never a draft
    assert "/api/v4/projects/12345678/merge_requests/14/approvals" in seen


def test_since_asks_for_what_changed_after_it(fake_gitlab: Any) -> None:
    url, _, queries = fake_gitlab
    since = datetime(2021, 1, 2, 3, 4, 5, tzinfo=UTC)
    project_events(gitlab_client(url, None), PROJECT, gl.GitLabMapping(), since=since)
    lists = {q.split("?")[0].rsplit("/", 1)[-1]: q for q in queries if "/" in q}
    for name in ("merge_requests", "pipelines", "deployments", "issues"):
        assert "updated_after=2021-01-02T03:04:05+00:00" in lists[name], name
    (commits,) = [q for q in queries if "/repository/commits?" in q]
    assert "since=2021-01-02T03:04:05+00:00" in commits
