"""Celery entry points of the domain core, one line each.

Every task may run twice (dora/settings.py: a task whose worker died is delivered again), so
each says why a second run is harmless.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from dora.alerts.delivery import deliveries_overdue, delivery_attempt
from dora.alerts.evaluate import alerts_evaluate
from dora.alerts.trigger import Coalescer
from dora.digests import digests_send
from dora.health import task_send
from dora.intake.derive import pending_derive
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
def alerts_evaluate_task() -> dict[str, int]:
    """Every 5 minutes (beat): fire and clear alerts (dora.alerts.evaluate), and queue again
    the deliveries whose task was lost.

    Twice is harmless: evaluations take turns (an advisory lock) and the second finds every
    condition's state already recorded; a delivery is claimed before it is sent."""
    now = datetime.now(UTC)
    result = alerts_evaluate(now=now, enqueue=alert_deliveries_enqueue)
    overdue = deliveries_overdue(now=now)
    alert_deliveries_enqueue(overdue)
    return {"fired": len(result.fired), "cleared": len(result.cleared), "requeued": len(overdue)}


@shared_task(acks_late=True)
def alerts_gate_blocks_task() -> int:
    """Queued when the gate blocks a promotion: the blocked-promotion provider alone, so the
    pipeline's owners hear at once instead of at the next beat.

    Twice is harmless: a decision's alert fires once (its state is kept)."""
    gate_only = [p for p in settings.DORA_ALERT_PROVIDERS if p.endswith(".gate_blocks")]
    result = alerts_evaluate(
        now=datetime.now(UTC), providers=gate_only, enqueue=alert_deliveries_enqueue
    )
    return len(result.fired)


@shared_task(acks_late=True, ignore_result=True)
def alert_deliver_task(delivery_id: int) -> str:
    """Send one alert delivery (dora.alerts.delivery); after a failure that may pass, queue
    itself again for the next attempt (30 s, 2 min, 8 min, 15 min by default).

    Twice is harmless: a delivery is claimed (pending and due) before it is sent."""
    delivery = delivery_attempt(delivery_id, now=datetime.now(UTC))
    if delivery is None:
        return "skipped"
    if delivery.status == delivery.Status.PENDING and delivery.next_attempt_at is not None:
        wait = (delivery.next_attempt_at - datetime.now(UTC)).total_seconds()
        task_send(alert_deliver_task, args=[delivery_id], countdown=max(0.0, wait))
    return str(delivery.status)


def alert_deliveries_enqueue(ids: Sequence[int]) -> None:
    """One task per delivery, so a receiver that hangs or fails delays no other delivery."""
    for delivery_id in ids:
        task_send(alert_deliver_task, args=[delivery_id])


# Queues alerts_gate_blocks_task from a thread of its own (dora.alerts.trigger): the gate's
# request only wakes it.
_gate_blocks_trigger = Coalescer(
    lambda: task_send(alerts_gate_blocks_task), name="dora-alerts-gate-trigger"
)


def alerts_gate_block_enqueue() -> None:
    """After the gate answered "blocked": have a worker evaluate blocked promotions once the
    decision is committed. The request neither sends nor queues anything itself (it wakes a
    background thread that queues the task); with no broker (eager tasks: a laptop, where beat
    finds the block) it does nothing, rather than evaluate inside the gate's request."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    transaction.on_commit(_gate_blocks_trigger.wake, robust=True)


@shared_task(acks_late=True)
def digests_send_task() -> int:
    """Send the weekly and monthly digests that are due and not yet sent (dora.digests).

    Twice is harmless: each digest is claimed by a unique DigestSent row in the transaction
    that sends it, so a second run (or a second worker) finds it sent and skips it."""
    if not settings.DORA_DIGESTS:
        return 0
    return len(digests_send(now=timezone.now()).sent)
