"""PagerDuty REST API v2 reads: incidents in a time window and their log entries, paged.

Through ingest.http's policy (timeouts, retries on 429/5xx with backoff, injected clock), with
PagerDuty's own headers: `Authorization: Token token=<key>` and `Accept: application/json`.
Lists page by `offset`/`limit` and say `more`; PagerDuty refuses offsets past 10 000, so a window
holding more incidents is cut into smaller windows by the caller.
developer.pagerduty.com/docs/ZG9jOjExMDI5NTU4-pagination
developer.pagerduty.com/api-reference/9d0b4b12e36f9-list-incidents
The sync (sync.py) pages the incidents list itself, a cursor saved per page; it uses log_entries.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from ingest.http import Clock, RestClient, SourceUnavailable, SystemClock
from ingest.sources.pagerduty.mapper import Mapped, PagerDutyMapping, incident_event

API = "https://api.pagerduty.com"
LIMIT = 100
MAX_OFFSET = 10_000  # PagerDuty answers 400 past this offset (classic pagination)


def pagerduty_client(token: str, *, base_url: str = API, clock: Clock | None = None) -> RestClient:
    """A RestClient speaking PagerDuty's headers (the GitHub ones it sets are replaced)."""
    client = RestClient(base_url, token=None, clock=clock or SystemClock())
    client.session.headers.pop("X-GitHub-Api-Version", None)
    client.session.headers["Accept"] = "application/json"
    client.session.headers["Authorization"] = f"Token token={token}"
    return client


def _paged(
    client: RestClient, path: str, key: str, params: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    offset = 0
    while True:
        page = client.get(path, {**params, "limit": LIMIT, "offset": offset})
        data = page.data or {}
        yield from data.get(key) or []
        if not data.get("more"):
            return
        offset += LIMIT
        if offset >= MAX_OFFSET:
            raise SourceUnavailable(
                f"{path}: more than {MAX_OFFSET} {key} in one window; ask for a shorter one"
            )


def incidents(
    client: RestClient,
    *,
    since: datetime,
    until: datetime,
    service_ids: Sequence[str] = (),
) -> Iterator[dict[str, Any]]:
    """The incidents created in [since, until), oldest first, of the given services (all
    when none are given)."""
    params: dict[str, Any] = {
        "since": since.isoformat(),
        "until": until.isoformat(),
        "sort_by": "created_at:asc",
        "time_zone": "UTC",
    }
    if service_ids:
        params["service_ids[]"] = list(service_ids)
    return _paged(client, "/incidents", "incidents", params)


def log_entries(client: RestClient, incident_id: str) -> Iterator[dict[str, Any]]:
    """An incident's log entries (the overview: status changes, not every notification)."""
    return _paged(
        client,
        f"/incidents/{incident_id}/log_entries",
        "log_entries",
        {"is_overview": "true", "time_zone": "UTC"},
    )


def incidents_read(
    client: RestClient,
    mapping: PagerDutyMapping,
    *,
    since: datetime,
    until: datetime,
    service_ids: Sequence[str] = (),
) -> Mapped:
    """The window's incidents as events: log entries are fetched only for incidents of a
    mapped service (an unmapped one is skipped without a further call)."""
    events: list[dict[str, Any]] = []
    skipped = []
    for incident in incidents(client, since=since, until=until, service_ids=service_ids):
        if mapping.service_for(incident.get("service")) is None:
            skipped.extend(incident_event(incident, mapping).skipped)
            continue
        mapped = incident_event(incident, mapping, list(log_entries(client, incident["id"])))
        events.extend(mapped.events)
        skipped.extend(mapped.skipped)
    return Mapped(events=tuple(events), skipped=tuple(skipped))
