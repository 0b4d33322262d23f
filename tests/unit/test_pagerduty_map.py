"""PagerDuty mapper, field by field on the shared fixtures; the X-PagerDuty-Signature vector.

Expected values are read off the fixtures by hand: DevLake's `_raw_pagerduty_incidents.csv`
(three REST incidents of service PIKL83L "DevService", with their log entries) and go-pagerduty's
webhook v3 test body (incident.priority_updated, service PF9KMXH "API Service", priority P1).
"""

from __future__ import annotations

import csv
import json
from typing import Any

import pytest

from ingest.sources.pagerduty.mapper import (
    PagerDutyMapping,
    Skipped,
    incident_event,
    incidents_events,
    pagerduty_time,
    severity_of,
    webhook_event,
)
from ingest.sources.pagerduty.webhook import pagerduty_signature_valid
from tests.shared import shared_fixture

MAPPING = PagerDutyMapping(services={"PIKL83L": "checkout", "PF9KMXH": "api"})


def raw_incidents() -> dict[str, dict[str, Any]]:
    with shared_fixture("pagerduty", "_raw_pagerduty_incidents.csv").open() as f:
        incidents = [json.loads(row["data"]) for row in csv.DictReader(f)]
    return {i["id"]: i for i in incidents}


def webhook_body() -> dict[str, Any]:
    return json.loads(shared_fixture("pagerduty", "webhookv3_test.defaultBody.json").read_text())


def only(mapped: Any) -> dict[str, Any]:
    assert mapped.skipped == ()
    assert len(mapped.events) == 1
    return mapped.events[0]


def test_triggered_incident_acknowledged_then_escalated_back() -> None:
    # #4 "Crash reported": status triggered (its acknowledgements timed out), urgency high.
    event = only(incident_event(raw_incidents()["Q3YON8WNWTZMRQ"], MAPPING))
    assert event == {
        "type": "incident",
        "source": "pagerduty",
        "id": "Q3YON8WNWTZMRQ",
        "service": "checkout",
        "title": "Crash reported",
        "severity": "sev2",
        "opened_at": "2022-11-03T06:23:06Z",
        # the earliest of its three acknowledge_log_entry (06:23:07, 06:34:25, 06:34:53)
        "acknowledged_at": "2022-11-03T06:23:07Z",
        "updated_at": "2022-11-03T07:02:36Z",
    }
    assert "mitigated_at" not in event and "resolved_at" not in event


def test_acknowledged_incident() -> None:
    event = only(incident_event(raw_incidents()["Q3CZAU7Q4008QD"], MAPPING))
    assert event["id"] == "Q3CZAU7Q4008QD"
    assert event["title"] == "Slow startup"
    assert event["opened_at"] == "2022-11-03T06:44:28Z"
    assert event["acknowledged_at"] == "2022-11-03T06:44:37Z"
    assert event["severity"] == "sev2"
    assert "resolved_at" not in event and "mitigated_at" not in event


def test_resolved_incident_low_urgency() -> None:
    event = only(incident_event(raw_incidents()["Q1OHFWFP3GPXOG"], MAPPING))
    assert event["title"] == "Spamming logs"
    assert event["opened_at"] == "2022-11-03T06:45:36Z"
    assert event["acknowledged_at"] == "2022-11-03T06:45:46Z"
    assert event["resolved_at"] == "2022-11-03T06:51:44Z"
    assert event["severity"] == "sev4"  # urgency low
    assert "mitigated_at" not in event


def test_resolved_at_from_the_log_entries_before_last_status_change() -> None:
    incident = dict(raw_incidents()["Q1OHFWFP3GPXOG"], last_status_change_at="2022-11-04T00:00:00Z")
    assert only(incident_event(incident, MAPPING))["resolved_at"] == "2022-11-03T06:51:44Z"
    incident["log_entries"] = []  # no log entries: the status change is the resolution
    assert only(incident_event(incident, MAPPING))["resolved_at"] == "2022-11-04T00:00:00Z"


def test_acknowledgements_when_there_are_no_log_entries() -> None:
    incident = dict(raw_incidents()["Q3CZAU7Q4008QD"], log_entries=[])
    assert only(incident_event(incident, MAPPING))["acknowledged_at"] == "2022-11-03T06:44:37Z"


def test_service_by_name_and_environment() -> None:
    mapping = PagerDutyMapping(services={"DevService": "web"}, environment="prod", source="pd-eu")
    event = only(incident_event(raw_incidents()["Q3YON8WNWTZMRQ"], mapping))
    assert (event["service"], event["environment"], event["source"]) == ("web", "prod", "pd-eu")


