"""Opsgenie incident JSON -> CONTRACT §1 `incident` events (pure: no database, no clock).

Input: the incident objects of the Incident API (`GET /v1/incidents`, as DevLake stores them).
docs.opsgenie.com/docs/incident-api

Fields (CONTRACT §1 `incident`), one event per impacted service that the caller maps:
- `id`: `<Opsgenie incident id>@<our service>`, namespaced by the source (default `opsgenie`);
  an incident impacting two services is two incidents, as the GitHub adapter does for issues.
- `service`: each of `impactedServices` (Opsgenie service ids) looked up in the caller's
  `services: {<service id>: checkout}`; an unmapped one is skipped with a reason, never guessed.
- `title`: `message`. `severity`: `priority` P1..P5 as sev1..sev5 (any other value kept as is).
- `opened_at`: `createdAt`. `impact_started_at`: `impactStartDate`.
- `resolved_at`, while the status is `resolved` or `closed`: `impactEndDate` (set when the
  incident is resolved), else `updatedAt` (the last change: at or after the resolution).
- `mitigated_at` is not set: the object has no separate mitigation time (METRICS §3.4 then uses
  resolved_at). `updated_at`: `updatedAt`. `environment`: the mapping's, else absent.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ingest.sources.mapping import Mapped, Skipped
from ingest.sources.mapping import utc_text as opsgenie_time

DEFAULT_SOURCE = "opsgenie"
_PRIORITY = re.compile(r"^P([1-5])$", re.IGNORECASE)
SEVERITY_MAX_LENGTH = 40
RESOLVED_STATUSES = ("resolved", "closed")


@dataclass(frozen=True)
class OpsgenieMapping:
    """What the caller's configuration says: the source name, Opsgenie service id -> ours."""

    services: Mapping[str, str]
    source: str = DEFAULT_SOURCE
    environment: str | None = None


def severity_of(priority: Any) -> str | None:
    """P1..P5 -> sev1..sev5; another value kept (cut to 40 characters); none -> None."""
    if not priority:
        return None
    text = str(priority).strip()
    match = _PRIORITY.match(text)
    return f"sev{match.group(1)}" if match else text[:SEVERITY_MAX_LENGTH]


def incident_events(incident: Mapping[str, Any], mapping: OpsgenieMapping) -> Mapped:
    """One Incident API object -> one event per mapped impacted service, and the skips."""
    incident_id = str(incident["id"])
    impacted = list(dict.fromkeys(incident.get("impactedServices") or []))
    if not impacted:
        return Mapped(skipped=(Skipped(incident_id, "the incident names no impacted service"),))
    resolved_at = None
    if incident.get("status") in RESOLVED_STATUSES:
        resolved_at = opsgenie_time(incident.get("impactEndDate") or incident.get("updatedAt"))
    events: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    for service_id in impacted:
        service = mapping.services.get(service_id)
        if service is None:
            skipped.append(
                Skipped(
                    incident_id,
                    f"Opsgenie service {service_id} is not mapped to a service: add it under "
                    "the source's services:",
                )
            )
            continue
        event = {
            "type": "incident",
            "source": mapping.source,
            "id": f"{incident_id}@{service}",
            "service": service,
            "environment": mapping.environment,
            "title": incident.get("message"),
            "severity": severity_of(incident.get("priority")),
            "opened_at": opsgenie_time(incident["createdAt"]),
            "impact_started_at": opsgenie_time(incident.get("impactStartDate")),
            "resolved_at": resolved_at,
            "updated_at": opsgenie_time(incident.get("updatedAt")),
        }
        events.append({k: v for k, v in event.items() if v is not None})
    return Mapped(events=tuple(events), skipped=tuple(skipped))


def incidents_events(incidents: Iterable[Mapping[str, Any]], mapping: OpsgenieMapping) -> Mapped:
    """Many incident objects (a page of the list) -> their events and skips, in order."""
    events: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    for incident in incidents:
        one = incident_events(incident, mapping)
        events.extend(one.events)
        skipped.extend(one.skipped)
    return Mapped(events=tuple(events), skipped=tuple(skipped))
