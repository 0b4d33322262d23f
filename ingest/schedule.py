"""Per-source sync scheduling: which sources are due, and a lease so one sync per source runs.

Beat runs `source_sync_dispatch_task` every minute (dora/settings.py); it queues a sync of each
source whose `interval` has passed since its last queued sync, so intervals are per source and
beat is never edited. A source whose last sync was rejected (bad token, missing permission:
`last_error`) waits at least REJECTED_RETRY between attempts: a human must fix it, and
retrying at the usual pace would only repeat the failure. A changed source (apply_config) and
"sync now" (admin) are due at once.

The lease: a sync first sets `sync_lease_until`/`sync_lease_owner` with one conditional UPDATE
(it succeeds only when no live lease exists), renews it after every page, and clears it when it
ends. Two workers given the same source never sync it at once; a worker that dies leaves a
lease that expires after LEASE_TTL, longer than the one-hour rate-limit window a sync may
sleep through between pages.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q

from ingest.http import Clock, SourceRejected, SystemClock
from ingest.models import Source
from ingest.progress import SyncTally
from ingest.sources.registry import providers
from ingest.sync import source_sync

log = logging.getLogger(__name__)
LEASE_TTL = timedelta(minutes=70)
REJECTED_RETRY = timedelta(hours=6)


def source_next_due(source: Source, *, now: datetime) -> datetime:
    """When the dispatcher will next queue a sync of the source (now when never queued)."""
    if source.sync_queued_at is None:
        return now
    wait = timedelta(seconds=source.interval_seconds)
    if source.last_error:
        wait = max(wait, REJECTED_RETRY)
    return source.sync_queued_at + wait


def sources_dispatch(*, now: datetime, enqueue: Callable[[int], Any]) -> list[int]:
    """Queue a sync (`enqueue(source_id)`) of every due source that is not syncing now.

    Each is marked queued with a conditional UPDATE first, so two dispatchers running at once
    queue a source once. Sources whose provider takes webhooks only (no sync) are left out; a
    kind no provider registered is queued, and its sync keeps why it failed as `last_error`.
    Returns the ids queued.
    """
    queued: list[int] = []
    live_lease = Q(sync_lease_until__gt=now)
    not_polled = [kind for kind, provider in providers().items() if provider.sync is None]
    due = Source.objects.exclude(live_lease).exclude(kind__in=not_polled)
    for source in due.order_by("pk"):
        if source_next_due(source, now=now) > now:
            continue
        marked = Source.objects.filter(pk=source.pk, sync_queued_at=source.sync_queued_at).update(
            sync_queued_at=now
        )
        if marked:
            enqueue(source.pk)
            queued.append(source.pk)
    return queued


def source_lease_acquire(source_id: int, owner: str, *, now: datetime) -> bool:
    """Take the source's sync lease; False when another live lease holds it."""
    free = Q(sync_lease_until__isnull=True) | Q(sync_lease_until__lte=now)
    taken = Source.objects.filter(free, pk=source_id).update(
        sync_lease_until=now + LEASE_TTL, sync_lease_owner=owner
    )
    return taken == 1


def source_lease_renew(source_id: int, owner: str, *, now: datetime, progress: str = "") -> None:
    """Hold the lease LEASE_TTL longer; `progress` is what the admin shows while it is held."""
    Source.objects.filter(pk=source_id, sync_lease_owner=owner).update(
        sync_lease_until=now + LEASE_TTL, sync_progress=progress[:300]
    )


def source_lease_release(source_id: int, owner: str) -> None:
    Source.objects.filter(pk=source_id, sync_lease_owner=owner).update(
        sync_lease_until=None, sync_lease_owner="", sync_progress=""
    )


def source_sync_exclusive(
    source_id: int,
    *,
    clock: Clock | None = None,
    progress: Callable[[dict[str, Any], SyncTally], None] | None = None,
) -> dict[str, Any]:
    """Sync the source unless another worker (or `manage.py sync`) is syncing it; a summary.

    After each page the lease is renewed with the page's progress text (the admin's Sources
    page shows it), then `progress(info, tally)` is called when given (the command's terminal
    display).

    `{"skipped": why}` when the source is gone or leased; `{"rejected": message}` when the
    source refused us (kept on the source as last_error for a human, never retried here);
    otherwise the sync's counts. SourceUnavailable (transient) propagates for a retry.
    """
    clock = clock or SystemClock()
    owner = uuid.uuid4().hex

    def now() -> datetime:
        return datetime.fromtimestamp(clock.time(), UTC)

    if not source_lease_acquire(source_id, owner, now=now()):
        exists = Source.objects.filter(pk=source_id).exists()
        why = "another sync of this source is running" if exists else "no such source"
        return {"skipped": why}
    tally = SyncTally()

    def renew(info: dict[str, Any]) -> None:
        tally.add(info)
        source_lease_renew(source_id, owner, now=now(), progress=tally.text(info))
        if progress is not None:
            progress(info, tally)

    try:
        source = Source.objects.get(pk=source_id)
        try:
            result = source_sync(source, clock=clock, progress=renew)
        except SourceRejected as exc:
            log.warning("source %s rejected the sync: %s", source.name, exc)
            return {"rejected": str(exc)}
    finally:
        source_lease_release(source_id, owner)
    return result.as_dict()
