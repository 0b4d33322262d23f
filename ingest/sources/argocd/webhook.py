"""Argo CD notifications intake: `POST /webhooks/argocd[/<source>]`, shared secret checked first.

The `service.webhook.dora` of docs/argocd/argocd-notifications-cm.yaml sends
`Authorization: Bearer <secret>` (a proxy that drops Authorization: `X-Dora-Webhook-Secret:
<secret>` instead); each candidate is compared in constant time. The rest is the shared
receiver's policy (ingest.sources.receiver): 503 without a secret, 413, 401 with nothing
stored, raw first, duplicate answered from the first, 202 for what is not recorded.
Sources: the `sources:` entries of kind argocd (their `webhook_secret_env`, default
DORA_ARGOCD_WEBHOOK_SECRET, and `stacks:` rules; ingest.sources.stack_webhook.stack_source);
POST /webhooks/argocd is the source named `argocd`.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from ingest.sources.argocd.mapper import ArgoCdMapping, given, payload_events
from ingest.sources.receiver import Receiver, json_delivery_receive
from ingest.sources.stack_webhook import stack_source

PROVIDER = "argocd"
DEFAULT_SOURCE = "argocd"
DEFAULT_SECRET_ENV = "DORA_ARGOCD_WEBHOOK_SECRET"  # noqa: S105 - a variable name
SECRET_HEADER = "X-Dora-Webhook-Secret"  # noqa: S105 - a header name


def argocd_secret_valid(secret: bytes, request: HttpRequest) -> bool:
    """True when `Authorization: Bearer <secret>` or X-Dora-Webhook-Secret holds the secret.
    Both are compared, in constant time, whichever matches."""
    authorization = request.headers.get("Authorization", "")
    scheme, _, token = authorization.partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" else ""
    matched = False
    for candidate in (bearer, request.headers.get(SECRET_HEADER, "").strip()):
        matched |= bool(candidate) and hmac.compare_digest(
            secret, candidate.encode("utf-8", "replace")
        )
    return matched


def _label(payload: Any) -> tuple[str, str]:
    """(event, action) for the admin: the first item's application and phase."""
    first = payload[0] if isinstance(payload, list) and payload else payload
    if not isinstance(first, Mapping):
        return "unknown", ""
    argo = first.get("argocd") if isinstance(first.get("argocd"), Mapping) else {}
    app = first.get("app") if isinstance(first.get("app"), Mapping) else first
    metadata = app.get("metadata") if isinstance(app.get("metadata"), Mapping) else {}
    state = (app.get("status") or {}) if isinstance(app.get("status"), Mapping) else {}
    operation = state.get("operationState") if isinstance(state, Mapping) else None
    phase = operation.get("phase") if isinstance(operation, Mapping) else None
    name = given(argo.get("application")) or given(metadata.get("name")) or "unknown"
    action = given(argo.get("phase")) or given(phase) or given(first.get("status")) or ""
    return str(name), str(action)


@csrf_exempt
@require_POST
def argocd_webhook(request: HttpRequest, source: str = DEFAULT_SOURCE) -> JsonResponse:
    """Receive one Argo CD notification (see the module docstring)."""
    found = stack_source(PROVIDER, source, DEFAULT_SECRET_ENV)
    if isinstance(found, JsonResponse):
        return found
    mapping = ArgoCdMapping(source=source, rules=found.rules)
    receiver = Receiver(
        provider=PROVIDER,
        source=source,
        secret_env=found.secret_env,
        verify=lambda secret, _body, req: argocd_secret_valid(secret, req),
        auth_help=(
            "Missing or wrong secret: send Authorization: Bearer <secret> (or "
            f"{SECRET_HEADER}) with the value of the source's secret variable."
        ),
        label=_label,
        mapped=lambda payload: payload_events(payload, mapping),
    )
    return json_delivery_receive(request, receiver)
