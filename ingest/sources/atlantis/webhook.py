"""Atlantis webhook intake: a shared secret (basic auth, bearer or `?token=`), deliveries stored
raw, then apply and drift results recorded as automation runs.

`POST /webhooks/atlantis/<source>` (the registry's route; `/webhooks/atlantis` is the source
named `atlantis`). Atlantis signs nothing and sends no delivery id or time
(runatlantis.io/docs/sending-notifications-via-webhooks). It sends the headers given with
`--webhook-http-headers`, so the secret travels as HTTP basic auth (`Authorization: Basic
base64(<any user>:<secret>)`, the password is compared) or `Authorization: Bearer <secret>`;
where no header can be set, as the query parameter `?token=<secret>`. Each is compared in
constant time. The secret is in the source's webhook_secret_env (default
DORA_ATLANTIS_WEBHOOK_SECRET); unset: 503. Wrong or missing: 401, nothing stored. Over the body
limit: 413.

Delivery keys: a drift result by its `detection_id`; an apply result by the sha256 of its body
and the 10-minute window it arrived in (a byte-identical body in that window or the one before
is a redelivery, answered from the first; Atlantis itself does not retry). Bodies that are
neither are kept raw (202). The receipt time is each run's `finished_at`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from datetime import UTC, datetime

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ingest.models import WebhookDelivery
from ingest.sources.atlantis.mapper import APPLY, DRIFT, event_kind, webhook_events
from ingest.sources.opsgenie.webhook import opsgenie_token_valid as secret_equal
from ingest.sources.stack_webhook import (
    StackSource,
    body_json,
    body_read,
    detail,
    duplicate_answer,
    kept_raw,
    mapped_record,
    stack_source,
)
from ingest.webhooks import delivery_store

PROVIDER = "atlantis"
DEFAULT_SOURCE = "atlantis"
DEFAULT_SECRET_ENV = "DORA_ATLANTIS_WEBHOOK_SECRET"  # noqa: S105 - a variable name
TOKEN_PARAMETER = "token"  # noqa: S105 - a parameter name
REDELIVERY_WINDOW_SECONDS = 600
DELIVERY_ID_MAX = WebhookDelivery._meta.get_field("delivery_id").max_length


def atlantis_secret_given(authorization: str | None, query_token: str | None) -> list[str]:
    """The secrets a request offers: a basic auth password, a bearer token, a `token` query
    parameter (each one that is present)."""
    offered: list[str] = []
    scheme, _, value = (authorization or "").strip().partition(" ")
    if scheme.lower() == "basic" and value:
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        if ":" in decoded:
            offered.append(decoded.split(":", 1)[1])
    elif scheme.lower() == "bearer" and value:
        offered.append(value.strip())
    if query_token:
        offered.append(query_token)
    return offered


def atlantis_authorized(secret: bytes, offered: list[str]) -> bool:
    """True when one offered secret equals ours; every one is compared (constant time each)."""
    matched = False
    for value in offered:
        matched |= secret_equal(secret, value)
    return matched


def apply_delivery_ids(body: bytes, received_at: datetime) -> tuple[str, str]:
    """(this window's key, the previous window's) for an apply body received at received_at."""
    digest = hashlib.sha256(body).hexdigest()
    window = int(received_at.timestamp()) // REDELIVERY_WINDOW_SECONDS
    return f"apply:{digest}@{window}", f"apply:{digest}@{window - 1}"


@csrf_exempt
@require_POST
def atlantis_webhook(request: HttpRequest, source: str | None = None) -> JsonResponse:
    """Receive one Atlantis apply or drift delivery (see the module docstring)."""
    config = stack_source(PROVIDER, source or DEFAULT_SOURCE, DEFAULT_SECRET_ENV)
    if not isinstance(config, StackSource):
        return config
    body = body_read(request)
    if not isinstance(body, bytes):
        return body
    secret = config.secret()
    assert secret is not None  # stack_source answered 503 otherwise
    offered = atlantis_secret_given(
        request.headers.get("Authorization"), request.GET.get(TOKEN_PARAMETER)
    )
    if not atlantis_authorized(secret, offered):
        return detail(
            "Missing or wrong secret: send it as basic auth, a bearer token or ?token= "
            "(Atlantis --webhook-http-headers).",
            401,
        )
    payload = body_json(body)
    if not isinstance(payload, dict):
        return payload
    kind = event_kind(payload)
    now = datetime.now(UTC)
    if kind == APPLY:
        delivery_id, previous = apply_delivery_ids(body, now)
        earlier = WebhookDelivery.objects.filter(provider=PROVIDER, delivery_id=previous).first()
        if earlier is not None and earlier.processed_at is not None:
            return duplicate_answer(earlier)
    elif kind == DRIFT:
        delivery_id = f"drift:{payload.get('detection_id')}"
        if len(delivery_id) > DELIVERY_ID_MAX or "\x00" in delivery_id:
            return detail(f"detection_id is longer than {DELIVERY_ID_MAX - 6} characters.", 400)
    else:
        delivery_id = "other:" + hashlib.sha256(body).hexdigest()
    delivery, duplicate = delivery_store(
        PROVIDER, config.name, delivery_id, kind or "unknown", payload, action=kind or ""
    )
    if duplicate:
        return duplicate_answer(delivery)
    mapped = webhook_events(
        payload, config.rules, received_at=delivery.received_at, source=config.name
    )
    if mapped is None:
        return kept_raw(
            delivery, "Not an Atlantis apply or drift result (ApplyResult, DriftResult)."
        )
    return mapped_record(mapped, config, delivery)
