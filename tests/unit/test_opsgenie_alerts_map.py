"""Opsgenie alerts as incidents, field by field on the documented payloads (tests/fixtures/opsgenie:
the Alert API's List Alerts sample and the Webhook integration's Create/Acknowledge samples).

Read by hand: the listed alert 70413a06-... is closed, tagged [OverwriteQuietHours, Critical],
P4, created 2017-03-21T20:32:52.353Z, report ackTime 15702 ms and closeTime 60503 ms; the second
one is tagged [RandomTag]. The webhook alert 052652ac-... is tagged [tag1, tag2], createdAt
1420452191104 ms = 2015-01-05T10:03:11.104Z (1420416000 is 2015-01-05T00:00Z, + 36191.104 s).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from ingest.sources.opsgenie.mapper import (
    OpsgenieMapping,
    alert_event,
    alerts_events,
    epoch_time,
    incident_events,
    webhook_event,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "opsgenie"
ALERT_ID = "70413a06-38d6-4c85-92b8-5ebc900d42e2"
HOOK_ALERT_ID = "052652ac-5d1c-464a-812a-7dd18bbfba8c"
LISTED = OpsgenieMapping(services={"OverwriteQuietHours": "checkout"}, alerts_tag="Critical")
HOOKED = OpsgenieMapping(services={"tag2": "checkout"}, alerts_tag="tag1", source="og")


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def listed_alerts() -> list[dict[str, Any]]:
    return fixture("list_alerts.json")["data"]


def test_a_closed_tagged_alert_is_a_resolved_incident() -> None:
    mapped = alert_event(listed_alerts()[0], LISTED)

    assert mapped.skipped == ()
    assert mapped.events == (
        {
            "type": "incident",
            "source": "opsgenie",
            "id": f"alert:{ALERT_ID}",
            "service": "checkout",
            "title": "Our servers are in danger",
            "severity": "sev4",
            "opened_at": "2017-03-21T20:32:52.353000Z",
            "acknowledged_at": "2017-03-21T20:33:08.055000Z",  # 52.353 s + 15.702 s
            "resolved_at": "2017-03-21T20:33:52.856000Z",  # 52.353 s + 60.503 s
            "updated_at": "2017-04-03T20:32:57.301000Z",
        },
    )
    assert "mitigated_at" not in mapped.events[0]  # an acknowledgement is not a mitigation


def test_an_alert_without_the_tag_maps_to_nothing() -> None:
    assert alert_event(listed_alerts()[1], LISTED).events == ()
    assert alert_event(listed_alerts()[1], LISTED).skipped == ()
    no_tag = OpsgenieMapping(services={"OverwriteQuietHours": "checkout"})
    assert alerts_events(listed_alerts(), no_tag).events == ()
    assert len(alerts_events(listed_alerts(), LISTED).events) == 1


def test_an_open_tagged_alert_has_no_acknowledgement_or_resolution() -> None:
    # Derived: the second listed alert (open, no report) given the incident and service tags.
    alert = {**listed_alerts()[1], "tags": ["Critical", "OverwriteQuietHours"]}

    (event,) = alert_event(alert, LISTED).events

    assert event["opened_at"] == "2017-03-21T20:32:52.353000Z" and event["severity"] == "sev5"
    assert "acknowledged_at" not in event and "resolved_at" not in event


def test_the_service_comes_from_a_tag_then_the_entity_else_the_alert_is_skipped() -> None:
    alert = {**listed_alerts()[0], "tags": ["Critical"], "entity": "EC2"}  # derived

    by_entity = OpsgenieMapping(services={"EC2": "web"}, alerts_tag="Critical")
    assert alert_event(alert, by_entity).events[0]["service"] == "web"
    skipped = alert_event(alert, LISTED).skipped
    assert [s.incident for s in skipped] == [f"alert:{ALERT_ID}"]
    assert "no mapped service" in skipped[0].reason


def test_priority_severity_overrides_the_default() -> None:
    mapping = OpsgenieMapping(
        services=LISTED.services, alerts_tag="Critical", priority_severity={"P4": "sev2"}
    )
    assert alert_event(listed_alerts()[0], mapping).events[0]["severity"] == "sev2"
    incident = {"id": "i-1", "impactedServices": ["s"], "createdAt": "2023-09-06T14:30:56Z"}
    for priority, expected in (("P4", "sev2"), ("P1", "sev1"), (None, None)):
        events = incident_events(
            {**incident, "priority": priority},
            OpsgenieMapping(services={"s": "checkout"}, priority_severity={"P4": "sev2"}),
        ).events
        assert events[0].get("severity") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1420452191104, "2015-01-05T10:03:11.104000Z"),  # milliseconds (createdAt)
        (1420452191104000, "2015-01-05T10:03:11.104000Z"),  # microseconds
        (1420452224764002246, "2015-01-05T10:03:44.764002Z"),  # nanoseconds (updatedAt)
        (None, None),
    ],
)
def test_epoch_times_of_every_unit(value: int | None, expected: str | None) -> None:
    assert epoch_time(value) == expected


def test_webhook_create_opens_the_incident() -> None:
    mapped = webhook_event(fixture("webhook_create.json"), HOOKED)

    assert mapped is not None and mapped.skipped == ()
    assert mapped.events == (
        {
            "type": "incident",
            "source": "og",
            "id": f"alert:{HOOK_ALERT_ID}",
            "service": "checkout",  # tag2
            "title": " test alert",  # as the sample has it
            "opened_at": "2015-01-05T10:03:11.104000Z",
            "updated_at": "2015-01-05T10:03:13.166002Z",  # 1420452193166002000 ns
        },
    )


def test_webhook_acknowledge_then_close_merge_over_the_stored_event() -> None:
    stored: dict[str, dict[str, Any]] = {}

    def deliver(body: dict[str, Any]) -> dict[str, Any]:
        mapped = webhook_event(body, HOOKED, stored.get)
        assert mapped is not None
        (event,) = mapped.events
        stored[event["id"]] = event
        return event

    deliver(fixture("webhook_create.json"))
    acknowledged = deliver(fixture("webhook_acknowledge.json"))
    assert acknowledged["acknowledged_at"] == "2015-01-05T10:03:44.764002Z"
    assert acknowledged["title"] == "test alert" and "resolved_at" not in acknowledged
    assert "mitigated_at" not in acknowledged

    # Derived: the same alert closed a minute after its acknowledgement.
    close = copy.deepcopy(fixture("webhook_acknowledge.json"))
    close["action"] = "Close"
    close["alert"]["updatedAt"] = 1420452284764002246
    closed = deliver(close)
    assert closed["resolved_at"] == "2015-01-05T10:04:44.764002Z"
    assert closed["acknowledged_at"] == "2015-01-05T10:03:44.764002Z"  # kept from before
    assert closed["opened_at"] == "2015-01-05T10:03:11.104000Z"

    unack = {**fixture("webhook_acknowledge.json"), "action": "UnAcknowledge"}  # derived
    assert "acknowledged_at" not in deliver(unack)


def test_webhook_bodies_that_are_not_incidents_map_to_none() -> None:
    note = {**fixture("webhook_acknowledge.json"), "action": "AddNote"}  # derived
    assert webhook_event(note, HOOKED) is None
    other_tag = OpsgenieMapping(services={"tag2": "checkout"}, alerts_tag="incident")
    assert webhook_event(fixture("webhook_create.json"), other_tag) is None
    no_tag = OpsgenieMapping(services={"tag2": "checkout"})
    assert webhook_event(fixture("webhook_create.json"), no_tag) is None
    unmapped = OpsgenieMapping(services={"web": "web"}, alerts_tag="tag1")
    mapped = webhook_event(fixture("webhook_create.json"), unmapped)
    assert mapped is not None and mapped.events == ()
    assert [s.incident for s in mapped.skipped] == [f"alert:{HOOK_ALERT_ID}"]
