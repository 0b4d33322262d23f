"""Celery entry points, one line each: the work lives in dora.events and ingest.sync."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from dora.events import events_record


@shared_task(acks_late=True)
def events_record_task(events: list[dict[str, Any]], source: str = "api") -> dict[str, int]:
    """Record a batch of normalized events (CONTRACT §1); returns the created/updated/... counts."""
    return dict(events_record(events, default_source=source).counts)
