"""Opsgenie incident and alert JSON -> CONTRACT §1 `incident` events (pure: no database, no clock).

Input: the incident objects of the Incident API (`GET /v1/incidents`, as DevLake stores them),
the alert objects of the Alert API (`GET /v2/alerts`) and the Webhook integration's alert action
bodies, the last two only for alerts carrying the source's incident tag (`alerts_tag`).
docs.opsgenie.com/docs/incident-api, docs.opsgenie.com/docs/alert-api,
docs.opsgenie.com/docs/webhook-integration (and its "alert action data" samples)

Fields (CONTRACT §1 `incident`), one event per impacted service that the caller maps:
- `id`: `<Opsgenie incident id>@<our service>`, namespaced by the source (default `opsgenie`);
  an incident impacting two services is two incidents, as the GitHub adapter does for issues.
- `service`: each of `impactedServices` (Opsgenie service ids) looked up in the caller's
  `services: {<service id>: checkout}`; an unmapped one is skipped with a reason, never guessed.
- `title`: `message`. `severity`: `priority` through the mapping's `priority_severity` (default
  P1..P5 as sev1..sev5; any other value kept as is).
- `opened_at`: `createdAt`. `impact_started_at`: `impactStartDate`.
- `resolved_at`, while the status is `resolved` or `closed`: `impactEndDate` (set when the
  incident is resolved), else `updatedAt` (the last change: at or after the resolution).
- `mitigated_at` is not set: the object has no separate mitigation time (METRICS §3.4 then uses
  resolved_at). `updated_at`: `updatedAt`. `environment`: the mapping's, else absent.

An alert tagged `alerts_tag` (Alert API object or webhook body) is one incident, `alert:<alert id>`:
- `service`: the first of the alert's `tags`, then its `entity`, that the mapping's `services`
  names (an alert has no impacted services); none: skipped with a reason.
- `opened_at`: `createdAt`. REST: `acknowledged_at` is createdAt + `report.ackTime` (in
  milliseconds) and, once `status` is `closed`, `resolved_at` is createdAt + `report.closeTime`
  (else `updatedAt`).
  Webhook: `Acknowledge` sets `acknowledged_at`, `UnAcknowledge` clears it, `Close` sets
  `resolved_at`, each at the alert's `updatedAt` (the body gives it in nanoseconds, `createdAt` in
  milliseconds); other fields come from the body over the event stored before.
- `mitigated_at` is not set: an acknowledgement only says someone is looking (as for PagerDuty);
  `acknowledged_at` is an extra field no metric reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from ingest.sources.mapping import Mapped, Skipped
from ingest.sources.mapping import utc_text as opsgenie_time

DEFAULT_SOURCE = "opsgenie"
_PRIORITY = re.compile(r"^P([1-5])$", re.IGNORECASE)
SEVERITY_MAX_LENGTH = 40
RESOLVED_STATUSES = ("resolved", "closed")
PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
# Webhook alert actions that change the incident an alert is; any other is kept raw, not mapped.
HANDLED_ACTIONS = ("Create", "Acknowledge", "UnAcknowledge", "Close", "AddTags")
ALERT_PREFIX = "alert:"

Prior = Callable[[str], dict[str, Any] | None]  # event id -> the incident event stored before


@dataclass(frozen=True)
class OpsgenieMapping:
    """What the caller's configuration says: the source name, Opsgenie service id (or, for
    alerts, tag/entity) -> ours, priority -> severity, and the tag that makes an alert an
    incident (None: alerts are not incidents)."""

    services: Mapping[str, str]
    source: str = DEFAULT_SOURCE
    environment: str | None = None
    priority_severity: Mapping[str, str] = field(default_factory=dict)
    alerts_tag: str | None = None

    def severity(self, priority: Any) -> str | None:
        configured = self.priority_severity.get(str(priority or "").strip().upper())
        return configured or severity_of(priority)

    def alert_service(self, alert: Mapping[str, Any]) -> str | None:
        """Our service for an alert: its first tag, then its entity, that `services` names."""
        for key in [*(alert.get("tags") or []), alert.get("entity")]:
            if isinstance(key, str) and key in self.services:
                return self.services[key]
        return None

    def is_incident(self, alert: Mapping[str, Any]) -> bool:
        """The alert carries `alerts_tag` (in `tags`, or, when a body names them, among the
        comma-separated `addedTags` of an AddTags action)."""
        tags = list(alert.get("tags") or [])
        if isinstance(alert.get("addedTags"), str):
            tags += [tag.strip() for tag in alert["addedTags"].split(",")]
        return bool(self.alerts_tag) and self.alerts_tag in tags


def severity_of(priority: Any) -> str | None:
    """P1..P5 -> sev1..sev5; another value kept (cut to 40 characters); none -> None."""
    if not priority:
        return None
    text = str(priority).strip()
    match = _PRIORITY.match(text)
    return f"sev{match.group(1)}" if match else text[:SEVERITY_MAX_LENGTH]


def epoch_time(value: Any) -> str | None:
    """An epoch number as the webhook gives it (`createdAt` milliseconds, `updatedAt`
    nanoseconds: 1420452224764002246) as ISO 8601 UTC; the unit is read from its size."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    number = int(value)
    scale = 1 if number >= 10**17 else 1000 if number >= 10**14 else 1_000_000
    nanos = number * scale
    moment = datetime.fromtimestamp(nanos // 10**9, UTC) + timedelta(
        microseconds=(nanos % 10**9) // 1000
    )
    return opsgenie_time(moment.isoformat())


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
            "severity": mapping.severity(incident.get("priority")),
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


