"""Opsgenie mapper, field by field on DevLake's `_raw_opsgenie_incidents.csv` (two incidents of
service 695bce3d-..., read by hand: #1 open P3, #2 resolved P5 with an impact end date)."""

from __future__ import annotations

import csv
import json
from typing import Any

import pytest

from ingest.sources.opsgenie.mapper import (
    OpsgenieMapping,
    Skipped,
    incident_events,
    incidents_events,
    opsgenie_time,
    severity_of,
)
from tests.shared import shared_fixture

SERVICE = "695bce3d-4621-4630-8ae1-24eb89c22d6e"
MAPPING = OpsgenieMapping(services={SERVICE: "checkout"})


def raw_incidents() -> list[dict[str, Any]]:
    with shared_fixture("opsgenie", "_raw_opsgenie_incidents.csv").open() as f:
        return [json.loads(row["data"]) for row in csv.DictReader(f)]


def test_open_incident() -> None:
    mapped = incident_events(raw_incidents()[0], MAPPING)
    assert mapped.skipped == ()
    assert mapped.events == (
        {
            "type": "incident",
            "source": "opsgenie",
            "id": "3a74524a-f492-4172-b3f5-6041c7cb404a@checkout",
            "service": "checkout",
            "title": "Incident#1",
            "severity": "sev3",
            "opened_at": "2023-09-06T14:30:56.346000Z",
            "impact_started_at": "2023-09-06T14:30:56.346000Z",
            "updated_at": "2023-09-06T14:30:57.035000Z",
        },
    )


def test_resolved_incident() -> None:
    (event,) = incident_events(raw_incidents()[1], MAPPING).events
    assert event["id"] == "3f84e009-7548-4e7d-832a-fa82c1ceb6b1@checkout"
    assert event["title"] == "Incident#2"
    assert event["severity"] == "sev5"
    assert event["opened_at"] == "2023-09-05T18:20:28.003000Z"
    assert event["impact_started_at"] == "2023-09-05T18:20:28.003000Z"
    assert event["resolved_at"] == "2023-09-05T18:21:21.490000Z"  # impactEndDate
    assert "mitigated_at" not in event


def test_resolved_without_impact_end_uses_the_last_change() -> None:
    incident = {k: v for k, v in raw_incidents()[1].items() if k != "impactEndDate"}
    incident["updatedAt"] = "2023-09-05T19:00:00Z"
    (event,) = incident_events(incident, MAPPING).events
    assert event["resolved_at"] == "2023-09-05T19:00:00Z"
    closed = dict(raw_incidents()[1], status="closed")
    assert incident_events(closed, MAPPING).events[0]["resolved_at"] == (
        "2023-09-05T18:21:21.490000Z"
    )


def test_unmapped_service_is_skipped_with_a_reason() -> None:
    mapped = incidents_events(raw_incidents(), OpsgenieMapping(services={}))
    assert mapped.events == ()
    assert mapped.skipped == tuple(
        Skipped(
            i,
            f"Opsgenie service {SERVICE} is not mapped to a service: add it under the "
            "source's services:",
        )
        for i in ("3a74524a-f492-4172-b3f5-6041c7cb404a", "3f84e009-7548-4e7d-832a-fa82c1ceb6b1")
    )


def test_one_event_per_mapped_impacted_service() -> None:
    incident = dict(raw_incidents()[0], impactedServices=[SERVICE, "other", "third", SERVICE])
    mapping = OpsgenieMapping(
        services={SERVICE: "checkout", "third": "web"}, source="og", environment="prod"
    )
    mapped = incident_events(incident, mapping)
    assert [(e["id"], e["service"], e["source"], e["environment"]) for e in mapped.events] == [
        ("3a74524a-f492-4172-b3f5-6041c7cb404a@checkout", "checkout", "og", "prod"),
        ("3a74524a-f492-4172-b3f5-6041c7cb404a@web", "web", "og", "prod"),
    ]
    assert [s.reason.split(" is ")[0] for s in mapped.skipped] == ["Opsgenie service other"]
    no_service = incident_events(dict(incident, impactedServices=[]), mapping)
    assert no_service.events == () and "no impacted service" in no_service.skipped[0].reason


@pytest.mark.parametrize(
    ("priority", "expected"),
    [("P1", "sev1"), ("p4", "sev4"), ("P5", "sev5"), ("urgent", "urgent"), (None, None)],
)
def test_severity(priority: str | None, expected: str | None) -> None:
    assert severity_of(priority) == expected


def test_times() -> None:
    assert opsgenie_time("2023-09-05T18:21:21.49Z") == "2023-09-05T18:21:21.490000Z"
    assert opsgenie_time(None) is None
    with pytest.raises(ValueError, match="without a zone"):
        opsgenie_time("2023-09-05T18:21:21")
