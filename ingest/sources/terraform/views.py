"""`POST /webhooks/terraform[/<source>]`: HCP Terraform notifications, verified, stored raw,
recorded as automation runs (served by the registry's general webhook route).

The policy of the other webhooks (ingest.webhooks): the signature is checked before the body
is parsed; a body over DORA_MAX_BODY_BYTES is a 413; a bad or missing signature a 401 with
nothing stored; the token's variable unset a 503. A verified delivery is stored raw first,
keyed by its run, trigger and state time (the payload has no delivery id), so a redelivery is
answered from the first and never recorded twice. The "Send a test" verification answers 200
and maps nothing; other triggers the mapper does not read (auto-destroy reminders...) are
answered 202 and kept raw. When the source has an API token, a recorded run without a version
queues terraform_run_version_task (versions.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from dora.health import task_send
from dora.intake.events import events_record
from dora.json_checks import MAX_DEPTH, json_problem
from ingest.models import WebhookDelivery
from ingest.sources.terraform.config import DEFAULT_SOURCE, TerraformConfig
from ingest.sources.terraform.mapper import (
    HANDLED_TRIGGERS,
    VERIFICATION,
    delivery_key,
    notification_events,
    notification_trigger,
)
from ingest.sources.terraform.sources import terraform_source
from ingest.sources.terraform.webhook import SIGNATURE_HEADER, terraform_signature_valid
from ingest.webhooks import delivery_done, delivery_header_problem, delivery_store, stored_event

log = logging.getLogger(__name__)
PROVIDER = "terraform"


def _detail(message: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"detail": message, **extra}, status=status)


def _workspace(payload: dict[str, Any]) -> str:
    details = payload.get("details")
    name = payload.get("workspace_name") or (
        details.get("workspace_name") if isinstance(details, dict) else None
    )
    return str(name or "")


def _versions_enqueue(config: TerraformConfig, events: list[dict[str, Any]]) -> None:
    """Queue the version fill of each recorded run without a version, once committed."""
    if not config.token_env or not os.environ.get(config.token_env):
        return
    from ingest.tasks import terraform_run_version_task

    for event in events:
        if str(event["id"]).startswith("run-") and not event.get("version"):
            send = partial(task_send, terraform_run_version_task, args=[config.name, event["id"]])
            transaction.on_commit(send, robust=True)


@csrf_exempt
@require_POST
def terraform_webhook(request: HttpRequest, source: str | None = None) -> JsonResponse:
    """Receive one HCP Terraform notification (see the module docstring)."""
    name = source or DEFAULT_SOURCE
    try:
        config = terraform_source(name)
    except ValueError as exc:
        return _detail(f"The terraform source {name!r} is misconfigured: {exc}.", 503)
    if config is None:
        return _detail(
            f"No terraform source named {name!r}: add it to sources: (kind: terraform) and "
            "run apply_config.",
            404,
        )
    secret = os.environ.get(config.secret_env, "").encode()
    if not secret:
        return _detail(
            f"The notification token is not set: put it in the environment variable "
            f"{config.secret_env} (the token of the workspace's notification).",
            503,
        )
    limit = settings.DORA_MAX_BODY_BYTES
    body = request.read(limit + 1)
    if len(body) > limit:
        return _detail(f"The body is over {limit} bytes.", 413)
    if not terraform_signature_valid(secret, body, request.headers.get(SIGNATURE_HEADER)):
        return _detail(f"Missing or wrong {SIGNATURE_HEADER}: check the notification token.", 401)
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _detail(f"The body is not valid JSON: {exc}.", 400)
    except RecursionError:
        return _detail(f"The body is nested deeper than {MAX_DEPTH} levels.", 400)
    if not isinstance(payload, dict):
        return _detail("The body must be a JSON object (a generic notification).", 400)
    if problem := json_problem(payload, nul=False):
        return _detail(f"The body cannot be stored: {problem}.", 400)
    trigger = notification_trigger(payload)
    if trigger is None:
        return _detail("The body names no trigger (notifications[].trigger or trigger).", 400)
    delivery_id = delivery_key(payload) or "sha256:" + hashlib.sha256(body).hexdigest()
    if problem := delivery_header_problem(
        [("the delivery key", delivery_id, "delivery_id"), ("the trigger", trigger, "event")]
    ):
        return _detail(problem, 400)

    delivery, duplicate = delivery_store(
        PROVIDER, config.name, delivery_id, trigger, payload, action=_workspace(payload)
    )
    if duplicate:
        return JsonResponse(
            {"detail": "Delivery already received.", "duplicate": True, "counts": delivery.counts}
        )
    if trigger == VERIFICATION:
        delivery_done(delivery, None)
        return JsonResponse({"detail": "Verification received; nothing to record.", "counts": None})
    try:
        prior = stored_event(config.name)
        mapped = notification_events(payload, config, partial(prior, "automation_run"))
        if mapped is None:
            delivery_done(delivery, None)
            return JsonResponse(
                {
                    "detail": f"Trigger {trigger!r} is not used; it is kept raw. Handled: "
                    f"{', '.join(HANDLED_TRIGGERS)}.",
                    "counts": None,
                },
                status=202,
            )
        report = events_record(
            list(mapped.events),
            default_source=config.name,
            sent_by=f"webhook:{config.name} delivery {delivery_id}",
        )
    except Exception as exc:  # kept raw with the reason, for a retry
        log.exception("terraform notification %s (%s) not normalized", delivery_id, trigger)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(error=f"{type(exc).__name__}: {exc}")
        return _detail("Stored, but it could not be normalized; it is kept for a retry.", 500)
    counts = {**report.counts, "skipped": len(mapped.skipped)}
    delivery_done(delivery, counts)
    _versions_enqueue(config, list(mapped.events))
    return JsonResponse(
        {
            "counts": counts,
            "items": [item.as_dict() for item in report.items],
            "skipped": [{"run": s.incident, "reason": s.reason} for s in mapped.skipped],
        }
    )
