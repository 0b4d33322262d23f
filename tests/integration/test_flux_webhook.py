"""POST /webhooks/flux: X-Signature first, raw delivery stored, deployments and automation runs
recorded, Flux's repeats of one event never counted twice (also when they arrive at once), and
a rollback to an earlier revision recorded as a deployment of its own."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from dora.models import AutomationRun, Deployment, Rollout
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


def webapp_event(revision: str, timestamp: str) -> bytes:
    """The documented succeeded Kustomization as apps/webapp (a deployment of webapp in
    production) at `revision` (a character repeated into a sha) and `timestamp`."""
    return body_of(
        "event-kustomization-succeeded.json",
        involvedObject={"kind": "Kustomization", "namespace": "apps", "name": "webapp"},
        metadata={"kustomize.toolkit.fluxcd.io/revision": f"main@sha1:{revision * 40}"},
        timestamp=timestamp,
        message=f"Reconciliation finished at {timestamp}",
    )


def test_a_rollback_to_an_earlier_revision_is_a_new_deployment_and_a_rollback_rollout() -> None:
    # A (rev a), A repeated, B (rev b), C (rev a again: the rollback), C repeated.
    a, a_again = (
        webapp_event("a", "2024-03-05T10:00:00Z"),
        webapp_event("a", "2024-03-05T10:05:00Z"),
    )
    b = webapp_event("b", "2024-03-05T11:00:00Z")
    c, c_again = (
        webapp_event("a", "2024-03-05T12:00:00Z"),
        webapp_event("a", "2024-03-05T12:05:00Z"),
    )
    counts = []
    for body in (a, a_again, b, c, c_again):
        status, answer = deliver(body)
        assert status == 200, answer
        counts.append((answer["counts"]["created"], answer["counts"]["unchanged"]))
    assert counts == [(1, 0), (0, 1), (1, 0), (1, 0), (0, 1)]

    rows = list(Deployment.objects.order_by("finished_at").values_list("sha", "finished_at"))
    assert rows == [
        ("a" * 40, datetime(2024, 3, 5, 10, 0, tzinfo=UTC)),
        ("b" * 40, datetime(2024, 3, 5, 11, 0, tzinfo=UTC)),
        ("a" * 40, datetime(2024, 3, 5, 12, 0, tzinfo=UTC)),  # C's own time, not A's
    ]
    rollouts = Rollout.objects.filter(
        service__name="webapp", environment__name="production"
    ).order_by("seq")
    assert [r.kind for r in rollouts] == ["change", "change", "rollback"]
    assert rollouts[2].first_live_at == datetime(2024, 3, 5, 12, 0, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_event_record_it_once() -> None:
    # After B, Flux's repeats of the rollback C (each its own body: another timestamp) arrive
    # at once: each alone would be a new deployment; together they are one.
    assert deliver(webapp_event("a", "2024-03-05T10:00:00Z"))[0] == 200
    assert deliver(webapp_event("b", "2024-03-05T11:00:00Z"))[0] == 200
    bodies = [webapp_event("a", f"2024-03-05T12:0{minute}:00Z") for minute in range(6)]
    answers: list[tuple[int, dict[str, Any]]] = []
    start = threading.Barrier(len(bodies))

    def send(body: bytes) -> None:
        try:
            start.wait()
            answers.append(deliver(body))
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in answers) == [200] * len(bodies)
    assert sum(answer["counts"]["created"] for _, answer in answers) == 1
    # The others repeat it: unchanged, or updated when one stamped earlier than the first to
    # arrive brings its finished_at back (the earliest is kept, whatever the order).
    assert sum(a["counts"]["unchanged"] + a["counts"]["updated"] for _, a in answers) == 5
    assert Deployment.objects.count() == 3
    rollback = Deployment.objects.filter(sha="a" * 40).order_by("finished_at")[1]
    assert rollback.finished_at == datetime(2024, 3, 5, 12, 0, tzinfo=UTC)
