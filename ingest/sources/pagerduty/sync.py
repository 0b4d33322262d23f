"""PagerDuty sync: a source's incidents, page by page, with one cursor (stream `incidents`).

Reads (REST API v2, client.py's policy: timeouts, retries on 429/5xx with backoff):
  GET /incidents?since=&until=&sort_by=created_at:asc&time_zone=UTC&service_ids[]=&limit=&offset=
  GET /incidents/{id}/log_entries?is_overview=true   (only for incidents of a mapped service)
PagerDuty's `since`/`until` select incidents by when they were CREATED (date_range), not by when
they last changed; there is no "updated since" filter. So the window of a pass starts at the
cursor's `since`, which never moves past the oldest incident still open when last read: an
open incident is read again on every pass until it is resolved (then its `resolved_at` is
recorded), and a resolved one is not read again (a later change to it, e.g. a new priority, comes
by webhook). A pass with every incident resolved moves `since` to its `until` less OVERLAP.

Cursor protocol (ingest.models.SyncCursor, repo "", stream "incidents"), so that a crash
anywhere loses nothing and duplicates nothing:
- A pass fixes its window [since, until) (until = now) and pages by `offset`, oldest first; a
  window closed at `until` keeps the offsets stable while the pass runs.
- Each page's events go through `dora.intake.events.events_record`; only then is the cursor saved
  with the next page in `resume_url` (`since=..&until=..&offset=..`) and the oldest open incident so
  far in `oldest_open`. A crash between the two re-reads the page (event ids are PagerDuty's: the
  same incidents are updated, none added); a crash after it resumes at the next page.
- PagerDuty refuses offsets past 10 000: a pass that gets there restarts its window at the
  newest `created_at` read (those incidents are read again, unchanged) with offset 0.
- The first pass starts `backfill_days` back. The lease is renewed after every page through
  `progress`, as the GitHub and GitLab syncs do.
Errors: 401/403/404 are SourceRejected, kept on the source as `last_error`; 429/5xx beyond the
client's retries are SourceUnavailable (the next run resumes from the cursor).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

from django.db import transaction

from dora.intake.derive import pending_derive
from ingest.http import Clock, RestClient, SourceRejected, SystemClock
from ingest.models import Source, SyncCursor
from ingest.sources.base import Progress, SyncResult
from ingest.sources.pagerduty.client import LIMIT, MAX_OFFSET, log_entries, pagerduty_client
from ingest.sources.pagerduty.mapper import PagerDutyMapping, incident_event

STREAM = "incidents"
OVERLAP = timedelta(minutes=1)  # an incident indexed a little late is still read next pass


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def source_mapping(source: Source) -> PagerDutyMapping:
    """The mapper's configuration from the row: `incidents` holds services/urgency_severity."""
    options = source.incidents if isinstance(source.incidents, dict) else {}
    extra = (
        {"urgency_severity": dict(options["urgency_severity"])}
        if options.get("urgency_severity")
        else {}
    )
    return PagerDutyMapping(
        services=dict(options.get("services") or {}),
        source=source.name,
        environment=options.get("environment") or None,
        **extra,
    )


class PagerDutySync:
    """The sync of one pagerduty source; `run()` reads its window of incidents."""

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

    def run(self) -> SyncResult:
        if not self.mapping.services:
            raise SourceRejected(
                f"Source {self.source.name!r} maps no PagerDuty service: add services: to it."
            )
        cursor, _ = SyncCursor.objects.get_or_create(source=self.source, repo="", stream=STREAM)
        if cursor.resume_url:
            state = {k: v[0] for k, v in parse_qs(cursor.resume_url).items()}
            since, until = _time(state["since"]), _time(state["until"])
            offset = int(state["offset"])
        else:
            since = cursor.since or self.now - timedelta(days=self.source.backfill_days)
            until, offset = self.now, 0
            cursor.oldest_open = None
        while True:
            page = self.client.get("/incidents", self._params(since, until, offset))
            data = page.data or {}
            incidents = list(data.get("incidents") or [])
            more = bool(data.get("more"))
            events: list[dict[str, Any]] = []
            skipped = 0
            for incident in incidents:
                entries = None
                if self.mapping.service_for(incident.get("service")) is not None:
                    entries = list(log_entries(self.client, incident["id"]))
                mapped = incident_event(incident, self.mapping, entries if entries else [])
                events.extend(mapped.events)
                skipped += len(mapped.skipped)
                created = _time(incident["created_at"])
                if mapped.events and incident.get("status") != "resolved":
                    cursor.oldest_open = min(filter(None, [cursor.oldest_open, created]))
                cursor.newest_seen = max(filter(None, [cursor.newest_seen, created]))
            self.result.record(
                events,
                source=self.source.name,
                now=self.now,
                stream=STREAM,
                objects=len(incidents),
            )
            self.result.objects["skipped"] = self.result.objects.get("skipped", 0) + skipped
            # The worst moment to stop: events stored, cursor not yet saved (re-read next time).
            if self.progress is not None:
                self.progress(
                    {"stream": STREAM, "objects": len(incidents), "offset": offset}
                    | self.client.stats.as_dict()
                )
            offset += self.limit
            if more and offset >= MAX_OFFSET and incidents:
                since, offset = _time(incidents[-1]["created_at"]), 0  # see the module doc
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
                self.result.http = self.client.stats.as_dict()
                return self.result

    def _params(self, since: datetime, until: datetime, offset: int) -> dict[str, Any]:
        return {
            "since": _iso(since),
            "until": _iso(until),
            "sort_by": "created_at:asc",
            "time_zone": "UTC",
            "service_ids[]": sorted(self.mapping.services),
            "limit": self.limit,
            "offset": offset,
        }


def pagerduty_source_sync(
    source: Source | str,
    *,
    progress: Progress | None = None,
    clock: Clock | None = None,
    now: datetime | None = None,
    client: RestClient | None = None,
    limit: int = LIMIT,
) -> SyncResult:
    """Read a pagerduty source's incidents into events (see the module doc); returns the counts.

    The token is read from the environment variable the source names. A refusal a human must
    fix (401/403/404) is kept on the source as `last_error` and raised as SourceRejected; what
    outlasts the client's retries is SourceUnavailable (a later run resumes).
    """
    if isinstance(source, str):
        source = Source.objects.get(name=source)
    clock = clock or SystemClock()
    now = now or datetime.fromtimestamp(clock.time(), UTC)
    client = client or pagerduty_client(
        os.environ.get(source.token_env, ""), base_url=source.base_url, clock=clock
    )
    try:
        result = PagerDutySync(source, client=client, now=now, progress=progress, limit=limit).run()
    except SourceRejected as exc:
        Source.objects.filter(pk=source.pk).update(last_error=str(exc))
        raise
    Source.objects.filter(pk=source.pk).update(last_sync_at=now, last_error="")
    pending_derive()
    return result
