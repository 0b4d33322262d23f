"""POST /webhooks/opsgenie: the shared-secret header first, tagged alert activity mapped to
incidents, everything else kept raw, idempotent.

The settings source `opsgenie` has no alerts_tag, so its deliveries are only stored (BODY is a
minimal alert action). The source row `og` (alerts_tag tag1, services {tag2: checkout}) receives
the documented alert action data (tests/fixtures/opsgenie: Create and Acknowledge of alert
052652ac-..., tagged [tag1, tag2]); Close and AddNote bodies are derived from Acknowledge here.
"""

from __future__ import annotations

import copy
import csv
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from dora.intake.events import events_record
from dora.models import Incident, RawEvent
from ingest.models import Source, WebhookDelivery
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


FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "opsgenie"
OG_URL = "/webhooks/opsgenie/og"
OG_SECRET = "og-row-secret"
INCIDENT_ID = "incident:alert:052652ac-5d1c-464a-812a-7dd18bbfba8c"


def body(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def closed() -> dict[str, Any]:
    """Derived: the Acknowledge sample as a Close one minute later (updatedAt + 60 s in ns)."""
    close = copy.deepcopy(body("webhook_acknowledge.json"))
    close["action"] = "Close"
    close["alert"]["updatedAt"] = 1420452284764002246
    return close


@pytest.fixture
def og_source(monkeypatch: pytest.MonkeyPatch) -> Source:
    from dora.models import Service

    monkeypatch.setenv("OG_ROW_SECRET", OG_SECRET)
    Service.objects.create(name="checkout")
    return Source.objects.create(
        name="og",
        kind="opsgenie",
        token_env="OG_KEY",
        webhook_secret_env="OG_ROW_SECRET",
        incidents={"services": {"tag2": "checkout"}, "alerts_tag": "tag1"},
    )


def og_deliver(payload: dict[str, Any], token: str | None = OG_SECRET) -> tuple[int, dict]:
    return deliver(json.dumps(payload).encode(), token=token, url=OG_URL)


def test_tagged_alert_create_acknowledge_close_make_one_incident(og_source: Source) -> None:
    status, answer = og_deliver(body("webhook_create.json"))
    assert status == 200 and answer["counts"]["created"] == 1, answer
    incident = Incident.objects.get(source="og", external_id=INCIDENT_ID)
    # createdAt 1420452191104 ms: 1420416000 is 2015-01-05T00:00Z, + 36191.104 s = 10:03:11.104.
    assert incident.opened_at == datetime(2015, 1, 5, 10, 3, 11, 104000, tzinfo=UTC)
    assert incident.service.name == "checkout" and incident.resolved_at is None

    status, answer = og_deliver(body("webhook_acknowledge.json"))
    assert status == 200 and answer["counts"]["updated"] == 1, answer
    stored = RawEvent.objects.get(source="og", type="incident").payload
    assert stored["acknowledged_at"] == "2015-01-05T10:03:44.764002Z"  # updatedAt, in ns
    incident.refresh_from_db()
    assert incident.mitigated_at is None and incident.resolved_at is None  # ack: not mitigated

    status, answer = og_deliver(closed())
    assert status == 200 and answer["counts"]["updated"] == 1, answer
    incident.refresh_from_db()
    assert incident.resolved_at == datetime(2015, 1, 5, 10, 4, 44, 764002, tzinfo=UTC)
    assert incident.opened_at == datetime(2015, 1, 5, 10, 3, 11, 104000, tzinfo=UTC)
    assert Incident.objects.filter(source="og").count() == 1
    assert WebhookDelivery.objects.filter(source="og", processed_at__isnull=False).count() == 3


def test_unknown_action_or_untagged_alert_is_kept_raw_202(og_source: Source) -> None:
    note = {**body("webhook_acknowledge.json"), "action": "AddNote"}  # derived
    status, answer = og_deliver(note)
    assert status == 202 and "AddNote" in answer["detail"] and answer["counts"] is None

    untagged = copy.deepcopy(body("webhook_create.json"))  # derived: without tag1
    untagged["alert"]["tags"] = ["tag2"]
    status, answer = og_deliver(untagged)
    assert status == 202 and "tag1" in answer["detail"]

    assert WebhookDelivery.objects.filter(source="og").count() == 2
    assert not RawEvent.objects.exists() and not Incident.objects.exists()


def test_row_source_wrong_token_401_oversize_413_store_nothing(
    og_source: Source, settings: Any
) -> None:
    assert og_deliver(body("webhook_create.json"), token="wrong")[0] == 401
    assert og_deliver(body("webhook_create.json"), token=SECRET)[0] == 401  # another source's
    assert og_deliver(body("webhook_create.json"), token=None)[0] == 401
    settings.DORA_MAX_BODY_BYTES = 100
    assert og_deliver(body("webhook_create.json"))[0] == 413
    assert not WebhookDelivery.objects.exists() and not Incident.objects.exists()


def test_row_source_duplicate_delivery_is_idempotent(og_source: Source) -> None:
    first = og_deliver(body("webhook_create.json"))
    status, answer = og_deliver(body("webhook_create.json"))

    assert first[0] == 200
    assert status == 200 and answer["duplicate"] is True
    assert answer["counts"] == first[1]["counts"]
    assert WebhookDelivery.objects.count() == 1
    assert RawEvent.objects.filter(source="og").count() == 1
