"""POST /webhooks/opsgenie: the shared-secret header first, deliveries kept raw, idempotent.

No captured Opsgenie webhook body is in the shared fixtures; the body here is a minimal alert
action, enough for a delivery that is only stored (nothing is mapped from it).
"""

from __future__ import annotations

import csv
import json
from typing import Any

import pytest
from django.test import Client

from dora.events import events_record
from dora.models import Incident, RawEvent
from ingest.models import WebhookDelivery
from ingest.sources.opsgenie.mapper import OpsgenieMapping, incidents_events
from ingest.sources.opsgenie.webhook import opsgenie_token_valid
from tests.shared import shared_fixture

pytestmark = pytest.mark.django_db
SECRET = "test-opsgenie-secret"
URL = "/webhooks/opsgenie"
BODY = json.dumps({"action": "Create", "alert": {"alertId": "a-1", "message": "disk"}}).encode()


@pytest.fixture(autouse=True)
def webhook_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DORA_OPSGENIE_WEBHOOK_SECRET", SECRET)


def deliver(
    body: bytes = BODY, *, token: str | None = SECRET, url: str = URL
) -> tuple[int, dict[str, Any]]:
    headers = {} if token is None else {"HTTP_X_OPSGENIE_TOKEN": token}
    response = Client().generic("POST", url, body, content_type="application/json", **headers)
    return response.status_code, response.json()


def test_token_compare() -> None:
    assert opsgenie_token_valid(b"s3cret", "s3cret")
    assert opsgenie_token_valid(b"s3cret", " s3cret ")
    for header in (None, "", "s3cre", "s3cret2", "S3CRET"):
        assert not opsgenie_token_valid(b"s3cret", header)


def test_good_token_is_kept_raw_and_202() -> None:
    status, answer = deliver()
    assert status == 202 and "Kept raw" in answer["detail"]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.provider, delivery.source, delivery.event) == (
        "opsgenie",
        "opsgenie",
        "Create",
    )
    assert delivery.payload == json.loads(BODY) and delivery.processed_at is not None
    assert not RawEvent.objects.exists()


def test_wrong_or_missing_token_is_401_and_stores_nothing() -> None:
    assert deliver(token="wrong")[0] == 401
    assert deliver(token=None)[0] == 401
    assert deliver(token="")[0] == 401
    assert not WebhookDelivery.objects.exists()


def test_oversize_is_413(settings: Any) -> None:
    settings.DORA_MAX_BODY_BYTES = len(BODY) - 1
    assert deliver()[0] == 413
    assert not WebhookDelivery.objects.exists()


def test_replay_is_idempotent() -> None:
    assert deliver()[0] == 202
    status, answer = deliver()
    assert status == 200 and answer["duplicate"] is True
    assert WebhookDelivery.objects.count() == 1


def test_secret_unset_503_unknown_source_404_bad_json_400(monkeypatch: pytest.MonkeyPatch) -> None:
    assert deliver(b"{", token=SECRET)[0] == 400
    assert deliver(url=URL + "/nope")[0] == 404
    monkeypatch.delenv("DORA_OPSGENIE_WEBHOOK_SECRET")
    status, answer = deliver()
    assert status == 503 and "DORA_OPSGENIE_WEBHOOK_SECRET" in answer["detail"]
    assert not WebhookDelivery.objects.exists()


def test_mapped_fixture_incidents_pass_intake() -> None:
    with shared_fixture("opsgenie", "_raw_opsgenie_incidents.csv").open() as f:
        incidents = [json.loads(row["data"]) for row in csv.DictReader(f)]
    mapping = OpsgenieMapping(services={"695bce3d-4621-4630-8ae1-24eb89c22d6e": "checkout"})
    report = events_record(list(incidents_events(incidents, mapping).events))
    assert report.counts["created"] == 2, [i.as_dict() for i in report.items]
    resolved = Incident.objects.get(external_id__startswith="incident:3f84e009")
    assert resolved.severity == "sev5" and resolved.source == "opsgenie"
    assert resolved.resolved_at.isoformat() == "2023-09-05T18:21:21.490000+00:00"
