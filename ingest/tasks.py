"""Celery entry points, one line each: the work lives in dora.intake.events, ingest.sync and
ingest.schedule (which also explains the per-source schedule and the sync lease)."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from celery import shared_task
from django.db import transaction

from dora.health import task_send
from dora.intake.events import events_record
from ingest.http import SourceUnavailable
from ingest.schedule import source_sync_exclusive, sources_dispatch


@shared_task(acks_late=True)
def events_record_task(
    events: list[dict[str, Any]], source: str = "api", sent_by: str = "task:events_record"
) -> dict[str, int]:
    """Record a batch of normalized events (CONTRACT §1); returns the created/updated/... counts.

    Twice is harmless: events are upserted by (source, type, id), so a second run stores
    nothing new and counts them unchanged."""
    return dict(events_record(events, default_source=source, sent_by=sent_by).counts)


@shared_task(
    autoretry_for=(SourceUnavailable,),
    retry_backoff=30,
    retry_backoff_max=900,
    max_retries=6,
    acks_late=True,
)
def source_sync_task(source_id: int) -> dict[str, Any]:
    """Sync one source, unless another worker is (SourceRejected is kept, not retried).

    Twice is harmless: the source's lease lets one run at a time (the other is skipped), and
    cursors advance in the transaction that stores the rows, so a rerun resumes and upserts."""
    return source_sync_exclusive(source_id)


def source_sync_enqueue(source_id: int, *, queue: str | None = None) -> None:
    """Queue a sync once the current transaction commits (a failure to queue one, the broker
    being down, is logged and counted: the admin page or the dispatcher carries on)."""
    options = {"queue": queue} if queue else {}
    send = partial(task_send, source_sync_task, args=[source_id], **options)
    transaction.on_commit(send, robust=True)


@shared_task(acks_late=True)
def source_sync_dispatch_task(queue: str | None = None) -> list[int]:
    """Every minute (beat): queue a sync of each source whose interval has passed.

    Twice is harmless: a source is marked queued with a conditional UPDATE before it is
    queued, so a second run finds nothing due."""
    return sources_dispatch(
        now=datetime.now(UTC), enqueue=partial(source_sync_enqueue, queue=queue)
    )


@shared_task(
    autoretry_for=(SourceUnavailable,),
    retry_backoff=30,
    retry_backoff_max=900,
    max_retries=6,
    acks_late=True,
)
def terraform_run_version_task(source: str, run_id: str) -> dict[str, Any]:
    """Fill a notified HCP Terraform run's version from the API (a SourceRejected stops it).

    Twice is harmless: the fill re-reads the stored run and records it again unchanged."""
    from ingest.sources.terraform.versions import terraform_run_version_fill

    return terraform_run_version_fill(source, run_id).as_dict()
