"""Opsgenie webhook intake: a shared-secret header checked in constant time, deliveries kept raw.

`POST /webhooks/opsgenie` (the source named `opsgenie`) and `POST /webhooks/opsgenie/<source>`.
Opsgenie's Webhook integration signs nothing; it sends the custom headers it is given, so the
integration is set up with the header `X-Opsgenie-Token: <secret>` and the secret's environment
variable (DORA_OPSGENIE_WEBHOOK_SECRET by default) holds the same value. The policy is the GitHub
and PagerDuty webhooks': the secret is checked before the body is parsed; over the body limit 413;
a wrong or missing token 401 with nothing stored; the variable unset 503.

What that integration sends is alert activity (create, acknowledge, close ... of an alert), not
incidents (docs.opsgenie.com/docs/webhook-integration): a verified delivery is stored raw
(WebhookDelivery, keyed by the sha256 of its body, so a retry of the same body is a no-op) and
answered 202; incidents come from the Incident API objects (ingest.sources.opsgenie.mapper).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from dora.json_checks import MAX_DEPTH, json_problem
from ingest.models import WebhookDelivery

PROVIDER = "opsgenie"
DEFAULT_OPSGENIE_SOURCE = "opsgenie"
DEFAULT_SECRET_ENV = "DORA_OPSGENIE_WEBHOOK_SECRET"  # noqa: S105 - a variable name
TOKEN_HEADER = "X-Opsgenie-Token"  # noqa: S105 - a header name


def opsgenie_token_valid(secret: bytes, header: str | None) -> bool:
    """The header equals the secret; compared in constant time (digests, so the length of
    the secret does not show either)."""
    if not header:
        return False
    given = hashlib.sha256(header.strip().encode("utf-8", "replace")).digest()
    return hmac.compare_digest(hashlib.sha256(secret).digest(), given)


def _detail(message: str, status: int) -> JsonResponse:
    return JsonResponse({"detail": message}, status=status)


@csrf_exempt
@require_POST
def opsgenie_webhook(request: HttpRequest, source: str = DEFAULT_OPSGENIE_SOURCE) -> JsonResponse:
    """Receive one Opsgenie delivery (see the module docstring)."""
    options = getattr(settings, "DORA_OPSGENIE_WEBHOOKS", {}).get(source)
    if options is None:
        return _detail(
            f"No Opsgenie source named {source!r}: add it to DORA_OPSGENIE_WEBHOOKS.", 404
        )
    secret_env = options.get("secret_env") or DEFAULT_SECRET_ENV
    secret = os.environ.get(secret_env, "")
    if not secret:
        return _detail(
            f"The webhook secret is not set: put it in the environment variable {secret_env} "
            f"(the value of the {TOKEN_HEADER} header configured on the Opsgenie integration).",
            503,
        )
    limit = settings.DORA_MAX_BODY_BYTES
    body = request.read(limit + 1)
    if len(body) > limit:
        return _detail(f"The body is over {limit} bytes.", 413)
    if not opsgenie_token_valid(secret.encode(), request.headers.get(TOKEN_HEADER)):
        return _detail(f"Missing or wrong {TOKEN_HEADER}: check the integration's header.", 401)
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
    delivery_id = hashlib.sha256(body).hexdigest()
    event = str(payload.get("action") or "")[:100].replace("\x00", "")
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(
                provider=PROVIDER,
                delivery_id=delivery_id,
                source=source,
                event=event,
                payload=payload,
                received_at=datetime.now(UTC),
                processed_at=datetime.now(UTC),
            )
    except IntegrityError:
        return JsonResponse(
            {"detail": "Delivery already received.", "duplicate": True, "counts": None}, status=200
        )
    answer: dict[str, Any] = {
        "detail": "Kept raw: Opsgenie webhooks carry alert activity, not incidents; incidents "
        "come from the Incident API.",
        "counts": None,
    }
    return JsonResponse(answer, status=202)
