"""PagerDuty incident JSON -> CONTRACT §1 `incident` events (pure: no database, no clock).

Two shapes come in: the REST API v2 incident object (optionally with its log entries, as
`GET /incidents/{id}/log_entries` or `include[]=log_entries` lists them) and the webhook v3
event body (`{"event": {"event_type": "incident.resolved", "occurred_at": ..., "data": {...}}}`).
developer.pagerduty.com/api-reference/9d0b4b12e36f9-list-incidents
developer.pagerduty.com/docs/db0fa8c8984fc-overview (webhooks v3)

Fields (CONTRACT §1 `incident`):
- `id`: the PagerDuty incident id (`Q3YON8WNWTZMRQ`), namespaced by the source (default
  `pagerduty`); a deployment's `remediates` names it as it is.
- `service`: the PagerDuty service's id, else its name, looked up in the caller's
  `services: {PXXXXXX: checkout}`; an incident of an unmapped service is skipped with a reason,
  never guessed from the name.
- `opened_at`: the incident's `created_at` (the trigger). `resolved_at`: the last
  `resolve_log_entry`, else `last_status_change_at`, while the status is `resolved`.
- `mitigated_at` is NOT set: CONTRACT §1 and METRICS §3.4 use it for "impact mitigated", and an
  acknowledgement only says someone is looking. The first acknowledgement is kept as
  `acknowledged_at`, an extra field (CONTRACT: fields may be added) no metric reads.
- `severity`: the priority's name when it is set, `P1`..`P5` (also `SEV-2`, `S3`, `1`) as
  `sev1`..`sev5`, any other name kept as it is (the gate counts an unknown severity as severe);
  without a priority, the urgency through `urgency_severity` (default high -> sev2, low -> sev4:
  a high-urgency page blocks the gate's default `sev2` threshold, a low one does not).
- `environment`: the mapping's `environment` when given, else absent (CONTRACT default: the
  production tier). `updated_at`: the webhook event's `occurred_at`; for a REST object its
  `updated_at` when present, else `last_status_change_at`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ingest.sources.mapping import Mapped, Skipped
from ingest.sources.mapping import utc_text as pagerduty_time

DEFAULT_SOURCE = "pagerduty"
DEFAULT_URGENCY_SEVERITY: Mapping[str, str] = {"high": "sev2", "low": "sev4"}
SEVERITY_MAX_LENGTH = 40  # CONTRACT §1 limits: severities are at most 40 characters
_PRIORITY_NUMBER = re.compile(r"^(?:sev|s|p|priority)?[\s_-]*([1-5])$", re.IGNORECASE)

# Webhook v3 incident event types this mapper reads; any other is kept raw and not mapped.
HANDLED_EVENT_TYPES = (
    "incident.triggered",
    "incident.acknowledged",
    "incident.unacknowledged",
    "incident.resolved",
    "incident.reopened",
    "incident.priority_updated",
    "incident.escalated",
    "incident.reassigned",
    "incident.delegated",
)

Prior = Callable[[str], dict[str, Any] | None]  # event id -> the incident event stored before


@dataclass(frozen=True)
class PagerDutyMapping:
    """What the caller's configuration says: the source name, PagerDuty service -> ours."""

    services: Mapping[str, str]
    source: str = DEFAULT_SOURCE
    environment: str | None = None
    urgency_severity: Mapping[str, str] = field(
        default_factory=lambda: dict(DEFAULT_URGENCY_SEVERITY)
    )

    def service_for(self, ref: Mapping[str, Any] | None) -> str | None:
        """Our service for a PagerDuty service reference: by its id, else its name."""
        ref = ref or {}
        for key in (ref.get("id"), ref.get("summary"), ref.get("name")):
            if key and key in self.services:
                return self.services[key]
        return None


def severity_of(incident: Mapping[str, Any], mapping: PagerDutyMapping) -> str | None:
    """The severity: the priority's name (normalized), else the urgency's (see module doc)."""
    priority = incident.get("priority") or {}
    name = str(priority.get("summary") or priority.get("name") or "").strip()
    if name:
        match = _PRIORITY_NUMBER.match(name)
        return f"sev{match.group(1)}" if match else name[:SEVERITY_MAX_LENGTH]
    urgency = incident.get("urgency")
    return mapping.urgency_severity.get(urgency) if urgency else None


def _entry_times(entries: Iterable[Mapping[str, Any]], kind: str) -> list[str]:
    return sorted(
        t
        for e in entries
        if e.get("type") == kind and (t := pagerduty_time(e.get("created_at"))) is not None
    )


