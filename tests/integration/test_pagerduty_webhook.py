"""POST /webhooks/pagerduty: signature first, raw delivery stored, incident recorded, idempotent.

The body is go-pagerduty's webhook v3 test body (tests/fixtures/shared/pagerduty), as it is and
with its event type, times and status changed; the published vector signs the original bytes.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client

from dora.intake.events import events_record
from dora.models import Incident, RawEvent
from ingest.models import Source, WebhookDelivery
from ingest.sources.pagerduty.mapper import PagerDutyMapping, incidents_events
from tests.shared import shared_fixture

pytestmark = pytest.mark.django_db
SECRET = "test-pagerduty-secret"
URL = "/webhooks/pagerduty"


@pytest.fixture(autouse=True)
def webhook_config(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    monkeypatch.setenv("DORA_PAGERDUTY_WEBHOOK_SECRET", SECRET)
    settings.DORA_PAGERDUTY_WEBHOOKS = {
        "pagerduty": {
            "secret_env": "DORA_PAGERDUTY_WEBHOOK_SECRET",
            "services": {"PF9KMXH": "api"},
        },
        "pd-eu": {"secret_env": "PD_EU_SECRET", "services": {"API Service": "api-eu"}},
    }


def raw_body() -> bytes:
    return shared_fixture("pagerduty", "webhookv3_test.defaultBody.json").read_bytes()


def body_as(event_id: str, event_type: str, occurred_at: str, **data: Any) -> bytes:
    body = copy.deepcopy(json.loads(raw_body()))
    body["event"].update(id=event_id, event_type=event_type, occurred_at=occurred_at)
    body["event"]["data"].update(data)
    return json.dumps(body).encode()


def sign(body: bytes, secret: str = SECRET) -> str:
    return "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def deliver(
    body: bytes, *, signature: str | None = None, url: str = URL
) -> tuple[int, dict[str, Any]]:
    signature = sign(body) if signature is None else signature
    response = Client().generic(
        "POST", url, body, content_type="application/json", HTTP_X_PAGERDUTY_SIGNATURE=signature
    )
    return response.status_code, response.json()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_published_vector_through_the_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    vector = json.loads(shared_fixture("signature-vectors.json").read_text())[
        "pagerduty_x_pagerduty_signature"
    ]
    monkeypatch.setenv("DORA_PAGERDUTY_WEBHOOK_SECRET", vector["secret"])
    status, answer = deliver(raw_body(), signature=vector["expected_mismatch_example"])
    assert status == 401 and "X-PagerDuty-Signature" in answer["detail"]
    assert not WebhookDelivery.objects.exists()
    # Verified: stored raw; a priority update of an incident never seen, without created_at,
    # has no known start, so it is skipped with the reason and no incident is recorded.
    status, answer = deliver(raw_body(), signature=vector["expected_valid"])
    assert status == 200, answer
    delivery = WebhookDelivery.objects.get()
    assert (delivery.provider, delivery.delivery_id, delivery.event, delivery.source) == (
        "pagerduty",
        "01BWDWL3NYY7LUFPZCC28QUCMK",
        "incident.priority_updated",
        "pagerduty",
    )
    assert delivery.payload == json.loads(raw_body())
    assert delivery.processed_at is not None and delivery.counts["skipped"] == 1
    assert answer["skipped"][0]["incident"] == "PGR0VU2"
    assert not Incident.objects.exists()


def test_triggered_then_resolved_are_recorded_through_intake() -> None:
    status, answer = deliver(body_as("E1", "incident.triggered", "2021-04-26T17:00:00Z"))
    assert status == 200 and answer["counts"]["created"] == 1, answer
    incident = Incident.objects.get()
    assert (incident.source, incident.external_id, incident.service.name) == (
        "pagerduty",
        "incident:PGR0VU2",
        "api",
    )
    assert incident.title == "A little bump in the road"
    assert incident.severity == "sev1"  # its priority P1
    assert incident.opened_at == at("2021-04-26T17:00:00Z")
    assert incident.resolved_at is None and incident.mitigated_at is None
    assert incident.environment is None  # the service's production tier

    status, answer = deliver(
        body_as("E2", "incident.acknowledged", "2021-04-26T17:05:00Z", status="acknowledged")
    )
    assert status == 200 and answer["counts"]["updated"] == 1, answer
    assert Incident.objects.get().mitigated_at is None  # an acknowledgement is not mitigation
    status, answer = deliver(
        body_as("E3", "incident.resolved", "2021-04-26T17:20:00Z", status="resolved")
    )
    assert status == 200 and answer["counts"]["updated"] == 1, answer
    incident = Incident.objects.get()
    assert incident.opened_at == at("2021-04-26T17:00:00Z")
    assert incident.resolved_at == at("2021-04-26T17:20:00Z")
    payload = RawEvent.objects.get(type="incident").payload
    assert payload["acknowledged_at"] == "2021-04-26T17:05:00Z"
    assert WebhookDelivery.objects.count() == 3


def test_wrong_or_missing_signature_is_401_and_stores_nothing() -> None:
    body = body_as("E1", "incident.triggered", "2021-04-26T17:00:00Z")
    assert deliver(body, signature=sign(body, "wrong"))[0] == 401
    assert deliver(body, signature="")[0] == 401
    assert deliver(body, signature=sign(body).removeprefix("v1="))[0] == 401
    tampered = body.replace(b"A little bump", b"A large bump")
    assert deliver(tampered, signature=sign(body))[0] == 401
    assert not WebhookDelivery.objects.exists() and not RawEvent.objects.exists()
    assert not Incident.objects.exists()


def test_several_v1_values_any_matches() -> None:
    body = body_as("E1", "incident.triggered", "2021-04-26T17:00:00Z")
    rotating = f"{sign(body, 'old-secret')},{sign(body)}"
    assert deliver(body, signature=rotating)[0] == 200
    assert Incident.objects.count() == 1
    other = body_as("E2", "incident.triggered", "2021-04-26T17:00:00Z")
    both_wrong = f"{sign(other, 'old-secret')}, {sign(other, 'older')}"
    assert deliver(other, signature=both_wrong)[0] == 401
    assert WebhookDelivery.objects.count() == 1


def test_oversize_body_is_413_and_stores_nothing(settings: Any) -> None:
    body = body_as("E1", "incident.triggered", "2021-04-26T17:00:00Z")
    settings.DORA_MAX_BODY_BYTES = len(body) - 1
    status, answer = deliver(body)
    assert status == 413 and str(len(body) - 1) in answer["detail"]
    settings.DORA_MAX_BODY_BYTES = len(body)
    assert deliver(body)[0] == 200  # exactly at the limit is accepted
    assert WebhookDelivery.objects.count() == 1


def test_unknown_event_type_is_202_and_kept_raw() -> None:
    body = body_as("E9", "incident.annotated", "2021-04-26T17:00:00Z")
    status, answer = deliver(body)
    assert status == 202 and "'incident.annotated' is not used" in answer["detail"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "incident.annotated" and delivery.payload == json.loads(body)
    assert delivery.processed_at is not None
    assert not RawEvent.objects.exists() and not Incident.objects.exists()


def test_replay_is_idempotent() -> None:
    body = body_as("E1", "incident.triggered", "2021-04-26T17:00:00Z")
    first = deliver(body)
    assert first[0] == 200 and first[1]["counts"]["created"] == 1
    status, answer = deliver(body)
    assert status == 200 and answer["duplicate"] is True
    assert answer["counts"] == first[1]["counts"]
    assert WebhookDelivery.objects.count() == 1 and Incident.objects.count() == 1
    assert RawEvent.objects.filter(type="incident").count() == 1


def test_unmapped_service_is_kept_raw_and_skipped_with_the_reason(settings: Any) -> None:
    settings.DORA_PAGERDUTY_WEBHOOKS["pagerduty"]["services"] = {}
    status, answer = deliver(body_as("E1", "incident.triggered", "2021-04-26T17:00:00Z"))
    assert status == 200 and answer["counts"]["skipped"] == 1
    assert "PF9KMXH (API Service) is not mapped" in answer["skipped"][0]["reason"]
    assert WebhookDelivery.objects.count() == 1 and not Incident.objects.exists()


def test_named_source_its_own_secret_and_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    body = body_as("E1", "incident.triggered", "2021-04-26T17:00:00Z")
    status, answer = deliver(body, url=URL + "/pd-eu")
    assert status == 503 and "PD_EU_SECRET" in answer["detail"]
    monkeypatch.setenv("PD_EU_SECRET", "eu-secret")
    assert deliver(body, url=URL + "/pd-eu")[0] == 401  # signed with the default's secret
    assert deliver(body, signature=sign(body, "eu-secret"), url=URL + "/pd-eu")[0] == 200
    incident = Incident.objects.get()
    assert (incident.source, incident.service.name) == ("pd-eu", "api-eu")
    assert deliver(body, url=URL + "/nope")[0] == 404


def test_a_sources_row_of_kind_pagerduty_its_secret_and_services(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A `sources:` entry (the Source row apply_config writes) is accepted as settings' are:
    # its webhook_secret_env and services; it wins over a settings entry of the same name.
    Source.objects.create(
        name="pd-eu",
        kind="pagerduty",
        token_env="PD_TOKEN",
        webhook_secret_env="PD_ROW_SECRET",
        incidents={"services": {"PF9KMXH": "api-row"}, "urgency_severity": {"high": "sev3"}},
    )
    monkeypatch.setenv("PD_ROW_SECRET", "row-secret")
    monkeypatch.setenv("PD_EU_SECRET", "eu-secret")
    body = body_as("E1", "incident.triggered", "2021-04-26T17:00:00Z")
    assert deliver(body, signature=sign(body, "eu-secret"), url=URL + "/pd-eu")[0] == 401
    status, answer = deliver(body, signature=sign(body, "row-secret"), url=URL + "/pd-eu")
    assert status == 200, answer
    incident = Incident.objects.get()
    # The service by its id PF9KMXH (the settings' pd-eu maps the name to api-eu instead).
    assert (incident.source, incident.service.name) == ("pd-eu", "api-row")
    Source.objects.create(name="pd-default", kind="pagerduty", incidents={"services": {}})
    assert deliver(body, url=URL + "/pd-default")[0] == 200  # DORA_PAGERDUTY_WEBHOOK_SECRET


def test_secret_not_configured_is_503(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DORA_PAGERDUTY_WEBHOOK_SECRET")
    status, answer = deliver(body_as("E1", "incident.triggered", "2021-04-26T17:00:00Z"))
    assert status == 503 and "DORA_PAGERDUTY_WEBHOOK_SECRET" in answer["detail"]
    assert not WebhookDelivery.objects.exists()


def test_not_json_or_not_v3_is_400() -> None:
    for body in (b'{"event": ', b"[]", b'{"messages": []}', b'{"event": {"event_type": "x"}}'):
        status, answer = deliver(body)
        assert status == 400, (body, answer)
    assert not WebhookDelivery.objects.exists()


def test_mapped_rest_fixture_incidents_pass_intake() -> None:
    with shared_fixture("pagerduty", "_raw_pagerduty_incidents.csv").open() as f:
        incidents = [json.loads(row["data"]) for row in csv.DictReader(f)]
    mapped = incidents_events(incidents, PagerDutyMapping(services={"PIKL83L": "checkout"}))
    report = events_record(list(mapped.events))
    assert report.counts["created"] == 3, [i.as_dict() for i in report.items]
    resolved = Incident.objects.get(external_id="incident:Q1OHFWFP3GPXOG")
    assert (resolved.severity, resolved.resolved_at) == ("sev4", at("2022-11-03T06:51:44Z"))
    assert Incident.objects.filter(resolved_at__isnull=True).count() == 2
