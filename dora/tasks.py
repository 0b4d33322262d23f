"""Celery entry points of the domain core, one line each.

Every task may run twice (dora/settings.py: a task whose worker died is delivered again), so
each says why a second run is harmless.
"""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from dora.derive import pending_derive
from dora.digests import digests_send
from dora.web.snapshot_compute import snapshot_refresh, snapshots_prepare


@shared_task(acks_late=True)
def derive_pending_task() -> int:
    """Derive facts left pending (intake normally derives at once; this recovers leftovers).

    Twice is harmless: a pair's pending row is deleted in the transaction that derives it, so
    a second run finds it gone (or derives the same facts again from the same records)."""
    return pending_derive()


@shared_task(acks_late=True, ignore_result=True)  # queued by page views; nobody reads it
def snapshot_refresh_task(path: str, query: str, user_id: int | None) -> int:
    """Compute a dashboard page again and keep its snapshot (dora.web.snapshot_compute).

    Twice is harmless: it only reads facts and overwrites the page's snapshot."""
    return snapshot_refresh(path, query, user_id)


@shared_task(acks_late=True)
def snapshots_prepare_task() -> int:
    """Compute the organisation-wide dashboard pages whose facts changed (snapshot_compute).

    Twice is harmless: it only reads facts, and skips pages already prepared for them."""
    return snapshots_prepare()


@shared_task(acks_late=True)
def digests_send_task() -> int:
    """Send the weekly and monthly digests that are due and not yet sent (dora.digests).

    Twice is harmless: each digest is claimed by a unique DigestSent row in the transaction
    that sends it, so a second run (or a second worker) finds it sent and skips it."""
    if not settings.DORA_DIGESTS:
        return 0
    return len(digests_send(now=timezone.now()).sent)
