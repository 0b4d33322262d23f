"""One verified JSON delivery in, stored raw, mapped, recorded: the view body webhook-only
providers share (Argo CD, Flux), with the policy of ingest.webhooks.

Order (each step answers before the next runs): the secret's environment variable unset → 503;
a body over DORA_MAX_BODY_BYTES → 413; a failed check of the secret or signature → 401 with
nothing stored; a body that is not storable JSON → 400. A verified body is stored raw first
(`delivery_store`), keyed by the SHA-256 of its bytes: these providers send no delivery id, and
a retry resends the same bytes, so a redelivery is answered from the first (200, `duplicate`).
Then it is mapped: nothing to record (an event of a kind or reason the mapper does not read, an
object no pattern maps) → 202, kept raw, with the reasons; else the events are recorded
(dora.intake.events.events_record) → 200 with the per-item report. A mapping error → 500, the
delivery kept with the error for a retry. A receiver with a `lock` (Flux: its ids depend on
what is recorded) maps and records in one transaction that first takes the lock, so concurrent
deliveries read and write one after the other; a transaction a concurrent one aborts (a
deadlock with a derivation) is run again whole (dora.retry.atomic_retry); derivation follows
the commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from dora.intake import derive
from dora.intake.events import IntakeReport, events_record
from dora.json_checks import MAX_DEPTH, json_problem
from dora.retry import atomic_retry
from ingest.models import WebhookDelivery
from ingest.sources.mapping import Mapped
from ingest.webhooks import delivery_done, delivery_header_problem, delivery_store

log = logging.getLogger(__name__)

Verify = Callable[[bytes, bytes, HttpRequest], bool]  # (secret, body, request) -> authentic


@dataclass(frozen=True)
class Receiver:
    """What differs between providers: names, how a body is verified, labelled and mapped."""

    provider: str  # WebhookDelivery.provider: argocd | flux
    source: str  # the source name: the events' namespace
    secret_env: str  # the environment variable holding the shared secret
    verify: Verify
    auth_help: str  # the 401's message: which header to fix
    label: Callable[[Any], tuple[str, str]]  # payload -> (event, action) for the admin
    mapped: Callable[[Any], Mapped]  # payload -> events and skips
    # payload -> None, inside the recording's transaction before mapping: the locks that make
    # mapping (when it reads what is recorded) and recording one step
    lock: Callable[[Any], None] | None = None


def _detail(message: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"detail": message, **extra}, status=status)


def _secret(name: str) -> bytes | None:
    value = os.environ.get(name, "")
    return value.encode() if value else None


def json_delivery_receive(request: HttpRequest, receiver: Receiver) -> JsonResponse:
    """Receive one delivery for `receiver` (see the module docstring)."""
    secret = _secret(receiver.secret_env)
    if secret is None:
        return _detail(
            f"The webhook secret is not set: put it in the environment variable "
            f"{receiver.secret_env}.",
            503,
        )
    limit = settings.DORA_MAX_BODY_BYTES
    body = request.read(limit + 1)
    if len(body) > limit:
        return _detail(f"The body is over {limit} bytes.", 413)
    if not receiver.verify(secret, body, request):
        return _detail(receiver.auth_help, 401)
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _detail(f"The body is not valid JSON: {exc}.", 400)
    except RecursionError:
        return _detail(f"The body is nested deeper than {MAX_DEPTH} levels.", 400)
    if not isinstance(payload, dict | list):
        return _detail("The body must be a JSON object or a list of objects.", 400)
    if problem := json_problem(payload, nul=False):
        return _detail(f"The body cannot be stored: {problem}.", 400)
    event, action = receiver.label(payload)
    event = event[: WebhookDelivery._meta.get_field("event").max_length]
    delivery_id = "sha256:" + hashlib.sha256(body).hexdigest()
    if problem := delivery_header_problem([("The event label", event, "event")]):
        return _detail(problem, 400)
    stored = payload if isinstance(payload, dict) else {"items": payload}
    delivery, duplicate = delivery_store(
        receiver.provider, receiver.source, delivery_id, event, stored, action=action
    )
    if duplicate:
        return _detail("Delivery already received.", 200, duplicate=True, counts=delivery.counts)

    def record() -> tuple[Mapped, IntakeReport | None]:
        if receiver.lock:
            receiver.lock(payload)
        mapped = receiver.mapped(payload)
        if not mapped.events:
            return mapped, None
        report = events_record(
            list(mapped.events),
            default_source=receiver.source,
            sent_by=f"webhook:{receiver.source} delivery {delivery_id}",
            defer_derivation=receiver.lock is not None,
        )
        return mapped, report

    try:
        # With a lock: one transaction, run again whole when a concurrent one aborts it.
        mapped, report = atomic_retry(record) if receiver.lock else record()
    except Exception as exc:  # kept raw with the reason; the sender retries a 5xx
        log.exception("%s webhook %s could not be normalized", receiver.provider, delivery_id)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(error=f"{type(exc).__name__}: {exc}")
        return _detail("Stored, but it could not be normalized; it is kept for a retry.", 500)
    skipped = [{"object": s.incident, "reason": s.reason} for s in mapped.skipped]
    if report is None:
        delivery_done(delivery, None)
        return _detail(
            "Nothing in it is recorded; it is kept raw.", 202, counts=None, skipped=skipped
        )
    if receiver.lock:
        derive.pending_derive()
    counts = {**report.counts, "skipped": len(skipped)}
    delivery_done(delivery, counts)
    return JsonResponse(
        {
            "counts": counts,
            "items": [item.as_dict() for item in report.items],
            "skipped": skipped,
        },
        status=200,
    )