def test_unmapped_service_is_skipped_with_a_reason() -> None:
    mapped = incidents_events(raw_incidents().values(), PagerDutyMapping(services={"PX": "x"}))
    assert mapped.events == ()
    assert [s.incident for s in mapped.skipped] == [
        "Q3YON8WNWTZMRQ",
        "Q3CZAU7Q4008QD",
        "Q1OHFWFP3GPXOG",
    ]
    assert "PIKL83L (DevService) is not mapped" in mapped.skipped[0].reason


def test_all_three_in_order() -> None:
    mapped = incidents_events(raw_incidents().values(), MAPPING)
    assert [e["id"] for e in mapped.events] == [
        "Q3YON8WNWTZMRQ",
        "Q3CZAU7Q4008QD",
        "Q1OHFWFP3GPXOG",
    ]


@pytest.mark.parametrize(
    ("priority", "urgency", "expected"),
    [
        ("P1", "low", "sev1"),  # a priority wins over the urgency
        ("P5", "high", "sev5"),
        ("SEV-2", None, "sev2"),
        ("S3", None, "sev3"),
        ("Major", "high", "Major"),  # an unknown name is kept, never guessed
        (None, "high", "sev2"),
        (None, "low", "sev4"),
        (None, None, None),
    ],
)
def test_severity(priority: str | None, urgency: str | None, expected: str | None) -> None:
    incident = {"priority": {"summary": priority} if priority else None, "urgency": urgency}
    assert severity_of(incident, MAPPING) == expected


def test_urgency_severity_is_configurable() -> None:
    mapping = PagerDutyMapping(services={}, urgency_severity={"high": "sev1"})
    assert severity_of({"urgency": "high"}, mapping) == "sev1"
    assert severity_of({"urgency": "low"}, mapping) is None


def test_times() -> None:
    assert pagerduty_time("2022-11-03T06:23:06.000000Z") == "2022-11-03T06:23:06Z"
    assert pagerduty_time("2021-04-26T17:36:27.458Z") == "2021-04-26T17:36:27.458000Z"
    assert pagerduty_time("2021-04-26T19:36:27+02:00") == "2021-04-26T17:36:27Z"
    with pytest.raises(ValueError, match="without a zone"):
        pagerduty_time("2021-04-26T17:36:27")


# webhook v3


def test_webhook_priority_update_for_an_unseen_incident_is_skipped() -> None:
    # The body has no created_at: the start of PGR0VU2 is unknown, so no event.
    mapped = webhook_event(webhook_body(), MAPPING)
    assert mapped is not None and mapped.events == ()
    assert mapped.skipped[0].incident == "PGR0VU2"
    assert "start is unknown" in mapped.skipped[0].reason


def test_webhook_priority_update_over_the_stored_incident() -> None:
    stored = {
        "type": "incident",
        "source": "pagerduty",
        "id": "PGR0VU2",
        "service": "api",
        "opened_at": "2021-04-26T17:30:00Z",
        "severity": "sev3",
        "acknowledged_at": "2021-04-26T17:31:00Z",
    }
    seen: list[str] = []

    def prior(event_id: str) -> dict[str, Any]:
        seen.append(event_id)
        return stored

    event = only(webhook_event(webhook_body(), MAPPING, prior))
    assert seen == ["PGR0VU2"]
    assert event == {
        "type": "incident",
        "source": "pagerduty",
        "id": "PGR0VU2",
        "service": "api",
        "title": "A little bump in the road",
        "severity": "sev1",  # priority P1
        "opened_at": "2021-04-26T17:30:00Z",
        "acknowledged_at": "2021-04-26T17:31:00Z",
        "updated_at": "2021-04-26T17:36:27.458000Z",
    }


def _as(event_type: str, occurred_at: str, **data: Any) -> dict[str, Any]:
    body = webhook_body()
    body["event"]["event_type"] = event_type
    body["event"]["occurred_at"] = occurred_at
    body["event"]["data"].update(data)
    return body


