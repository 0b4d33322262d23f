"""CloudTrail through EventBridge: `POST /webhooks/cloudtrail[/<source>]`.

An EventBridge rule matching "AWS API Call via CloudTrail" (and console actions) targets an API
destination whose connection sends a header `X-Dora-Webhook-Token: <secret>` (API key
authorization); the secret's environment variable (DORA_CLOUDTRAIL_WEBHOOK_SECRET by default)
holds the same value. Each delivery is one EventBridge event whose `detail` is the CloudTrail
record. The policy is the other webhooks': the token is checked in constant time before the body
is parsed; over the body limit 413; a wrong or missing token 401 with nothing stored; the secret
or the mapping's configuration (DORA_CLOUDTRAIL_WEBHOOKS: `config`, a YAML file read by
ingest.sources.cloudtrail.config) missing 503. A verified delivery is stored raw first
(WebhookDelivery, keyed by the record's eventID, else the body's sha256: EventBridge retries are
no-ops), then mapped and recorded; a record the mapper skips is answered 200 with the reason.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from typing import Any

import yaml
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from dora.events import events_record
from dora.json_checks import MAX_DEPTH, json_problem
from ingest.models import WebhookDelivery
from ingest.sources.cloudtrail.config import CloudTrailConfigError, cloudtrail_mapping
from ingest.sources.cloudtrail.mapper import CloudTrailMapping, records_map, records_of
from ingest.sources.opsgenie.webhook import opsgenie_token_valid as token_valid
from ingest.webhooks import delivery_done, delivery_store

log = logging.getLogger(__name__)
PROVIDER = "cloudtrail"
DEFAULT_CLOUDTRAIL_SOURCE = "cloudtrail"
DEFAULT_SECRET_ENV = "DORA_CLOUDTRAIL_WEBHOOK_SECRET"  # noqa: S105 - a variable name
TOKEN_HEADER = "X-Dora-Webhook-Token"  # noqa: S105 - a header name


def _detail(message: str, status: int) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


def _mapping(path: str) -> CloudTrailMapping:
    with open(path, encoding="utf-8") as handle:
        return cloudtrail_mapping(yaml.safe_load(handle))


@csrf_exempt
@require_POST
def cloudtrail_webhook(
    request: HttpRequest, source: str = DEFAULT_CLOUDTRAIL_SOURCE
) -> JsonResponse:
    """Receive one EventBridge delivery of a CloudTrail record (see the module docstring)."""
    options = getattr(settings, "DORA_CLOUDTRAIL_WEBHOOKS", {}).get(source)
    if options is None:
        return _detail(
            f"No CloudTrail source named {source!r}: add it to DORA_CLOUDTRAIL_WEBHOOKS.", 404
        )
    secret_env = options.get("secret_env") or DEFAULT_SECRET_ENV
    secret = os.environ.get(secret_env, "")
    if not secret:
        return _detail(
            f"The webhook secret is not set: put it in the environment variable {secret_env} "
            f"(the value of the {TOKEN_HEADER} header the API destination's connection sends).",
            503,
        )
    limit = settings.DORA_MAX_BODY_BYTES
    body = request.read(limit + 1)
    if len(body) > limit:
        return _detail(f"The body is over {limit} bytes.", 413)
    if not token_valid(secret.encode(), request.headers.get(TOKEN_HEADER)):
        return _detail(f"Missing or wrong {TOKEN_HEADER}: check the connection's API key.", 401)
    try:
        mapping = _mapping(options.get("config") or "")
    except (OSError, CloudTrailConfigError, yaml.YAMLError) as exc:
        return _detail(f"The CloudTrail mapping cannot be read: {exc}", 503)
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _detail(f"The body is not valid JSON: {exc}.", 400)
    except RecursionError:
        return _detail(f"The body is nested deeper than {MAX_DEPTH} levels.", 400)
    if not isinstance(payload, dict):
        return _detail("The body must be a JSON object.", 400)
    if problem := json_problem(payload, nul=False):
        return _detail(f"The body cannot be stored: {problem}.", 400)
    records = records_of(payload)
    record: dict[str, Any] = (
        records[0] if len(records) == 1 and isinstance(records[0], dict) else {}
    )
    event_id = str(record.get("eventID") or "")[:200]
    delivery_id = event_id or hashlib.sha256(body).hexdigest()
    name = str(record.get("eventName") or payload.get("detail-type") or "")[:100]
    delivery, duplicate = delivery_store(PROVIDER, source, delivery_id, name, payload, action=name)
    if duplicate:
        return JsonResponse(
            {"detail": "Delivery already received.", "duplicate": True, "counts": delivery.counts},
            status=200,
        )
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
        return _detail("Stored, but it could not be normalized; it is kept for a retry.", 500)
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