def _no_alert_service(alert_id: str) -> Skipped:
    return Skipped(
        f"{ALERT_PREFIX}{alert_id}",
        "the alert names no mapped service: tag it with (or set its entity to) a key of the "
        "source's services:",
    )


def _after(start: str | None, millis: Any) -> str | None:
    if start is None or millis is None or isinstance(millis, bool):
        return None
    moment = datetime.fromisoformat(start.replace("Z", "+00:00")) + timedelta(
        milliseconds=int(millis)
    )
    return opsgenie_time(moment.isoformat())


def alert_event(alert: Mapping[str, Any], mapping: OpsgenieMapping) -> Mapped:
    """One Alert API object (tagged as an incident) -> its incident event, or why it is skipped.
    An alert without the tag maps to nothing (neither event nor skip)."""
    if not mapping.is_incident(alert):
        return Mapped()
    alert_id = str(alert["id"])
    service = mapping.alert_service(alert)
    if service is None:
        return Mapped(skipped=(_no_alert_service(alert_id),))
    report = alert.get("report") or {}
    opened_at = opsgenie_time(alert["createdAt"])
    resolved_at = None
    if alert.get("status") == "closed":
        resolved_at = _after(opened_at, report.get("closeTime")) or opsgenie_time(
            alert.get("updatedAt")
        )
    event = {
        "type": "incident",
        "source": mapping.source,
        "id": f"{ALERT_PREFIX}{alert_id}",
        "service": service,
        "environment": mapping.environment,
        "title": alert.get("message"),
        "severity": mapping.severity(alert.get("priority")),
        "opened_at": opened_at,
        "acknowledged_at": _after(opened_at, report.get("ackTime"))
        if alert.get("acknowledged") or report.get("ackTime") is not None
        else None,
        "resolved_at": resolved_at,
        "updated_at": opsgenie_time(alert.get("updatedAt")),
    }
    return Mapped(events=({k: v for k, v in event.items() if v is not None},))


def alerts_events(alerts: Iterable[Mapping[str, Any]], mapping: OpsgenieMapping) -> Mapped:
    """Many alert objects (a page of the list) -> the events of those tagged as incidents."""
    events: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    for alert in alerts:
        one = alert_event(alert, mapping)
        events.extend(one.events)
        skipped.extend(one.skipped)
    return Mapped(events=tuple(events), skipped=tuple(skipped))


def _no_prior(event_id: str) -> None:
    return None


def webhook_event(
    body: Mapping[str, Any], mapping: OpsgenieMapping, prior: Prior = _no_prior
) -> Mapped | None:
    """A Webhook integration body -> the incident event its alert leaves, merged over the
    stored one (`prior`); None when it is not one (an action outside HANDLED_ACTIONS, or an
    alert without the incident tag): the caller keeps it raw."""
    action = body.get("action")
    alert = body.get("alert")
    if action not in HANDLED_ACTIONS or not isinstance(alert, Mapping):
        return None
    if not mapping.is_incident(alert):
        return None
    alert_id = str(alert.get("alertId") or "")
    if not alert_id:
        return None
    service = mapping.alert_service(alert)
    if service is None:
        return Mapped(skipped=(_no_alert_service(alert_id),))
    event_id = f"{ALERT_PREFIX}{alert_id}"
    event = dict(prior(event_id) or {})
    changed_at = epoch_time(alert.get("updatedAt"))
    event.update(
        {
            "type": "incident",
            "source": mapping.source,
            "id": event_id,
            "service": service,
            "opened_at": epoch_time(alert.get("createdAt")) or event.get("opened_at"),
            "updated_at": changed_at or event.get("updated_at"),
        }
    )
    if mapping.environment:
        event["environment"] = mapping.environment
    if alert.get("message"):
        event["title"] = alert["message"]
    if severity := mapping.severity(alert.get("priority")):
        event["severity"] = severity
    if action == "Acknowledge":
        event["acknowledged_at"] = changed_at
    elif action == "UnAcknowledge":
        event.pop("acknowledged_at", None)
    elif action == "Close":
        event["resolved_at"] = changed_at
    if event.get("opened_at") is None:
        return Mapped(skipped=(Skipped(event_id, f"{action} without the alert's createdAt"),))
    return Mapped(events=({k: v for k, v in event.items() if v is not None},))