def test_webhook_lifecycle_triggered_acknowledged_resolved_reopened() -> None:
    store: dict[str, dict[str, Any]] = {}

    def step(body: dict[str, Any]) -> dict[str, Any]:
        event = only(webhook_event(body, MAPPING, store.get))
        store[event["id"]] = event
        return event

    triggered = step(_as("incident.triggered", "2021-04-26T17:00:00Z"))
    assert triggered["opened_at"] == "2021-04-26T17:00:00Z"
    assert "resolved_at" not in triggered and "acknowledged_at" not in triggered
    acked = step(_as("incident.acknowledged", "2021-04-26T17:05:00Z", status="acknowledged"))
    assert acked["acknowledged_at"] == "2021-04-26T17:05:00Z"
    assert "mitigated_at" not in acked
    again = step(_as("incident.acknowledged", "2021-04-26T17:09:00Z", status="acknowledged"))
    assert again["acknowledged_at"] == "2021-04-26T17:05:00Z"  # the first stays
    resolved = step(_as("incident.resolved", "2021-04-26T17:20:00Z", status="resolved"))
    assert resolved["resolved_at"] == "2021-04-26T17:20:00Z"
    assert resolved["opened_at"] == "2021-04-26T17:00:00Z"
    reopened = step(_as("incident.reopened", "2021-04-26T17:30:00Z", status="triggered"))
    assert "resolved_at" not in reopened
    final = step(_as("incident.resolved", "2021-04-26T17:40:00Z", status="resolved"))
    assert final["resolved_at"] == "2021-04-26T17:40:00Z"


def test_webhook_created_at_when_the_payload_has_it() -> None:
    body = _as("incident.resolved", "2021-04-26T18:00:00Z", created_at="2021-04-26T17:00:00Z")
    event = only(webhook_event(body, MAPPING))
    assert (event["opened_at"], event["resolved_at"]) == (
        "2021-04-26T17:00:00Z",
        "2021-04-26T18:00:00Z",
    )


def test_webhook_unmapped_service_and_unknown_type() -> None:
    mapped = webhook_event(_as("incident.triggered", "2021-04-26T17:00:00Z"), PagerDutyMapping({}))
    assert mapped is not None and mapped.events == ()
    assert mapped.skipped == (
        Skipped(
            "PGR0VU2",
            "PagerDuty service PF9KMXH (API Service) is not mapped to a service: add it under "
            "the source's services:",
        ),
    )
    assert webhook_event(_as("incident.annotated", "2021-04-26T17:00:00Z"), MAPPING) is None
    assert webhook_event({"event": {"event_type": "service.created"}}, MAPPING) is None


# the published signature vector (go-pagerduty's webhookv3 test)


def vector() -> dict[str, str]:
    return json.loads(shared_fixture("signature-vectors.json").read_text())[
        "pagerduty_x_pagerduty_signature"
    ]


def test_signature_vector() -> None:
    v = vector()
    body = shared_fixture("pagerduty", "webhookv3_test.defaultBody.json").read_bytes()
    secret = v["secret"].encode()
    assert pagerduty_signature_valid(secret, body, v["expected_valid"])
    assert not pagerduty_signature_valid(secret, body, v["expected_mismatch_example"])
    assert not pagerduty_signature_valid(secret, body + b" ", v["expected_valid"])
    assert not pagerduty_signature_valid(b"other", body, v["expected_valid"])


def test_signature_several_values_any_matches() -> None:
    v = vector()
    body = shared_fixture("pagerduty", "webhookv3_test.defaultBody.json").read_bytes()
    secret = v["secret"].encode()
    both = f"{v['expected_mismatch_example']},{v['expected_valid']}"
    assert pagerduty_signature_valid(secret, body, both)
    assert pagerduty_signature_valid(secret, body, f"{v['expected_valid']}, v1=00")
    assert not pagerduty_signature_valid(secret, body, f"{v['expected_mismatch_example']},v1=")
    for header in (None, "", v["expected_valid"].removeprefix("v1="), "v2=" + "0" * 64):
        assert not pagerduty_signature_valid(secret, body, header)


def test_log_entries_given_apart_from_the_incident() -> None:
    # As GET /incidents/{id}/log_entries lists them: they override the object's own.
    incident = raw_incidents()["Q1OHFWFP3GPXOG"]
    entries = [
        {"type": "acknowledge_log_entry", "created_at": "2022-11-03T06:47:00Z"},
        {"type": "resolve_log_entry", "created_at": "2022-11-03T06:50:00Z"},
        {"type": "notify_log_entry", "created_at": "2022-11-03T06:46:00Z"},
    ]
    event = only(incident_event(incident, MAPPING, entries))
    assert (event["acknowledged_at"], event["resolved_at"]) == (
        "2022-11-03T06:47:00Z",
        "2022-11-03T06:50:00Z",
    )
