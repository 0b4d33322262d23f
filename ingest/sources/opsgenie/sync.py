"""Opsgenie sync: a source's incidents (and, with `alerts_tag`, its tagged alerts), page by page.

Reads (client.py's policy: timeouts, retries on 429/5xx with backoff), oldest first:
  GET /v1/incidents?query=createdAt >= <since ms> AND createdAt < <until ms>&sort=createdAt
      &order=asc&offset=&limit=
  GET /v2/alerts?query=tag: "<alerts_tag>" AND createdAt >= .. AND createdAt < ..&...  (optional)
Opsgenie's search selects by creation time and the list has no "changed since" filter that both
APIs document, so each stream works as the PagerDuty sync does: a pass reads the objects created
in [since, until); the next pass starts at the oldest one still open (an incident `open`, an alert
not `closed`), so an open one is read again on every pass until it is resolved; a pass with none
open moves `since` to its `until` less OVERLAP. Unmapped objects are skipped (counted), never
guessed. An incident's acknowledgement is not read: Opsgenie incidents have none (alerts do, in
their `report`); its resolution is on the object (`impactEndDate`), so no log is fetched.

Cursor protocol (ingest.models.SyncCursor, repo "", stream `incidents` / `alerts`): a pass fixes
its window [since, until) (until = now) and pages by `offset`; each page's events go through
`dora.intake.events.events_record` and only then is the cursor saved with the next page in
`resume_url` (`since=..&until=..&offset=..`) and the oldest open object so far in `oldest_open`. A
crash between the two re-reads the page (event ids are Opsgenie's: the same incidents are updated,
none added); a crash after it resumes at the next page. Offsets past MAX_OFFSET restart the window
at the newest `createdAt` read. The first pass starts `backfill_days` back. The lease is renewed
after every page through `progress`. Errors: 401/403/404 are SourceRejected, kept as `last_error`;
429/5xx beyond the client's retries are SourceUnavailable (the next run resumes from the cursor).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

from django.db import transaction

from dora.intake.derive import pending_derive
from ingest.http import Clock, Page, RestClient, SourceRejected, SystemClock
from ingest.models import Source, SyncCursor
from ingest.sources.base import Progress, SyncResult
from ingest.sources.mapping import Mapped
from ingest.sources.opsgenie.client import (
    API,
    LIMIT,
    MAX_OFFSET,
    alerts_page,
    incidents_page,
    opsgenie_client,
    page_items,
)
from ingest.sources.opsgenie.mapper import OpsgenieMapping, alert_event, incident_events

OVERLAP = timedelta(minutes=1)  # an object indexed a little late is still read next pass


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def source_mapping(source: Source) -> OpsgenieMapping:
    """The mapper's configuration from the row: `incidents` holds services, priority_severity
    and alerts_tag (ingest.config.source_fields)."""
    options = source.incidents if isinstance(source.incidents, dict) else {}
    return OpsgenieMapping(
        services=dict(options.get("services") or {}),
        source=source.name,
        environment=options.get("environment") or None,
        priority_severity=dict(options.get("priority_severity") or {}),
        alerts_tag=options.get("alerts_tag") or None,
    )


@dataclass(frozen=True)
class Stream:
    """One list the sync pages: how to ask a page, map an object, and tell it is still open."""

    name: str
    read: Callable[..., Page]
    map: Callable[[dict[str, Any]], Mapped]
    is_open: Callable[[dict[str, Any]], bool]


class OpsgenieSync:
    """The sync of one opsgenie source; `run()` reads its streams."""

    def __init__(
        self,
        source: Source,
        *,
        client: RestClient,
        now: datetime,
        progress: Progress | None = None,
        limit: int = LIMIT,
    ) -> None:
        self.source = source
        self.client = client
        self.now = now
        self.progress = progress
        self.limit = limit
        self.mapping = source_mapping(source)
        self.result = SyncResult()

    def streams(self) -> list[Stream]:
        mapping = self.mapping
        streams = [
            Stream(
                "incidents",
                incidents_page,
                lambda incident: incident_events(incident, mapping),
                lambda incident: incident.get("status") not in ("resolved", "closed"),
            )
        ]
        if mapping.alerts_tag:
            tag = mapping.alerts_tag

            def read_alerts(client: RestClient, **window: Any) -> Page:
                return alerts_page(client, tag=tag, **window)

            streams.append(
                Stream(
                    "alerts",
                    read_alerts,
                    lambda alert: alert_event(alert, mapping),
                    lambda alert: alert.get("status") != "closed",
                )
            )
        return streams

    def run(self) -> SyncResult:
        if not self.mapping.services:
            raise SourceRejected(
                f"Source {self.source.name!r} maps no Opsgenie service: add services: to it."
            )
        for stream in self.streams():
            self._stream_run(stream)
        self.result.http = self.client.stats.as_dict()
        return self.result

    def _stream_run(self, stream: Stream) -> None:
        cursor, _ = SyncCursor.objects.get_or_create(
            source=self.source, repo="", stream=stream.name
        )
        if cursor.resume_url:
            state = {k: v[0] for k, v in parse_qs(cursor.resume_url).items()}
            since, until = _time(state["since"]), _time(state["until"])
            offset = int(state["offset"])
        else:
            since = cursor.since or self.now - timedelta(days=self.source.backfill_days)
            until, offset = self.now, 0
            cursor.oldest_open = None
        while True:
            page = stream.read(
                self.client, since=since, until=until, offset=offset, limit=self.limit
            )
            items, more = page_items(page)
            more = more and len(items) >= self.limit
            events: list[dict[str, Any]] = []
            skipped = 0
            for item in items:
                mapped = stream.map(item)
                events.extend(mapped.events)
                skipped += len(mapped.skipped)
                created = _time(item["createdAt"])
                if mapped.events and stream.is_open(item):
                    cursor.oldest_open = min(filter(None, [cursor.oldest_open, created]))
                cursor.newest_seen = max(filter(None, [cursor.newest_seen, created]))
            self.result.record(
                events,
                source=self.source.name,
                now=self.now,
                stream=stream.name,
                objects=len(items),
            )
            self.result.objects["skipped"] = self.result.objects.get("skipped", 0) + skipped
            # The worst moment to stop: events stored, cursor not yet saved (re-read next time).
            if self.progress is not None:
                self.progress(
                    {"stream": stream.name, "objects": len(items), "offset": offset}
                    | self.client.stats.as_dict()
                )
            offset += self.limit
            if more and offset + self.limit > MAX_OFFSET and items:
                since, offset = _time(items[-1]["createdAt"]), 0  # see the module doc
            if more:
                cursor.resume_url = urlencode(
                    {"since": _iso(since), "until": _iso(until), "offset": offset}
                )
            else:
                cursor.since = min(filter(None, [cursor.oldest_open, until - OVERLAP]))
                cursor.resume_url = ""
                cursor.oldest_open = None
                cursor.synced_at = self.now
            with transaction.atomic():
                cursor.save()
            if not more:
                return


def opsgenie_source_sync(
    source: Source | str,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
    now: datetime | None = None,
    client: RestClient | None = None,
    limit: int = LIMIT,
) -> SyncResult:
    """Read an opsgenie source's incidents (and tagged alerts) into events; returns the counts.

    The key is read from the environment variable the source names (`token_env`). A refusal a
    human must fix (401/403/404) is kept on the source as `last_error` and raised as
    SourceRejected; what outlasts the client's retries is SourceUnavailable (a later run resumes).
    """
    if isinstance(source, str):
        source = Source.objects.get(name=source)
    clock = clock or SystemClock()
    now = now or datetime.fromtimestamp(clock.time(), UTC)
    client = client or opsgenie_client(
        os.environ.get(source.token_env, ""), base_url=source.base_url or API, clock=clock
    )
    try:
        result = OpsgenieSync(source, client=client, now=now, progress=progress, limit=limit).run()
    except SourceRejected as exc:
        Source.objects.filter(pk=source.pk).update(last_error=str(exc))
        raise
    Source.objects.filter(pk=source.pk).update(last_sync_at=now, last_error="")
    pending_derive()
    return result
