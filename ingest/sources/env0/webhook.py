"""env0 webhook intake: `x-env-zero-signature` checked, deliveries stored raw, deployment events
recorded as automation runs.

`POST /webhooks/env0/<source>` (the registry's route; `/webhooks/env0` is the source named
`env0`). env0 signs the body when the notification target has a secret
(docs.envzero.com/guides/integrations/notifications/webhooks, "Validating webhook deliveries"):
the hex HMAC-SHA256 digest of the body keyed by the secret, in `x-env-zero-signature` (the
page's example still names it `x-env0-signature`: both are read). The documented header value is
the bare hex digest; a `sha256=`-prefixed value (as in the page's code samples) is accepted too.
Compared in constant time before the body is parsed. The secret is in the source's
webhook_secret_env (default DORA_ENV0_WEBHOOK_SECRET); unset: 503. Wrong or missing: 401,
nothing stored. Over the body limit: 413.

A delivery is keyed by the envelope's `id` (a globally unique id of the request; env0 does not
retry, and a replay of the same id is answered from the first). Envelopes that carry no
deployment (the test event, budgets) are kept raw (202).
"""

from __future__ import annotations

import hashlib
import hmac

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ingest.sources.env0.mapper import deployment_events, is_deployment_event
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
from ingest.webhooks import delivery_header_problem, delivery_store

PROVIDER = "env0"
DEFAULT_SOURCE = "env0"
DEFAULT_SECRET_ENV = "DORA_ENV0_WEBHOOK_SECRET"  # noqa: S105 - a variable name
SIGNATURE_HEADERS = ("x-env-zero-signature", "x-env0-signature")


def env0_signature_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    """The header is the hex HMAC-SHA256(secret, body), bare or after `sha256=`; compared in
    constant time (case-insensitively: hex digits)."""
    if not header:
        return False
    given = header.strip().removeprefix("sha256=").lower()
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


@csrf_exempt
@require_POST
def env0_webhook(request: HttpRequest, source: str | None = None) -> JsonResponse:
    """Receive one env0 delivery (see the module docstring)."""
    config = stack_source(PROVIDER, source or DEFAULT_SOURCE, DEFAULT_SECRET_ENV)
    if not isinstance(config, StackSource):
        return config
    body = body_read(request)
    if not isinstance(body, bytes):
        return body
    secret = config.secret()
    assert secret is not None  # stack_source answered 503 otherwise
    header = next((v for h in SIGNATURE_HEADERS if (v := request.headers.get(h))), None)
    if not env0_signature_valid(secret, body, header):
        return detail(
            f"Missing or wrong {SIGNATURE_HEADERS[0]}: check the notification target's secret.",
            401,
        )
    payload = body_json(body)
    if not isinstance(payload, dict):
        return payload
    event_type = str(payload.get("type") or "")
    delivery_id = str(payload.get("id") or "") or "body:" + hashlib.sha256(body).hexdigest()
    if problem := delivery_header_problem(
        [("id", delivery_id, "delivery_id"), ("type", event_type, "event")]
    ):
        return detail(problem, 400)
    delivery, duplicate = delivery_store(
        PROVIDER, config.name, delivery_id, event_type, payload, action=event_type
    )
    if duplicate:
        return duplicate_answer(delivery)
    if not is_deployment_event(payload):
        return kept_raw(delivery, f"Event {event_type!r} carries no deployment.")
    return mapped_record(
        deployment_events(payload, config.rules, source=config.name), config, delivery
    )
