"""`POST /webhooks/github[/<source>]`: GitHub's deliveries, verified, stored raw, then mapped.

Reached through ingest.webhooks.source_webhook (the registry finds it by kind). The signature
(`X-Hub-Signature-256`, HMAC-SHA256 of the raw body with the source's secret) is checked
before the body is parsed; a bad or missing one gets 401 and nothing is stored. A verified
delivery is stored raw first, keyed by `X-GitHub-Delivery`, so a redelivery is answered from
the first one and never recorded twice; normalizing happens after, and a failure there keeps
the raw delivery (with the error) for a retry.
docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries
"""

from __future__ import annotations

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
from dora.models import Service
from ingest.models import Source, WebhookDelivery
from ingest.sources.github.mapper import GitHubMapping
from ingest.sources.github.webhook import (
    HANDLED_EVENTS,
    github_signature_valid,
    github_webhook_events,
)
from ingest.webhooks import (
    delivery_done,
    delivery_header_problem,
    delivery_store,
    stored_changes,
    stored_event,
)

log = logging.getLogger(__name__)
PROVIDER = "github"
DEFAULT_GITHUB_SOURCE = "github"
DEFAULT_SECRET_ENV = "DORA_GITHUB_WEBHOOK_SECRET"  # noqa: S105 - a variable name


@dataclass(frozen=True)
class GitHubWebhookSource:
    """A GitHub source as the webhook sees it: its name, secret variable and mapping options."""

    name: str
    secret_env: str
    options: Mapping[str, Any]

    def secret(self) -> bytes | None:
        value = os.environ.get(self.secret_env, "")
        return value.encode() if value else None

    def mapping(self) -> GitHubMapping:
        """The mapping, with the repository -> services map read from the services now."""
        services: dict[str, list[str]] = {}
        for name, repos in Service.objects.values_list("name", "repos"):
            for repo in repos or []:
                services.setdefault(repo, []).append(name)
        deployments = self.options.get("deployments") or {}
        incidents = self.options.get("incidents") or {}
        return GitHubMapping(
            source=self.name,
            services=services,
            deployments_from=tuple(deployments.get("from") or ("deployments_api",)),
            workflow_pattern=deployments.get("workflow_pattern"),
            tag_pattern=deployments.get("tag_pattern"),
            environments=dict(deployments.get("environments") or {}),
            release_environment=deployments.get("release_environment", "production"),
            incident_label=incidents.get("label") or "incident",
        )


def github_webhook_source(name: str) -> GitHubWebhookSource | None:
    """The named GitHub source: its Source row (apply_config, admin) when there is one, else
    settings.DORA_GITHUB_WEBHOOKS (the settings-only setup); None when neither has it."""
    row = (
        Source.objects.filter(name=name, kind=Source.Kind.GITHUB)
        .values("webhook_secret_env", "deployments", "incidents")
        .first()
    )
    if row is not None:
        return GitHubWebhookSource(
            name=name,
            secret_env=row["webhook_secret_env"] or DEFAULT_SECRET_ENV,
            options={"deployments": row["deployments"], "incidents": row["incidents"]},
        )
    options = settings.DORA_GITHUB_WEBHOOKS.get(name)
    if options is None:
        return None
    return GitHubWebhookSource(
        name=name,
        secret_env=options.get("secret_env") or DEFAULT_SECRET_ENV,
        options=options,
    )


@csrf_exempt  # also reached through ingest.webhooks.source_webhook, itself exempt
@require_POST
def github_webhook(request: HttpRequest, source: str = DEFAULT_GITHUB_SOURCE) -> JsonResponse:
    """Receive one GitHub delivery (see the module docstring)."""
    config = github_webhook_source(source)
    if config is None:
        return JsonResponse(
            {
                "detail": f"No GitHub source named {source!r}: add it under sources: "
                "(apply_config) or to DORA_GITHUB_WEBHOOKS."
            },
            status=404,
        )
    secret = config.secret()
    if secret is None:
        return JsonResponse(
            {
                "detail": f"The webhook secret is not set: put it in the environment variable "
                f"{config.secret_env} (the secret configured on the GitHub webhook)."
            },
            status=503,
        )
    limit = settings.DORA_MAX_BODY_BYTES
    body = request.read(limit + 1)
    if len(body) > limit:
        return JsonResponse({"detail": f"The body is over {limit} bytes."}, status=413)
    if not github_signature_valid(secret, body, request.headers.get("X-Hub-Signature-256")):
        return JsonResponse(
            {"detail": "Missing or wrong X-Hub-Signature-256: check the webhook's secret."},
            status=401,
        )
    event = request.headers.get("X-GitHub-Event", "")
    delivery_id = request.headers.get("X-GitHub-Delivery", "")
    if not event or not delivery_id:
        return JsonResponse(
            {"detail": "X-GitHub-Event and X-GitHub-Delivery headers are required."}, status=400
        )
    if problem := delivery_header_problem(
        (("X-GitHub-Event", event, "event"), ("X-GitHub-Delivery", delivery_id, "delivery_id"))
    ):
        return JsonResponse({"detail": problem}, status=400)
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return JsonResponse({"detail": f"The body is not valid JSON: {exc}."}, status=400)
    except RecursionError:
        return JsonResponse(
            {"detail": f"The body is nested deeper than {MAX_DEPTH} levels."}, status=400
        )
    if not isinstance(payload, dict):
        return JsonResponse({"detail": "The body must be a JSON object."}, status=400)
    # Stored as jsonb, which refuses NUL, NaN/Infinity and text that is not Unicode.
    if problem := json_problem(payload, nul=False):
        return JsonResponse({"detail": f"The body cannot be stored: {problem}."}, status=400)

    delivery, duplicate = delivery_store(PROVIDER, config.name, delivery_id, event, payload)
    if duplicate:
        return JsonResponse(
            {"detail": "Delivery already received.", "duplicate": True, "counts": delivery.counts},
            status=200,
        )
    if event not in HANDLED_EVENTS:
        delivery_done(delivery, None)
        return JsonResponse(
            {
                "detail": f"Event {event!r} is not used; handled: {', '.join(HANDLED_EVENTS)}.",
                "counts": None,
            },
            status=202,
        )
    try:
        mapping = config.mapping()
        events = (
            github_webhook_events(
                event,
                payload,
                mapping,
                stored_event(config.name),
                stored_changes(config.name),
            )
            or []
        )
        report = events_record(
            events,
            default_source=config.name,
            sent_by=f"webhook:{config.name} delivery {delivery_id}",
        )
    except Exception as exc:  # kept raw with the reason; GitHub shows the failure and can redeliver
        log.exception("github webhook %s (%s) could not be normalized", delivery_id, event)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(error=f"{type(exc).__name__}: {exc}")
        return JsonResponse(
            {"detail": "Stored, but it could not be normalized; it is kept for a retry."},
            status=500,
        )
    delivery_done(delivery, report.counts)
    return JsonResponse(
        {"counts": report.counts, "items": [item.as_dict() for item in report.items]}, status=200
    )
