"""`POST /webhooks/gitlab` and `/webhooks/gitlab/<source>`: token, raw delivery, then intake.

The GitHub endpoint's policy (ingest.webhooks) with GitLab's headers: the secret token
(`X-Gitlab-Token`) is checked before the body is read as JSON; a missing or wrong one gets 401
and nothing is stored; a body over DORA_MAX_BODY_BYTES gets 413. A verified delivery is stored
raw first, keyed by `X-Gitlab-Event-UUID`, so a redelivery is answered from the first one and
never recorded twice; an event type not handled is kept raw and answered 202; normalizing
happens after, and a failure there keeps the raw delivery (with the error) for a retry.

Sources: the `sources:` entries of kind gitlab (ingest.models.Source rows: their
webhook_secret_env, else DORA_GITLAB_WEBHOOK_SECRET, and their deployments/incidents), then
settings.DORA_GITLAB_WEBHOOKS (name -> {"secret_env": ..., "deployments": ..., "incidents": ...}),
by default one source `gitlab` whose secret is in DORA_GITLAB_WEBHOOK_SECRET; without the
variable the endpoint answers 503 naming it.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from dora.intake.events import events_record
from dora.json_checks import MAX_DEPTH, json_problem
from dora.models import Service
from ingest.models import Source, WebhookDelivery
from ingest.sources.gitlab.mapper import GitLabMapping
from ingest.sources.gitlab.webhook import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    HANDLED_EVENTS,
    TOKEN_HEADER,
    gitlab_token_valid,
    gitlab_webhook_events,
)
from ingest.webhooks import delivery_done, delivery_store, stored_changes, stored_event

log = logging.getLogger(__name__)
PROVIDER = "gitlab"
DEFAULT_GITLAB_SOURCE = "gitlab"
DEFAULT_SECRET_ENV = "DORA_GITLAB_WEBHOOK_SECRET"  # noqa: S105 - a variable name
ACTION_MAX_LENGTH = WebhookDelivery._meta.get_field("action").max_length


def gitlab_webhook_sources() -> Mapping[str, Mapping[str, Any]]:
    """The GitLab sources the endpoint accepts: the Source rows of kind gitlab over the
    settings' (else the one default source)."""
    configured = getattr(settings, "DORA_GITLAB_WEBHOOKS", None) or {
        DEFAULT_GITLAB_SOURCE: {"secret_env": DEFAULT_SECRET_ENV}
    }
    rows = {
        name: {"secret_env": secret_env or DEFAULT_SECRET_ENV, "deployments": d, "incidents": i}
        for name, secret_env, d, i in Source.objects.filter(kind=Source.Kind.GITLAB).values_list(
            "name", "webhook_secret_env", "deployments", "incidents"
        )
    }
    return {**configured, **rows}


def gitlab_mapping(name: str, options: Mapping[str, Any]) -> GitLabMapping:
    """The source's mapping, with the project -> services map read from the services now."""
    services: dict[str, list[str]] = {}
    for service, repos in Service.objects.values_list("name", "repos"):
        for repo in repos or []:
            services.setdefault(repo, []).append(service)
    deployments = options.get("deployments") or {}
    incidents = options.get("incidents") or {}
    return GitLabMapping(
        source=name,
        services=services,
        deployments_from=tuple(deployments.get("from") or ("deployments_api",)),
        tag_pattern=deployments.get("tag_pattern"),
        environments=dict(deployments.get("environments") or {}),
        release_environment=deployments.get("release_environment", "production"),
        incident_label=incidents.get("label") or "incident",
    )


def _answer(detail: str, status: int, **more: Any) -> JsonResponse:
    return JsonResponse({"detail": detail, **more}, status=status)


@csrf_exempt
@require_POST
def gitlab_webhook(request: HttpRequest, source: str = DEFAULT_GITLAB_SOURCE) -> JsonResponse:
    """Receive one GitLab delivery (see the module docstring)."""
    options = gitlab_webhook_sources().get(source)
    if options is None:
        return _answer(f"No GitLab source named {source!r}: add it to DORA_GITLAB_WEBHOOKS.", 404)
    secret_env = options.get("secret_env") or DEFAULT_SECRET_ENV
    secret = os.environ.get(secret_env, "")
    if not secret:
        return _answer(
            f"The webhook secret is not set: put it in the environment variable {secret_env} "
            "(the secret token configured on the GitLab webhook).",
            503,
        )
    limit = settings.DORA_MAX_BODY_BYTES
    body = request.read(limit + 1)
    if len(body) > limit:
        return _answer(f"The body is over {limit} bytes.", 413)
    if not gitlab_token_valid(secret, request.headers.get(TOKEN_HEADER)):
        return _answer(f"Missing or wrong {TOKEN_HEADER}: check the webhook's secret token.", 401)
    event = request.headers.get(EVENT_HEADER, "")
    delivery_id = request.headers.get(DELIVERY_HEADER, "")
    if not event or not delivery_id:
        return _answer(f"{EVENT_HEADER} and {DELIVERY_HEADER} headers are required.", 400)
    for header, value, column in (
        (EVENT_HEADER, event, "event"),
        (DELIVERY_HEADER, delivery_id, "delivery_id"),
    ):
        most = WebhookDelivery._meta.get_field(column).max_length
        if len(value) > most or "\x00" in value:
            return _answer(f"{header} is too long or holds a NUL (at most {most} characters).", 400)
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _answer(f"The body is not valid JSON: {exc}.", 400)
    except RecursionError:
        return _answer(f"The body is nested deeper than {MAX_DEPTH} levels.", 400)
    if not isinstance(payload, dict):
        return _answer("The body must be a JSON object.", 400)
    if problem := json_problem(payload, nul=False):
        return _answer(f"The body cannot be stored: {problem}.", 400)

    attrs = payload.get("object_attributes")
    action = (attrs.get("action") if isinstance(attrs, dict) else None) or payload.get("action")
    delivery, duplicate = delivery_store(
        PROVIDER, source, delivery_id, event, payload, action=str(action or "")
    )
    if duplicate:
        return _answer("Delivery already received.", 200, duplicate=True, counts=delivery.counts)
    if event not in HANDLED_EVENTS:
        delivery_done(delivery, None)
        return _answer(
            f"Event {event!r} is not used; handled: {', '.join(HANDLED_EVENTS)}.", 202, counts=None
        )
    try:
        events = (
            gitlab_webhook_events(
                event,
                payload,
                gitlab_mapping(source, options),
                stored_event(source),
                stored_changes(source),
            )
            or []
        )
        report = events_record(
            events, default_source=source, sent_by=f"webhook:{source} delivery {delivery_id}"
        )
    except Exception as exc:  # kept raw with the reason; GitLab shows the failure and can resend
        log.exception("gitlab webhook %s (%s) could not be normalized", delivery_id, event)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(error=f"{type(exc).__name__}: {exc}")
        return _answer("Stored, but it could not be normalized; it is kept for a retry.", 500)
    delivery_done(delivery, report.counts)
    return JsonResponse(
        {"counts": report.counts, "items": [item.as_dict() for item in report.items]}, status=200
    )
