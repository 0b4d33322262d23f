"""What the webhooks of IaC run sources (Atlantis, Spacelift, env0) share: the source, the body
read under the limit, the JSON checks, and recording a mapped delivery.

Each provider's view keeps its own verification and delivery key; these helpers answer the
common cases the same way: an unknown source 404, its secret's variable unset 503, a body over
DORA_MAX_BODY_BYTES 413, a body that is not a JSON object (or cannot be stored) 400.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse

from dora.intake.events import IntakeReport, events_record
from dora.json_checks import MAX_DEPTH, json_problem
from ingest.models import Source, WebhookDelivery
from ingest.sources.mapping import Mapped
from ingest.sources.stacks import StackRule, stack_rules, stack_rules_problems
from ingest.webhooks import delivery_done

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StackSource:
    """A configured source of kind atlantis/spacelift/env0 as its webhook sees it."""

    name: str
    kind: str
    secret_env: str
    rules: tuple[StackRule, ...]

    def secret(self) -> bytes | None:
        value = os.environ.get(self.secret_env, "")
        return value.encode() if value else None


def detail(message: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"detail": message, **extra}, status=status)


def stack_source(kind: str, name: str, default_secret_env: str) -> StackSource | JsonResponse:
    """The `sources:` entry of this kind and name, or the answer saying why there is none
    (404), or that its secret is not set (503)."""
    row = (
        Source.objects.filter(kind=kind, name=name)
        .values_list("webhook_secret_env", "stacks")
        .first()
    )
    if row is None:
        return detail(
            f"No {kind} source named {name!r}: add it to sources: (kind: {kind}) and run "
            "apply_config.",
            404,
        )
    secret_env, stacks = row
    if stack_rules_problems(stacks, "stacks"):
        stacks = []  # the admin's clean() refuses this; a hand-edited row maps nothing
    source = StackSource(
        name=name,
        kind=kind,
        secret_env=secret_env or default_secret_env,
        rules=stack_rules(stacks or []),
    )
    if source.secret() is None:
        return detail(
            f"The webhook secret is not set: put it in the environment variable "
            f"{source.secret_env}.",
            503,
        )
    return source


def body_read(request: HttpRequest) -> bytes | JsonResponse:
    """The raw body, or a 413 when it is over DORA_MAX_BODY_BYTES (read no further)."""
    limit = settings.DORA_MAX_BODY_BYTES
    body = request.read(limit + 1)
    if len(body) > limit:
        return detail(f"The body is over {limit} bytes.", 413)
    return body


def body_json(body: bytes) -> dict[str, Any] | JsonResponse:
    """The body as a JSON object that can be stored, or the 400 saying why not."""
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return detail(f"The body is not valid JSON: {exc}.", 400)
    except RecursionError:
        return detail(f"The body is nested deeper than {MAX_DEPTH} levels.", 400)
    if not isinstance(payload, dict):
        return detail("The body must be a JSON object.", 400)
    if problem := json_problem(payload, nul=False):
        return detail(f"The body cannot be stored: {problem}.", 400)
    return payload


def duplicate_answer(delivery: WebhookDelivery) -> JsonResponse:
    return JsonResponse(
        {"detail": "Delivery already received.", "duplicate": True, "counts": delivery.counts},
        status=200,
    )


def kept_raw(delivery: WebhookDelivery, why: str) -> JsonResponse:
    """A verified delivery the mapper does not read: closed with no counts, answered 202."""
    delivery_done(delivery, None)
    return JsonResponse({"detail": f"{why} It is kept raw.", "counts": None}, status=202)


def mapped_events_record(
    mapped: Mapped, source: StackSource, delivery: WebhookDelivery, **options: Any
) -> IntakeReport:
    """Record the mapped events as the source's webhook (options go to events_record)."""
    return events_record(
        list(mapped.events),
        default_source=source.name,
        sent_by=f"webhook:{source.name} delivery {delivery.delivery_id}",
        **options,
    )


def recorded_answer(
    mapped: Mapped, report: IntakeReport, delivery: WebhookDelivery
) -> JsonResponse:
    """Close the delivery with the intake's counts and answer the per-item report (200)."""
    counts = {**report.counts, "skipped": len(mapped.skipped)}
    delivery_done(delivery, counts)
    return JsonResponse(
        {
            "counts": counts,
            "items": [item.as_dict() for item in report.items],
            "skipped": [{"run": s.incident, "reason": s.reason} for s in mapped.skipped],
        },
        status=200,
    )


def failed_answer(source: StackSource, delivery: WebhookDelivery, exc: Exception) -> JsonResponse:
    """Keep the delivery with why it could not be recorded (a redelivery tries again): 500."""
    log.exception("%s webhook %s could not be normalized", source.kind, delivery.delivery_id)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(error=f"{type(exc).__name__}: {exc}")
    return detail("Stored, but it could not be normalized; it is kept for a retry.", 500)


def mapped_record(mapped: Mapped, source: StackSource, delivery: WebhookDelivery) -> JsonResponse:
    """Record the mapped events and close the delivery; an error keeps it with the reason."""
    try:
        report = mapped_events_record(mapped, source, delivery)
    except Exception as exc:  # kept raw with the reason for a retry
        return failed_answer(source, delivery, exc)
    return recorded_answer(mapped, report, delivery)
