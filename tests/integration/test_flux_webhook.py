"""POST /webhooks/flux: X-Signature first, raw delivery stored, deployments and automation runs
recorded, and Flux's repeats of one event never counted twice."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from dora.models import AutomationRun, Deployment
from ingest.models import Source, WebhookDelivery

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "flux"
SECRET = "test-flux-token"
URL = "/webhooks/flux"


@pytest.fixture(autouse=True)
def webhook_config(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    monkeypatch.setenv("DORA_FLUX_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("FLUX_EU_TOKEN", "eu-token")
    settings.DORA_UNKNOWN_SERVICES = "create"
    place = {"environment": "production", "target": "prod-1"}
    Source.objects.create(
        name="flux",
        kind="flux",
        token_env="",
        stacks=[
            {"match": "Kustomization/apps/*", "service": "webapp", **place},
            {"match": "HelmRelease/apps/*", "service": "podinfo", **place},
            {
                "match": "Kustomization/flux-system/*",
                "as": "automation_run",
                "service": "platform",
                **place,
            },
        ],
    )
    Source.objects.create(
        name="flux-eu",
        kind="flux",
        token_env="",
        webhook_secret_env="FLUX_EU_TOKEN",
        stacks=[{"match": "Kustomization/*", "service": "eu-web", "environment": "eu"}],
    )


def body_of(name: str, **changes: Any) -> bytes:
    raw = (FIXTURES / name).read_bytes()
    if not changes:
        return raw
    return json.dumps({**json.loads(raw), **changes}).encode()


def sign(body: bytes, secret: str = SECRET, name: str = "sha256") -> str:
    return f"{name}=" + hmac.new(secret.encode(), body, getattr(hashlib, name)).hexdigest()


def deliver(
    body: bytes, *, signature: str | None = None, url: str = URL
) -> tuple[int, dict[str, Any]]:
    extra = {} if signature == "" else {"HTTP_X_SIGNATURE": signature or sign(body)}
    response = Client().generic("POST", url, body, content_type="application/json", **extra)
    return response.status_code, response.json()


def test_the_published_forwarder_vector_is_accepted_and_a_source_event_kept_raw(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DORA_FLUX_WEBHOOK_SECRET", "7152fed34dd6149a7c75a276c510da27cb6f82b0")
    body = (FIXTURES / "forwarder-test-event.json").read_bytes()
    vector = "sha256=65b018549b1254e7226d1c08f9567ee45bc9de0fc4e7b1a40253f9a018b08be7"

    status, answer = deliver(body, signature=vector)

    assert status == 202, answer
    assert answer["skipped"] == [
        {
            "object": "GitRepository/gitops-system/webapp",
            "reason": "a GitRepository event is not a deployment",
        }
    ]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.provider, delivery.source, delivery.event, delivery.action) == (
        "flux",
        "flux",
        "GitRepository/gitops-system/webapp",
        "reason",
    )
    assert delivery.delivery_id == "sha256:" + hashlib.sha256(body).hexdigest()
    assert delivery.payload == json.loads(body) and delivery.processed_at is not None


@pytest.mark.parametrize("signature", ["", "sha256=00", "md5=abc", sign(b"other")])
def test_a_bad_signature_is_401_and_nothing_is_stored(signature: str) -> None:
    status, answer = deliver(body_of("event-kustomization-succeeded.json"), signature=signature)
    assert status == 401 and "X-Signature" in answer["detail"]
    assert not WebhookDelivery.objects.exists()


def test_a_failed_deployment_is_recorded_with_sha512_too() -> None:
    body = body_of("event-kustomization-validation-failed.json")
    status, answer = deliver(body, signature=sign(body, name="sha512"))

    assert status == 200 and answer["counts"]["created"] == 1, answer
    deployment = Deployment.objects.get()
    assert (deployment.source, deployment.service.name, deployment.environment.name) == (
        "flux",
        "webapp",
        "production",
    )
    assert deployment.target.name == "prod-1"
    assert (deployment.status, deployment.sha) == (
        "failure",
        "731f7eaddfb6af01cb2173e18f0f75b0ba780ef1",
    )
    assert deployment.finished_at == datetime(2022, 10, 28, 7, 26, 19, tzinfo=UTC)
    assert WebhookDelivery.objects.get().counts == {
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "skipped": 0,
    }


def test_repeated_events_never_double_count() -> None:
    first = body_of("event-kustomization-succeeded.json")
    # Flux sends the same event again after its 5-minute rate limit, and on every
    # reconciliation: a new timestamp and message, the same object, revision and outcome.
    repeat = body_of(
        "event-kustomization-succeeded.json",
        timestamp="2024-03-05T10:10:41Z",
        message="Reconciliation finished in 0.8s, next run in 10m0s",
    )

    assert deliver(first)[1]["counts"]["created"] == 1
    status, answer = deliver(first)  # the same bytes again: a redelivery
    assert status == 200 and answer["duplicate"] is True
    status, answer = deliver(repeat)
    assert status == 200 and answer["counts"]["unchanged"] == 1, answer

    run = AutomationRun.objects.get()
    assert (run.service.name, run.action, run.status) == ("platform", "apply", "success")
    assert run.finished_at == datetime(2024, 3, 5, 10, 0, 40, tzinfo=UTC)  # the first one's
    assert run.version == "main@sha1:69b59063470310ebbd88a9156325322a124e55a3"
    assert WebhookDelivery.objects.count() == 2

    failed = body_of("event-kustomization-succeeded.json", reason="ReconciliationFailed")
    assert deliver(failed)[1]["counts"]["created"] == 1  # another outcome: another run
    assert AutomationRun.objects.count() == 2


def test_a_named_source_uses_its_own_secret_and_patterns() -> None:
    body = body_of("event-helmrelease-upgrade-failed.json")
    assert deliver(body, url="/webhooks/flux/flux-eu")[0] == 401  # signed with the other token
    status, answer = deliver(body, signature=sign(body, "eu-token"), url="/webhooks/flux/flux-eu")
    assert status == 202, answer  # no rule of flux-eu matches it: kept raw, with the reason
    assert answer["skipped"][0]["reason"] == (
        "HelmRelease/apps/podinfo matches no rule of the source's stacks:"
    )
    assert deliver(body, url="/webhooks/flux/nope")[0] == 404


def test_an_oversized_body_is_413_and_not_stored(settings: Any) -> None:
    settings.DORA_MAX_BODY_BYTES = 100
    body = body_of("event-kustomization-succeeded.json")
    status, _ = deliver(body)
    assert status == 413 and not WebhookDelivery.objects.exists()


def test_without_a_secret_it_is_503(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DORA_FLUX_WEBHOOK_SECRET")
    status, answer = deliver(b"{}", signature="sha256=00")
    assert status == 503 and "DORA_FLUX_WEBHOOK_SECRET" in answer["detail"]
