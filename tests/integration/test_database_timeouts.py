"""PostgreSQL frozen or gone: the promotion gate answers 503 (fails closed) within its own
deadline, intake answers a JSON 503, every /api/ error is JSON, and the next request after the
database is back succeeds (dora.deadline, dora.api.errors, gunicorn.conf.py)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from dora.config import config_apply, config_load
from dora.intake.events import events_record
from dora.models import ApiToken, Deployment
from tests import builders
from tests.servers import (
    Gunicorn,
    database_url_via,
    free_port,
    freezable_proxy,
    gunicorn_serving,
)
from tests.servers import database_url_of as _database_url

pytestmark = pytest.mark.django_db(transaction=True)

GATE_TIMEOUT = 2.0
REQUEST_TIMEOUT = 3.0
CONNECT_TIMEOUT = 2  # psycopg's least
SLACK = 3.0  # process scheduling on a busy 2-core machine; the bound is what is tested
ESTATE = """\
services:
  - name: shop
environments:
  - name: staging
    tier: staging
    order: 1
  - name: production
    tier: production
    order: 2
"""
PROMOTION = {"service": "shop", "version": "v1.0.0", "from": "staging", "to": "production"}


@pytest.fixture(autouse=True)
def _postgresql() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL behind a proxy")


@pytest.fixture
def tokens() -> dict[str, str]:
    config_apply(config_load(ESTATE))
    events_record(
        [
            {
                "type": "deployment",
                "id": "s1",
                "service": "shop",
                "environment": "staging",
                "target": "eu",
                "version": "v1.0.0",
                "status": "success",
                "finished_at": "2026-03-05T10:00:00Z",
            }
        ]
    )
    return {
        scope: ApiToken.issue(name=scope, scope=scope)[1]
        for scope in (ApiToken.Scope.GATE, ApiToken.Scope.INGEST)
    }


def post(url: str, body: Any, token: str, timeout: float = 60) -> tuple[int, dict, Any, float]:
    """(status, headers, JSON body, seconds); fails the test on a body that is not JSON."""
    request = urllib.request.Request(  # noqa: S310 - loopback
        url,
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, headers, raw = response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        status, headers, raw = error.code, dict(error.headers), error.read()
    elapsed = time.monotonic() - started
    assert headers.get("Content-Type", "").startswith("application/json"), raw[:300]
    return status, headers, json.loads(raw), elapsed


@contextmanager
def served(database_url: str, log: Path) -> Iterator[Gunicorn]:
    env = {
        "DATABASE_URL": database_url,
        "CONN_MAX_AGE": "60",  # a kept connection: the one that freezes
        "CELERY_BROKER_URL": "",
        "DORA_GATE_TIMEOUT_SECONDS": str(GATE_TIMEOUT),
        "DORA_REQUEST_TIMEOUT_SECONDS": str(REQUEST_TIMEOUT),
        "DORA_DB_CONNECT_TIMEOUT": str(CONNECT_TIMEOUT),
    }
    with gunicorn_serving(env, log) as server:
        yield server


def event(ident: str) -> dict[str, Any]:
    return builders.deployment(ident, None, hours=24, target="eu", version="v1.0.0")


def test_the_gate_fails_closed_within_its_deadline_when_the_database_freezes(
    tokens: dict[str, str], tmp_path: Path
) -> None:
    settings_dict = connection.settings_dict
    upstream = (settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432))
    with (
        freezable_proxy(upstream) as proxy,
        served(database_url_via(_database_url(settings_dict), proxy.port), tmp_path / "g.log") as s,
    ):
        gate = s.url + "/api/v1/gates/promotion"
        before = post(gate, PROMOTION, tokens["gate"])
        proxy.freeze()  # the kept connection stops answering; TCP stays up
        frozen = post(gate, PROMOTION, tokens["gate"])
        reconnecting = post(gate, PROMOTION, tokens["gate"])  # a new connection, frozen too
        proxy.thaw()
        after = post(gate, PROMOTION, tokens["gate"])

    assert before[0] in (200, 409) and "decision_id" in before[2]
    for status, headers, body, elapsed in (frozen, reconnecting):
        assert status == 503
        assert headers["Retry-After"] == "30"
        assert body["allowed"] is False
        assert "fails closed" in body["detail"]
        assert elapsed < max(GATE_TIMEOUT, CONNECT_TIMEOUT) + SLACK, elapsed
    assert f"did not answer within {GATE_TIMEOUT:g} s" in frozen[2]["detail"]
    assert after[0] in (200, 409) and "decision_id" in after[2]  # the cut connection was dropped


def test_intake_answers_a_json_503_within_the_request_deadline_when_the_database_freezes(
    tokens: dict[str, str], tmp_path: Path
) -> None:
    settings_dict = connection.settings_dict
    upstream = (settings_dict["HOST"] or "127.0.0.1", int(settings_dict["PORT"] or 5432))
    with (
        freezable_proxy(upstream) as proxy,
        served(database_url_via(_database_url(settings_dict), proxy.port), tmp_path / "i.log") as s,
    ):
        intake = s.url + "/api/v1/events"
        before = post(intake, event("p1"), tokens["ingest"])
        proxy.freeze()
        frozen = post(intake, event("p2"), tokens["ingest"])
        proxy.thaw()
        after = post(intake, event("p3"), tokens["ingest"])

    assert before[0] == 200
    status, headers, body, elapsed = frozen
    assert status == 503
    assert headers["Retry-After"] == "30"
    assert f"did not answer within {REQUEST_TIMEOUT:g} s" in body["detail"]
    assert elapsed < REQUEST_TIMEOUT + CONNECT_TIMEOUT + SLACK, elapsed
    assert after[0] == 200
    stored = {
        key.rpartition(":")[2] for key in Deployment.objects.values_list("external_id", flat=True)
    }
    assert {"p1", "p3"} <= stored


def test_a_database_at_a_closed_port_is_a_quick_json_503(
    tokens: dict[str, str], tmp_path: Path
) -> None:
    closed = database_url_via(_database_url(connection.settings_dict), free_port())
    with served(closed, tmp_path / "c.log") as server:
        gate = post(server.url + "/api/v1/gates/promotion", PROMOTION, tokens["gate"])
        intake = post(server.url + "/api/v1/events", event("c1"), tokens["ingest"])

    for status, headers, body, elapsed in (gate, intake):
        assert status == 503
        assert headers["Retry-After"] == "30"
        assert "Retry later" in body["detail"]
        assert "127.0.0.1" not in body["detail"] and "refused" not in body["detail"]
        assert elapsed < CONNECT_TIMEOUT + SLACK, elapsed
    assert gate[2]["allowed"] is False


def test_an_unhandled_error_under_api_is_a_json_500_without_internals(
    tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("internal detail: /srv/secret/path")

    monkeypatch.setattr("dora.api.events.events_record", broken)
    client = Client(raise_request_exception=False)

    response = client.post(
        "/api/v1/events",
        data=json.dumps(event("x1")),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {tokens['ingest']}",
    )
    missing = client.get("/api/v1/nothing-here")
    page = client.get("/no-such-page")

    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    assert "detail" in response.json() and "secret" not in response.content.decode()
    assert missing.status_code == 404 and missing["Content-Type"] == "application/json"
    assert page.status_code == 404 and page["Content-Type"].startswith("text/html")