def _unmapped(incident: Mapping[str, Any]) -> Skipped:
    service = incident.get("service") or {}
    return Skipped(
        incident=str(incident.get("id")),
        reason=(
            f"PagerDuty service {service.get('id')} ({service.get('summary')}) is not mapped "
            "to a service: add it under the source's services:"
        ),
    )


def _clean(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if v is not None}


def incident_event(
    incident: Mapping[str, Any],
    mapping: PagerDutyMapping,
    log_entries: Iterable[Mapping[str, Any]] | None = None,
) -> Mapped:
    """One REST API v2 incident object -> its incident event, or the reason it is skipped.

    `log_entries` defaults to the object's own `log_entries` (DevLake's raw rows carry them).
    """
    service = mapping.service_for(incident.get("service"))
    if service is None:
        return Mapped(skipped=(_unmapped(incident),))
    entries = list(log_entries if log_entries is not None else incident.get("log_entries") or [])
    acknowledged = _entry_times(entries, "acknowledge_log_entry") or sorted(
        t for a in incident.get("acknowledgements") or [] if (t := pagerduty_time(a.get("at")))
    )
    resolved_at = None
    if incident.get("status") == "resolved":
        resolves = _entry_times(entries, "resolve_log_entry")
        last_change = incident.get("last_status_change_at")
        resolved_at = resolves[-1] if resolves else pagerduty_time(last_change)
    event = {
        "type": "incident",
        "source": mapping.source,
        "id": str(incident["id"]),
        "service": service,
        "environment": mapping.environment,
        "title": incident.get("title") or incident.get("summary"),
        "severity": severity_of(incident, mapping),
        "opened_at": pagerduty_time(incident["created_at"]),
        "acknowledged_at": acknowledged[0] if acknowledged else None,
        "resolved_at": resolved_at,
        "updated_at": pagerduty_time(
            incident.get("updated_at") or incident.get("last_status_change_at")
        ),
    }
    return Mapped(events=(_clean(event),))


def incidents_events(incidents: Iterable[Mapping[str, Any]], mapping: PagerDutyMapping) -> Mapped:
    """Many REST incident objects (a sync page) -> their events and skips, in order."""
    events: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    for incident in incidents:
        one = incident_event(incident, mapping)
        events.extend(one.events)
        skipped.extend(one.skipped)
    return Mapped(events=tuple(events), skipped=tuple(skipped))


def _no_prior(event_id: str) -> None:
    return None


def webhook_event(
    body: Mapping[str, Any], mapping: PagerDutyMapping, prior: Prior = _no_prior
) -> Mapped | None:
    """A webhook v3 body -> the incident event it leaves, merged over the stored one (`prior`).

    None when its event type is not one of HANDLED_EVENT_TYPES. A webhook's incident carries
    no `created_at` in every payload version; then opened_at is the stored event's, or the
    `occurred_at` of an `incident.triggered`; without either the incident is skipped (a sync
    or its triggered event brings it), never given a guessed start.
    """
    event = body.get("event") or {}
    event_type = event.get("event_type")
    if event_type not in HANDLED_EVENT_TYPES:
        return None
    data = event.get("data") or {}
    occurred_at = pagerduty_time(event.get("occurred_at"))
    service = mapping.service_for(data.get("service"))
    if service is None:
        return Mapped(skipped=(_unmapped(data),))
    event_id = str(data["id"])
    stored = dict(prior(event_id) or {})
    opened_at = pagerduty_time(data.get("created_at")) or stored.get("opened_at")
    if opened_at is None and event_type == "incident.triggered":
        opened_at = occurred_at
    if opened_at is None:
        return Mapped(
            skipped=(
                Skipped(
                    incident=str(data["id"]),
                    reason=(
                        f"{event_type} for an incident never seen before, without created_at: "
                        "its start is unknown (its triggered event or a sync brings it)"
                    ),
                ),
            )
        )
    merged = {
        **stored,
        "type": "incident",
        "source": mapping.source,
        "id": event_id,
        "service": service,
        "environment": mapping.environment or stored.get("environment"),
        "title": data.get("title") or stored.get("title"),
        "severity": severity_of(data, mapping) or stored.get("severity"),
        "opened_at": opened_at,
        "updated_at": occurred_at,
    }
    if event_type == "incident.acknowledged" and occurred_at:
        merged["acknowledged_at"] = min(
            t for t in (stored.get("acknowledged_at"), occurred_at) if t
        )
    if data.get("status") == "resolved" or event_type == "incident.resolved":
        merged["resolved_at"] = stored.get("resolved_at") or occurred_at
    else:
        merged.pop("resolved_at", None)  # triggered again (reopened): not resolved any more
    return Mapped(events=(_clean(merged),))
