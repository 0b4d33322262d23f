"""CloudTrail through EventBridge: `POST /webhooks/cloudtrail[/<source>]` (the registry's
route; `/webhooks/cloudtrail` is the source named `cloudtrail`).

An EventBridge rule matching "AWS API Call via CloudTrail" (and console actions) targets an API
destination whose connection sends a header `X-Dora-Webhook-Token: <secret>` (API key
authorization); the source's webhook_secret_env (default DORA_CLOUDTRAIL_WEBHOOK_SECRET) names
the variable holding the same value. Each delivery is one EventBridge event whose `detail` is the
CloudTrail record. The policy is the other webhooks': no cloudtrail source of that name 404; its
secret's variable unset 503; the token is checked in constant time before the body is parsed;
over the body limit 413; a wrong or missing token 401 with nothing stored; the source's stored
mapping unreadable (a hand-edited row) 503. A verified delivery is stored raw first
(WebhookDelivery, keyed by the record's eventID, else the body's sha256: EventBridge retries are
no-ops), then mapped through the source's `pipeline_roles`, `accounts` and `ignored_sources` and
recorded; a record the mapper skips is answered 200 with the reason.
"""

from __future__ import annotations

import hashlib
import logging
import os
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from dora.intake.events import events_record
from ingest.models import Source, WebhookDelivery
from ingest.sources.cloudtrail.config import CloudTrailConfigError, cloudtrail_mapping
from ingest.sources.cloudtrail.mapper import records_map, records_of
from ingest.sources.opsgenie.webhook import opsgenie_token_valid as token_valid
from ingest.sources.stack_webhook import body_json, body_read, detail, duplicate_answer
from ingest.webhooks import delivery_done, delivery_store

log = logging.getLogger(__name__)
PROVIDER = "cloudtrail"
DEFAULT_CLOUDTRAIL_SOURCE = "cloudtrail"
DEFAULT_SECRET_ENV = "DORA_CLOUDTRAIL_WEBHOOK_SECRET"  # noqa: S105 - a variable name
TOKEN_HEADER = "X-Dora-Webhook-Token"  # noqa: S105 - a header name


@csrf_exempt
@require_POST
def cloudtrail_webhook(request: HttpRequest, source: str | None = None) -> JsonResponse:
    """Receive one EventBridge delivery of a CloudTrail record (see the module docstring)."""
    source = source or DEFAULT_CLOUDTRAIL_SOURCE
    row = (
        Source.objects.filter(kind=PROVIDER, name=source)
        .values_list("webhook_secret_env", "cloudtrail")
        .first()
    )
    if row is None:
        return detail(
            f"No cloudtrail source named {source!r}: add it to sources: (kind: cloudtrail) and "
            "run apply_config.",
            404,
        )
    secret_env = row[0] or DEFAULT_SECRET_ENV
    secret = os.environ.get(secret_env, "")
    if not secret:
        return detail(
            f"The webhook secret is not set: put it in the environment variable {secret_env} "
            f"(the value of the {TOKEN_HEADER} header the API destination's connection sends).",
            503,
        )
    body = body_read(request)
    if not isinstance(body, bytes):
        return body
    if not token_valid(secret.encode(), request.headers.get(TOKEN_HEADER)):
        return detail(f"Missing or wrong {TOKEN_HEADER}: check the connection's API key.", 401)
    try:
        mapping = cloudtrail_mapping(row[1], source)
    except CloudTrailConfigError as exc:
        return detail(f"The source's CloudTrail mapping is wrong: {exc}", 503)
    payload = body_json(body)
    if not isinstance(payload, dict):
        return payload
    records = records_of(payload)
    record: dict[str, Any] = (
        records[0] if len(records) == 1 and isinstance(records[0], dict) else {}
    )
    event_id = str(record.get("eventID") or "")[:200]
    delivery_id = event_id or hashlib.sha256(body).hexdigest()
    name = str(record.get("eventName") or payload.get("detail-type") or "")[:100]
    delivery, duplicate = delivery_store(PROVIDER, source, delivery_id, name, payload, action=name)
    if duplicate:
        return duplicate_answer(delivery)
    mapped = records_map(records, mapping)
    try:
        report = events_record(
            list(mapped.events),
            default_source=mapping.source,
            sent_by=f"webhook:{source} delivery {delivery_id}",
        )
    except Exception as exc:  # kept raw with the reason; EventBridge retries a failed delivery
        log.exception("cloudtrail webhook %s could not be normalized", delivery_id)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(error=f"{type(exc).__name__}: {exc}")
        return detail("Stored, but it could not be normalized; it is kept for a retry.", 500)
    counts = {**report.counts, "skipped": len(mapped.skipped)}
    delivery_done(delivery, counts)
    return JsonResponse(
        {
            "counts": counts,
            "items": [item.as_dict() for item in report.items],
            "skipped": [{"record": s.incident, "reason": s.reason} for s in mapped.skipped],
        },
        status=200,
    )
