"""Opsgenie webhook intake: a shared-secret header checked in constant time, tagged alerts mapped.

`POST /webhooks/opsgenie` (the source named `opsgenie`) and `POST /webhooks/opsgenie/<source>`.
Opsgenie's Webhook integration signs nothing; it sends the custom headers it is given, so the
integration is set up with the header `X-Opsgenie-Token: <secret>` and the secret's environment
variable (the source's webhook_secret_env, else DORA_OPSGENIE_WEBHOOK_SECRET) holds the same
value. The policy is the GitHub and PagerDuty webhooks': the secret is checked before the body is
parsed; over the body limit 413; a wrong or missing token 401 with nothing stored; the variable
unset 503.

What that integration sends is alert activity (docs.opsgenie.com/docs/webhook-integration). A
verified delivery is stored raw first (WebhookDelivery, keyed by the sha256 of its body, as
Opsgenie sends no delivery id: a retry of the same body is a no-op answered from the first). An
alert action of HANDLED_ACTIONS on an alert carrying the source's `alerts_tag` becomes an incident
event (ingest.sources.opsgenie.mapper.webhook_event, merged over the stored event); any other
delivery (another action, an untagged alert, a source without `alerts_tag`) is kept raw, 202.
Sources: the `sources:` entries of kind opsgenie (ingest.models.Source rows: their
webhook_secret_env and their services/priority_severity/alerts_tag), then
settings.DORA_OPSGENIE_WEBHOOKS.
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
from ingest.models import Source, WebhookDelivery
from ingest.sources.opsgenie.mapper import HANDLED_ACTIONS, OpsgenieMapping, webhook_event
from ingest.webhooks import delivery_done, delivery_store, stored_event

log = logging.getLogger(__name__)
PROVIDER = "opsgenie"
DEFAULT_OPSGENIE_SOURCE = "opsgenie"
DEFAULT_SECRET_ENV = "DORA_OPSGENIE_WEBHOOK_SECRET"  # noqa: S105 - a variable name
TOKEN_HEADER = "X-Opsgenie-Token"  # noqa: S105 - a header name


@dataclass(frozen=True)
class OpsgenieWebhookSource:
    """An Opsgenie source as the webhook sees it: its name, secret variable and mapping."""

    name: str
    secret_env: str
    options: Mapping[str, Any]

    def mapping(self) -> OpsgenieMapping:
        options = self.options
        return OpsgenieMapping(
            services=dict(options.get("services") or {}),
            source=self.name,
            environment=options.get("environment") or None,
            priority_severity=dict(options.get("priority_severity") or {}),
            alerts_tag=options.get("alerts_tag") or None,
        )


def opsgenie_webhook_source(name: str) -> OpsgenieWebhookSource | None:
    """The named source: the `sources:` entry of kind opsgenie, else
    settings.DORA_OPSGENIE_WEBHOOKS; None when neither has it."""
    row = (
        Source.objects.filter(kind=Source.Kind.OPSGENIE, name=name)
        .values_list("webhook_secret_env", "incidents")
        .first()
    )
    if row is not None:
        secret_env, incidents = row
        return OpsgenieWebhookSource(
            name=name,
            secret_env=secret_env or DEFAULT_SECRET_ENV,
            options=incidents if isinstance(incidents, dict) else {},
        )
    options = getattr(settings, "DORA_OPSGENIE_WEBHOOKS", {}).get(name)
    if options is None:
        return None
    return OpsgenieWebhookSource(
        name=name, secret_env=options.get("secret_env") or DEFAULT_SECRET_ENV, options=options
    )


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
    config = opsgenie_webhook_source(source)
    if config is None:
        return _detail(
            f"No Opsgenie source named {source!r}: add it under sources: (kind opsgenie) or to "
            "DORA_OPSGENIE_WEBHOOKS.",
            404,
        )
    secret = os.environ.get(config.secret_env, "")
    if not secret:
        return _detail(
            f"The webhook secret is not set: put it in the environment variable "
            f"{config.secret_env} (the value of the {TOKEN_HEADER} header configured on the "
            "Opsgenie integration).",
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
    action = str(payload.get("action") or "")
    event_limit = WebhookDelivery._meta.get_field("event").max_length
    delivery, duplicate = delivery_store(
        PROVIDER,
        config.name,
        hashlib.sha256(body).hexdigest(),
        action[:event_limit].replace("\x00", ""),
        payload,
        action=action.replace("\x00", ""),
    )
    if duplicate:
        return JsonResponse(
            {"detail": "Delivery already received.", "duplicate": True, "counts": delivery.counts},
            status=200,
        )
    mapping = config.mapping()
    try:
        mapped = webhook_event(payload, mapping, lambda i: stored_event(config.name)("incident", i))
        if mapped is None:
            delivery_done(delivery, None)
            return JsonResponse({"detail": _kept_raw(action, mapping), "counts": None}, status=202)
        report = events_record(
            list(mapped.events),
            default_source=config.name,
            sent_by=f"webhook:{config.name} delivery {delivery.delivery_id[:12]}",
        )
    except Exception as exc:  # kept raw with the reason; Opsgenie retries a failed delivery
        log.exception("opsgenie webhook %s (%s) could not be normalized", delivery.pk, action)
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


def _kept_raw(action: str, mapping: OpsgenieMapping) -> str:
    if not mapping.alerts_tag:
        return (
            "Kept raw: this source has no alerts_tag, so alert activity is not an incident; "
            "incidents come from the Incident API (the sync)."
        )
    if action not in HANDLED_ACTIONS:
        return f"Kept raw: action {action!r} is not used. Handled: {', '.join(HANDLED_ACTIONS)}."
    return f"Kept raw: the alert does not carry the tag {mapping.alerts_tag!r}."
