"""POST /webhooks/env0[/<source>]: x-env-zero-signature first, raw delivery stored, deployment
recorded, idempotent by the envelope's id. Bodies: the documented deploy-succeeded and test
envelopes (tests/fixtures/env0)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from django.test import Client

from dora.models import AutomationRun
from ingest.models import Source, WebhookDelivery
from tests.infra_fixtures import infra_fixture_bytes

pytestmark = pytest.mark.django_db
SECRET = "env0-target-secret"
DEPLOY = infra_fixture_bytes("env0", "deploy_succeeded.json")


@pytest.fixture(autouse=True)
def source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DORA_ENV0_WEBHOOK_SECRET", SECRET)
    Source.objects.create(
        name="env0",
        kind="env0",
        token_env="",
        stacks=[
            {
                "match": "acme-demo *",
                "workspace": "dev-*",
                "service": "ec2",
                "environment": "development",
                "target": "us-west-2",
            },
        ],
    )


def sign(body: bytes, secret: str = SECRET) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(
    body: bytes, *, signature: str | None = None, header: str = "HTTP_X_ENV_ZERO_SIGNATURE"
) -> tuple[int, dict[str, Any]]:
    signature = sign(body) if signature is None else signature
    response = Client().generic(
        "POST", "/webhooks/env0", body, content_type="application/json", **{header: signature}
    )
    return response.status_code, response.json()


def test_the_documented_deploy_is_recorded() -> None:
    status, answer = deliver(DEPLOY)
    assert status == 200, answer
    assert answer["counts"]["created"] == 1
    run = AutomationRun.objects.select_related("service", "environment", "target").get()
    assert run.external_id == "automation_run:c8bcfa77-48ea-4550-afa0-644119744dbe"
    assert (run.service.name, run.environment.name, run.target.name) == (
        "ec2",
        "development",
        "us-west-2",
    )
    assert (run.action, run.status, run.trigger) == ("apply", "success", "manual")
    assert run.started_at.isoformat() == "2024-08-02T18:25:07+00:00"
    assert run.finished_at.isoformat() == "2024-08-02T18:26:27.280000+00:00"
    assert run.version == "bc7cdada039b75c0da4b3d8194eb3670ffdfc516"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.delivery_id, delivery.event) == (
        "2c1a27e4-e3ec-4ad3-bcf8-7caf882a1165",
        "com.env0.deploy.succeeded",
    )


def test_the_legacy_header_name_and_a_redelivery() -> None:
    assert deliver(DEPLOY, header="HTTP_X_ENV0_SIGNATURE")[0] == 200
    status, answer = deliver(DEPLOY)
    assert status == 200 and answer["duplicate"] is True
    assert WebhookDelivery.objects.count() == 1 and AutomationRun.objects.count() == 1


@pytest.mark.parametrize("signature", ["", "00" * 32, sign(DEPLOY, "other")])
def test_a_bad_signature_is_401_and_stores_nothing(signature: str) -> None:
    status, answer = deliver(DEPLOY, signature=signature)
    assert status == 401 and "x-env-zero-signature" in answer["detail"]
    assert not WebhookDelivery.objects.exists()


def test_the_test_event_is_kept_raw() -> None:
    status, answer = deliver(infra_fixture_bytes("env0", "webhook_test.json"))
    assert status == 202 and "com.env0.webhook.test" in answer["detail"]
    assert WebhookDelivery.objects.get().processed_at is not None


def test_over_the_limit_is_413(settings: Any) -> None:
    settings.DORA_MAX_BODY_BYTES = len(DEPLOY) - 1
    assert deliver(DEPLOY)[0] == 413 and not WebhookDelivery.objects.exists()
