"""PagerDuty webhook v3 intake: `X-PagerDuty-Signature` check, raw delivery stored, then events.

`POST /webhooks/pagerduty` (the source named `pagerduty`) and `POST /webhooks/pagerduty/<source>`,
with the policy of the GitHub webhook (ingest.webhooks): the signature is checked before the body
is parsed; a body over DORA_MAX_BODY_BYTES is a 413; a bad or missing signature a 401 with nothing
stored; the secret's environment variable unset a 503. A verified delivery is stored raw first,
keyed by the event's own `id`, so a redelivery is answered from the first one and never recorded
twice; event types the mapper does not read are answered 202 and kept raw.
Sources: the `sources:` entries of kind pagerduty (ingest.models.Source rows: their
webhook_secret_env, else DORA_PAGERDUTY_WEBHOOK_SECRET, and their services/urgency_severity),
then settings.DORA_PAGERDUTY_WEBHOOKS.
developer.pagerduty.com/docs/28e906a0bc4a0-verifying-signatures
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from dora.intake.events import events_record
from dora.json_checks import MAX_DEPTH, json_problem
from dora.models import RawEvent
from ingest.models import Source, WebhookDelivery
from ingest.sources.pagerduty.mapper import (
    HANDLED_EVENT_TYPES,
    PagerDutyMapping,
    Prior,
    webhook_event,
)
from ingest.webhooks import delivery_done, delivery_store

log = logging.getLogger(__name__)
PROVIDER = "pagerduty"
DEFAULT_PAGERDUTY_SOURCE = "pagerduty"
DEFAULT_SECRET_ENV = "DORA_PAGERDUTY_WEBHOOK_SECRET"  # noqa: S105 - a variable name
SIGNATURE_HEADER = "X-PagerDuty-Signature"


@dataclass(frozen=True)
class PagerDutyWebhookSource:
    """A PagerDuty source as the webhook sees it: its name, secret variable and mapping."""

    name: str
    secret_env: str
    options: Mapping[str, Any]

    def secret(self) -> bytes | None:
        value = os.environ.get(self.secret_env, "")
        return value.encode() if value else None

    def mapping(self) -> PagerDutyMapping:
        options = self.options
        extra = (
            {"urgency_severity": options["urgency_severity"]}
            if "urgency_severity" in options
            else {}
        )
        return PagerDutyMapping(
            services=dict(options.get("services") or {}),
            source=self.name,
            environment=options.get("environment") or None,
            **extra,
        )


def pagerduty_webhook_source(name: str) -> PagerDutyWebhookSource | None:
    """The named source: the `sources:` entry of kind pagerduty (its webhook_secret_env, else
    DORA_PAGERDUTY_WEBHOOK_SECRET, and its services/urgency_severity), else
    settings.DORA_PAGERDUTY_WEBHOOKS; None when neither has it."""
    row = (
        Source.objects.filter(kind=Source.Kind.PAGERDUTY, name=name)
        .values_list("webhook_secret_env", "incidents")
        .first()
    )
    if row is not None:
        secret_env, incidents = row
        return PagerDutyWebhookSource(
            name=name,
            secret_env=secret_env or DEFAULT_SECRET_ENV,
            options=incidents if isinstance(incidents, dict) else {},
        )
    options = getattr(settings, "DORA_PAGERDUTY_WEBHOOKS", {}).get(name)
    if options is None:
        return None
    return PagerDutyWebhookSource(
        name=name, secret_env=options.get("secret_env") or DEFAULT_SECRET_ENV, options=options
    )


def pagerduty_signature_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    """True when one of the header's comma-separated `v1=<hex>` values is HMAC-SHA256(secret,
    body). Several values come during a secret rotation; each is compared in constant time and
    all of them are compared, whichever matches."""
    if not header:
        return False
    expected = ("v1=" + hmac.new(secret, body, hashlib.sha256).hexdigest()).encode()
    matched = False
    for value in header.split(","):
        candidate = value.strip()
        if candidate.startswith("v1="):
            matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "replace"))
    return matched


def _stored_incident(source: str) -> Prior:
    def prior(event_id: str) -> dict[str, Any] | None:
        row = (
            RawEvent.objects.filter(source=source, type="incident", external_id=event_id)
            .values_list("payload", flat=True)
            .first()
        )
        return dict(row) if row else None

    return prior


def _detail(message: str, status: int) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


@csrf_exempt
@require_POST
def pagerduty_webhook(request: HttpRequest, source: str = DEFAULT_PAGERDUTY_SOURCE) -> JsonResponse:
    """Receive one PagerDuty webhook v3 delivery (see the module docstring)."""
    config = pagerduty_webhook_source(source)
    if config is None:
        return _detail(
            f"No PagerDuty source named {source!r}: add it to DORA_PAGERDUTY_WEBHOOKS.", 404
        )
    secret = config.secret()
    if secret is None:
        return _detail(
            f"The webhook secret is not set: put it in the environment variable "
            f"{config.secret_env} (the signing secret of the PagerDuty webhook subscription).",
            503,
        )
    limit = settings.DORA_MAX_BODY_BYTES
    body = request.read(limit + 1)
    if len(body) > limit:
        return _detail(f"The body is over {limit} bytes.", 413)
    if not pagerduty_signature_valid(secret, body, request.headers.get(SIGNATURE_HEADER)):
        return _detail(f"Missing or wrong {SIGNATURE_HEADER}: check the webhook's secret.", 401)
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _detail(f"The body is not valid JSON: {exc}.", 400)
    except RecursionError:
        return _detail(f"The body is nested deeper than {MAX_DEPTH} levels.", 400)
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), dict):
        return _detail('The body must be a JSON object with an "event" object (webhook v3).', 400)
    if problem := json_problem(payload, nul=False):
        return _detail(f"The body cannot be stored: {problem}.", 400)
    event = payload["event"]
    delivery_id, event_type = event.get("id"), event.get("event_type")
    if not isinstance(delivery_id, str) or not delivery_id:
        return _detail("event.id is required (it makes a redelivery a no-op).", 400)
    if not isinstance(event_type, str) or not event_type:
        return _detail("event.event_type is required.", 400)
    for name, value, column in (
        ("event.id", delivery_id, "delivery_id"),
        ("event.event_type", event_type, "event"),
    ):
        limit = WebhookDelivery._meta.get_field(column).max_length
        if len(value) > limit or "\x00" in value:
            return _detail(f"{name} is longer than {limit} characters or holds a NUL.", 400)

    delivery, duplicate = delivery_store(
        PROVIDER,
        config.name,
        delivery_id,
        event_type,
        payload,
        action=str(payload["event"].get("resource_type") or ""),
    )
    if duplicate:
        return JsonResponse(
            {"detail": "Delivery already received.", "duplicate": True, "counts": delivery.counts},
            status=200,
        )
    if event_type not in HANDLED_EVENT_TYPES:
        delivery_done(delivery, None)
        return JsonResponse(
            {
                "detail": f"Event {event_type!r} is not used; it is kept raw. Handled: "
                f"{', '.join(HANDLED_EVENT_TYPES)}.",
                "counts": None,
            },
            status=202,
        )
    try:
        mapped = webhook_event(payload, config.mapping(), _stored_incident(config.name))
        assert mapped is not None  # the type is handled
        report = events_record(
            list(mapped.events),
            default_source=config.name,
            sent_by=f"webhook:{config.name} delivery {delivery_id}",
        )
    except Exception as exc:  # kept raw with the reason; PagerDuty retries a failed delivery
        log.exception("pagerduty webhook %s (%s) could not be normalized", delivery_id, event_type)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(error=f"{type(exc).__name__}: {exc}")
        return _detail("Stored, but it could not be normalized; it is kept for a retry.", 500)
    counts = {**report.counts, "skipped": len(mapped.skipped)}
    delivery_done(delivery, counts)
    return JsonResponse(
        {
            "counts": counts,
            "items": [item.as_dict() for item in report.items],
            "skipped": [{"incident": s.incident, "reason": s.reason} for s in mapped.skipped],
        },
        status=200,
    )
