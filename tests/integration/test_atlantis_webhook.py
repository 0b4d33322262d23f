"""POST /webhooks/atlantis[/<source>]: secret first, raw delivery stored, runs recorded at the
receipt time, idempotent. Bodies: the documented apply and drift results (tests/fixtures)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from dora.models import AutomationRun
from ingest.models import Source, WebhookDelivery
from ingest.sources.atlantis.webhook import apply_delivery_ids
from tests.infra_fixtures import infra_fixture_bytes

pytestmark = pytest.mark.django_db
SECRET = "atlantis-hook-secret"
APPLY = infra_fixture_bytes("atlantis", "apply.json")
DRIFT = infra_fixture_bytes("atlantis", "drift.json")


@pytest.fixture(autouse=True)
def source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATLANTIS_HOOK_SECRET", SECRET)
    Source.objects.create(
        name="atl",
        kind="atlantis",
        token_env="",
        webhook_secret_env="ATLANTIS_HOOK_SECRET",
        stacks=[
            {
                "match": "example-*",
                "workspace": "default",
                "service": "example",
                "environment": "staging",
            },
            {"match": "vpc", "service": "network", "environment": "production", "target": "eu-1"},
        ],
    )


def basic(password: str) -> str:
    return "Basic " + base64.b64encode(f"atlantis:{password}".encode()).decode()


def deliver(
    body: bytes, *, auth: str | None = None, url: str = "/webhooks/atlantis/atl"
) -> tuple[int, dict[str, Any]]:
    headers = {"HTTP_AUTHORIZATION": auth} if auth is not None else {}
    response = Client().generic("POST", url, body, content_type="application/json", **headers)
    return response.status_code, response.json()


def test_apply_is_recorded_at_its_receipt_time() -> None:
    before = datetime.now(UTC)
    status, answer = deliver(APPLY, auth=basic(SECRET))
    assert status == 200, answer
    assert answer["counts"]["created"] == 1 and answer["skipped"] == []
    delivery = WebhookDelivery.objects.get(provider="atlantis")
    assert delivery.source == "atl" and delivery.event == "apply"
    assert delivery.processed_at is not None and delivery.payload["Pull"]["Num"] == 2137
    run = AutomationRun.objects.select_related("service", "environment", "target").get()
    assert (run.service.name, run.environment.name, run.target.name) == (
        "example",
        "staging",
        "",
    )
    assert (run.action, run.status, run.trigger) == ("apply", "success", "change")
    assert run.version == "7fd1a60b01f91b314f59955a4e4d4e80d8edf11d"
    assert run.started_at is None and run.drift_detected is None
    assert run.finished_at == delivery.received_at and run.finished_at >= before


def test_the_same_apply_again_is_a_duplicate() -> None:
    assert deliver(APPLY, auth=basic(SECRET))[0] == 200
    status, answer = deliver(APPLY, auth=basic(SECRET))
    assert status == 200 and answer["duplicate"] is True and answer["counts"]["created"] == 1
    assert WebhookDelivery.objects.count() == 1 and AutomationRun.objects.count() == 1


def test_the_same_apply_in_the_previous_window_is_a_duplicate() -> None:
    _, previous = apply_delivery_ids(APPLY, datetime.now(UTC))
    now = datetime.now(UTC)
    WebhookDelivery.objects.create(
        provider="atlantis",
        delivery_id=previous,
        source="atl",
        event="apply",
        payload={},
        received_at=now,
        processed_at=now,
        counts={"created": 1},
    )
    status, answer = deliver(APPLY, auth=basic(SECRET))
    assert status == 200 and answer["duplicate"] is True
    assert not AutomationRun.objects.exists()


@pytest.mark.parametrize("auth", [None, basic("wrong"), "Bearer wrong", basic(SECRET + "x")])
def test_a_missing_or_wrong_secret_is_401_and_stores_nothing(auth: str | None) -> None:
    status, answer = deliver(APPLY, auth=auth)
    assert status == 401 and "secret" in answer["detail"]
    assert not WebhookDelivery.objects.exists() and not AutomationRun.objects.exists()


def test_drift_by_bearer_and_by_query_token() -> None:
    status, answer = deliver(DRIFT, auth=f"Bearer {SECRET}")
    assert status == 200, answer
    # vpc is mapped; ec2 (modules/ec2) is not: skipped with the reason, never guessed.
    assert answer["counts"]["created"] == 1 and answer["counts"]["skipped"] == 1
    assert answer["skipped"][0]["run"].endswith(":ec2:production")
    run = AutomationRun.objects.select_related("service", "target").get()
    assert (run.service.name, run.target.name, run.action) == ("network", "eu-1", "plan")
    assert run.drift_detected is True and run.status == "success"
    status, answer = deliver(DRIFT, url=f"/webhooks/atlantis/atl?token={SECRET}")
    assert status == 200 and answer["duplicate"] is True  # keyed by detection_id


def test_a_body_that_is_neither_is_kept_raw() -> None:
    status, answer = deliver(b'{"hello": "world"}', auth=basic(SECRET))
    assert status == 202 and answer["counts"] is None
    assert WebhookDelivery.objects.get().processed_at is not None


def test_limits_unknown_source_and_unset_secret(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert deliver(APPLY, auth=basic(SECRET), url="/webhooks/atlantis/nope")[0] == 404
    settings.DORA_MAX_BODY_BYTES = len(APPLY) - 1
    assert deliver(APPLY, auth=basic(SECRET))[0] == 413
    monkeypatch.delenv("ATLANTIS_HOOK_SECRET")
    status, answer = deliver(APPLY, auth=basic(SECRET))
    assert status == 503 and "ATLANTIS_HOOK_SECRET" in answer["detail"]
    assert not WebhookDelivery.objects.exists()
