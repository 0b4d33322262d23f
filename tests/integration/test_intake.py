"""Event intake through its two doors: POST /api/v1/events and `manage.py import_events`."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from rest_framework.test import APIClient

from dora.models import ApiToken, Commit, Deployment, RawEvent, Rollout
from tests.builders import commit, deployment, sha

pytestmark = pytest.mark.django_db
URL = "/api/v1/events"


def client_with(scope: str | None) -> APIClient:
    client = APIClient()
    if scope:
        _, raw = ApiToken.issue(name=f"test-{scope}", scope=scope)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def post(client: APIClient, body: object) -> tuple[int, dict]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = client.generic("POST", URL, raw, content_type="application/json")
    return response.status_code, response.json()


def test_events_api_needs_an_ingest_token() -> None:
    event = commit("c1")
    assert post(client_with(None), event)[0] == 401
    assert post(client_with("read"), event)[0] == 403
    status, body = post(APIClient(HTTP_AUTHORIZATION="Bearer nope"), event)
    assert status == 401 and "create_token" in body["detail"]
    assert not RawEvent.objects.exists()


def test_events_api_answers_per_item_and_is_idempotent() -> None:
    client = client_with("ingest")
    event = commit("c1")
    status, body = post(client, event)
    assert status == 200
    assert body["items"] == [{"index": 0, "status": "created", "key": "api:commit:acme/shop@c1"}]
    assert post(client, [event])[1]["counts"] == {
        "created": 0,
        "updated": 0,
        "unchanged": 1,
        "rejected": 0,
    }
    assert post(client, {**event, "message": "reworded"})[1]["items"][0]["status"] == "updated"
    assert Commit.objects.get().message == "reworded"
    assert RawEvent.objects.count() == 1


def test_events_api_stores_valid_items_beside_rejected_ones() -> None:
    client = client_with("ingest")
    batch = [
        commit("c1"),
        {"type": "commit", "id": "bad", "repo": "r", "sha": "abcd", "authored_at": "2026-01-01"},
        deployment("d1", "c1", hours=1),
        {"type": "rollout", "id": "x"},
    ]
    status, body = post(client, batch)
    assert status == 207
    assert [i["status"] for i in body["items"]] == ["created", "rejected", "created", "rejected"]
    assert body["items"][1]["reason"].startswith("authored_at: '2026-01-01' has no time zone")
    assert body["items"][3]["reason"].startswith("type: unknown type 'rollout'")
    assert Commit.objects.count() == 1 and Deployment.objects.count() == 1


def test_events_api_rejects_what_is_not_json_empty_or_all_wrong() -> None:
    client = client_with("ingest")
    status, body = post(client, b'{"type": "commit",')
    assert status == 400 and body["detail"].startswith("The body is not valid JSON")
    status, body = post(client, b"\xff\xfe")
    assert status == 400 and "UTF-8" in body["detail"]
    assert post(client, [])[0] == 400
    status, body = post(client, [{"type": "commit", "id": "1"}])
    assert status == 400 and body["items"][0]["reason"] == "repo: required for a commit event"


def test_events_api_refuses_a_50_mb_body_before_parsing(settings: object) -> None:
    client = client_with("ingest")
    body = b"[" + b" " * (50 * 1024 * 1024) + b"]"
    status, answer = post(client, body)
    assert status == 413
    assert (
        "limit is 10485760 bytes" in answer["detail"] and "DORA_MAX_BODY_BYTES" in answer["detail"]
    )
    assert not RawEvent.objects.exists()


def test_events_api_limits_events_per_request(settings: object) -> None:
    settings.DORA_MAX_EVENTS_PER_REQUEST = 2  # type: ignore[attr-defined]
    status, body = post(client_with("ingest"), [commit(f"c{i}") for i in range(3)])
    assert status == 413 and "at most 2 per request" in body["detail"]


def test_deployment_naming_an_unseen_sha_is_stored_and_flagged() -> None:
    client = client_with("ingest")
    status, body = post(client, [deployment("d1", "c0", hours=0), deployment("d2", "c9", hours=5)])
    assert status == 200
    assert body["items"][1]["status"] == "created"
    assert body["items"][1]["warning"].startswith(f"sha {sha('c9')} is not a known commit yet")
    latest = Rollout.objects.order_by("seq").last()
    assert not latest.change_set_complete and latest.missing_shas == [sha("c9")]
    post(client, [commit("c0"), commit("c9", ["c0"], hours=2)])
    latest = Rollout.objects.order_by("seq").last()  # derived facts are rebuilt, not patched
    assert latest.change_set_complete and latest.missing_shas == []


def test_create_token_prints_it_once_and_stores_only_a_hash() -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_token", scope="ingest", name="ci", stdout=out, stderr=err)
    raw = out.getvalue().strip()
    token = ApiToken.objects.get(name="ci")
    assert token.scope == "ingest" and raw.startswith("dora_ingest_")
    assert token.digest == ApiToken.hash(raw) and raw not in (token.digest, token.prefix)
    assert "shown once" in err.getvalue()
    client = APIClient(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert post(client, commit("c1"))[0] == 200


def _import(path: str, stdin: str | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    old_stdin = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        call_command("import_events", path, "--quiet", stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code = exc.returncode
        err.write(str(exc))
    finally:
        sys.stdin = old_stdin
    return code, out.getvalue(), err.getvalue()


def test_import_events_reports_rejected_lines_and_keeps_valid_ones(tmp_path: Path) -> None:
    lines = [
        json.dumps(commit("c1")),
        "",
        "{not json",
        json.dumps({**commit("c2"), "authored_at": "2026-03-01T10:00:00"}),
        json.dumps(deployment("d1", "c1", hours=2)),
    ]
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    code, out, err = _import(str(path))
    assert code == 1
    assert out.startswith("4 events: 2 created, 0 updated, 0 unchanged, 2 rejected")
    assert "line 3: not valid JSON" in err
    assert "line 4: authored_at: '2026-03-01T10:00:00' has no time zone" in err
    assert Commit.objects.count() == 1 and Deployment.objects.count() == 1
    code, out, _ = _import(str(path))
    assert out.startswith("4 events: 0 created, 0 updated, 2 unchanged, 2 rejected")


def test_import_events_reads_stdin_and_exits_zero_when_all_valid() -> None:
    code, out, _ = _import("-", stdin=json.dumps(commit("c1")) + "\n")
    assert code == 0 and out.startswith("1 events: 1 created")


def test_import_events_says_when_the_file_is_missing() -> None:
    with pytest.raises(CommandError, match="cannot read /nonexistent.jsonl"):
        call_command("import_events", "/nonexistent.jsonl")


def test_deployment_reported_running_then_finished_is_updated_and_derived() -> None:
    client = client_with("ingest")
    running = {
        **deployment("d1", "c0", hours=0, status="running"),
        "started_at": "2026-03-02T08:00:00Z",
    }
    del running["finished_at"]
    status, body = post(client, running)
    assert status == 200 and not Rollout.objects.exists()
    status, body = post(client, deployment("d1", "c0", hours=0, started_at="2026-03-02T08:00:00Z"))
    assert (status, body["items"][0]["status"]) == (200, "updated")
    assert Rollout.objects.get().first_live_at == Deployment.objects.get().finished_at
