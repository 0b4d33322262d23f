"""POST /webhooks/spacelift[/<source>]: X-Signature-256 first, raw delivery stored, final run
states recorded, out-of-order states dropped by stateVersion (also under concurrent deliveries).
Body: the documented finished tracked run (tests/fixtures/spacelift); other states and versions
are set on copies of it, here."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import threading
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from dora.models import AutomationRun
from ingest.models import RunStateVersion, Source, WebhookDelivery
from tests.infra_fixtures import infra_fixture, infra_fixture_bytes

SECRET = "spacelift-hook-secret"
URL = "/webhooks/spacelift/sl"
RUN = "01EF9PFPNFFM2MQXTJKHK1B869"


@pytest.fixture(autouse=True)
def secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DORA_SPACELIFT_WEBHOOK_SECRET", SECRET)


@pytest.fixture
def spacelift_source() -> None:
    Source.objects.create(
        name="sl",
        kind="spacelift",
        token_env="",
        stacks=[{"match": "spacelift-*", "service": "demo", "environment": "production"}],
    )


def body_as(version: int, state: str, timestamp: int = 1596979684) -> bytes:
    body = copy.deepcopy(infra_fixture("spacelift", "run_tracked_finished.json"))
    body.update(stateVersion=version, state=state, timestamp=timestamp)
    return json.dumps(body).encode()


def sign(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(body: bytes, *, signature: str | None = None) -> tuple[int, dict[str, Any]]:
    signature = sign(body) if signature is None else signature
    response = Client().generic(
        "POST", URL, body, content_type="application/json", HTTP_X_SIGNATURE_256=signature
    )
    return response.status_code, response.json()


@pytest.mark.django_db
def test_the_documented_run_is_recorded(spacelift_source: None) -> None:
    status, answer = deliver(infra_fixture_bytes("spacelift", "run_tracked_finished.json"))
    assert status == 200, answer
    assert answer["counts"]["created"] == 1
    run = AutomationRun.objects.select_related("service", "environment").get()
    assert (run.external_id, run.service.name, run.environment.name) == (
        f"automation_run:{RUN}",
        "demo",
        "production",
    )
    assert (run.action, run.status) == ("apply", "success")
    assert run.finished_at.isoformat() == "2020-08-09T13:28:04+00:00"
    assert run.started_at.isoformat() == "2020-08-09T13:27:45+00:00"
    assert run.version == "0ee3a3b7266daf5a1d44a193a0f48ce995fa75eb"
    delivery = WebhookDelivery.objects.get()
    assert (delivery.delivery_id, delivery.event, delivery.action) == (
        f"{RUN}@4",
        "FINISHED",
        "TRACKED",
    )
    assert RunStateVersion.objects.get().version == 4


@pytest.mark.django_db
def test_a_bad_signature_is_401_and_stores_nothing(spacelift_source: None) -> None:
    body = infra_fixture_bytes("spacelift", "run_tracked_finished.json")
    for signature in ("", sign(body, "wrong"), sign(body).removeprefix("sha256=")):
        status, answer = deliver(body, signature=signature)
        assert status == 401 and "X-Signature-256" in answer["detail"]
    assert not WebhookDelivery.objects.exists() and not RunStateVersion.objects.exists()


@pytest.mark.django_db
def test_an_older_state_arriving_late_is_kept_raw_and_dropped(spacelift_source: None) -> None:
    assert deliver(body_as(5, "FAILED", 1596979690))[0] == 200
    status, answer = deliver(body_as(4, "FINISHED"))
    assert status == 200 and answer["counts"] == {"stale": 1}
    run = AutomationRun.objects.get()
    assert run.status == "failure" and run.finished_at.isoformat() == "2020-08-09T13:28:10+00:00"
    assert WebhookDelivery.objects.count() == 2  # both stored raw
    assert RunStateVersion.objects.get().version == 5


@pytest.mark.django_db
def test_a_newer_state_updates_the_run_and_a_redelivery_is_a_duplicate(
    spacelift_source: None,
) -> None:
    status, answer = deliver(body_as(3, "APPLYING", 1596979680))
    assert status == 200 and answer["counts"]["skipped"] == 1  # not final: nothing recorded
    assert not AutomationRun.objects.exists()
    assert deliver(body_as(4, "FINISHED"))[0] == 200
    status, answer = deliver(body_as(4, "FINISHED"))
    assert status == 200 and answer["duplicate"] is True
    assert AutomationRun.objects.get().status == "success"


@pytest.mark.django_db
def test_other_bodies_are_kept_raw(spacelift_source: None) -> None:
    status, answer = deliver(infra_fixture_bytes("spacelift", "internal_error.json"))
    assert status == 202 and answer["counts"] is None
    assert WebhookDelivery.objects.get().event == "other"


@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_run_never_fail_and_the_highest_wins(
    spacelift_source: None,
) -> None:
    # Versions 2..7 at once, all stamped the same second (so updated_at cannot order them):
    # the states alternate so the winner is visible in the record.
    bodies = {v: body_as(v, "FINISHED" if v % 2 else "FAILED", 1596979607) for v in range(2, 8)}
    answers: dict[int, tuple[int, dict[str, Any]]] = {}
    start = threading.Barrier(len(bodies))

    def send(version: int) -> None:
        try:
            start.wait()
            answers[version] = deliver(bodies[version])
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(v,)) for v in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in answers.values()) == [200] * len(bodies)
    assert answers[7][1]["counts"].get("stale") is None  # the highest is never dropped
    assert RunStateVersion.objects.get().version == 7
    run = AutomationRun.objects.get()
    assert run.status == "success" and run.finished_at.isoformat() == "2020-08-09T13:26:47+00:00"
    assert WebhookDelivery.objects.filter(processed_at__isnull=False).count() == len(bodies)


@pytest.mark.django_db
def test_an_unknown_source_is_404_and_an_unset_secret_503(
    spacelift_source: None, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    body = infra_fixture_bytes("spacelift", "run_tracked_finished.json")
    response = Client().generic(
        "POST", "/webhooks/spacelift/nope", body, HTTP_X_SIGNATURE_256=sign(body)
    )
    assert response.status_code == 404
    settings.DORA_MAX_BODY_BYTES = len(body) - 1
    assert deliver(body)[0] == 413
    monkeypatch.delenv("DORA_SPACELIFT_WEBHOOK_SECRET")
    assert deliver(body)[0] == 503
    assert not WebhookDelivery.objects.exists()
