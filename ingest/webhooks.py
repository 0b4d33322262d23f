"""Webhook intake: `POST /webhooks/<kind>[/<source>]` to the provider's view, and what they share.

The provider is found by `kind` in ingest.sources.registry; its view verifies the delivery
(signature first, nothing stored on a bad one), stores it raw (`delivery_store`, keyed by the
provider's delivery id so a redelivery is answered from the first), maps it and records the
events (dora.intake.events.events_record). An unknown kind, or one that takes no webhooks, is a 404
naming the kinds that do. URL patterns listed before the generic ones win (an explicit
`webhooks/<kind>` line for one provider is harmless).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from dora.models import Change, ChangeCommit, RawEvent
from ingest.models import WebhookDelivery
from ingest.sources.github.webhook import github_signature_valid
from ingest.sources.landing import ChangesOf
from ingest.sources.registry import providers

__all__ = [
    "delivery_done",
    "delivery_header_problem",
    "delivery_store",
    "github_signature_valid",
    "source_webhook",
    "stored_event",
]
ACTION_MAX_LENGTH = WebhookDelivery._meta.get_field("action").max_length


def __getattr__(name: str) -> Any:
    """`github_webhook`, once defined here: the GitHub view, imported on first use (it imports
    this module's helpers, so a module-level import would be circular)."""
    if name == "github_webhook":
        from ingest.sources.github.views import github_webhook

        return github_webhook
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@csrf_exempt
def source_webhook(request: HttpRequest, provider: str, source: str | None = None) -> HttpResponse:
    """Hand the delivery to the view of the provider of kind `provider` (see the module doc)."""
    with_webhooks = {kind: p for kind, p in providers().items() if p.webhook is not None}
    found = with_webhooks.get(provider)
    if found is None or found.webhook is None:
        return JsonResponse(
            {
                "detail": f"No webhook provider {provider!r}; known: "
                f"{', '.join(with_webhooks) or 'none'} (POST /webhooks/<provider>[/<source>])."
            },
            status=404,
        )
    return found.webhook(request, source)


def stored_event(source: str) -> Any:
    """A lookup of the source's stored event payloads by (type, id), for merging handlers."""

    def prior(etype: str, event_id: str) -> dict[str, Any] | None:
        row = (
            RawEvent.objects.filter(source=source, type=etype, external_id=event_id)
            .values_list("payload", flat=True)
            .first()
        )
        return dict(row) if row else None

    return prior


def stored_changes(source: str) -> ChangesOf:
    """A lookup of the source's stored change events (ingest.sources.landing.ChangesOf)."""

    def changes(repo: str, *, head: str, shas: Sequence[str]) -> list[dict[str, Any]]:
        """The source's change events of `repo` with head branch `head`, or landing one of
        `shas` as their merge or squash commit (both looked up through indexed records)."""
        landing = ChangeCommit.objects.filter(
            change__repo=repo,
            sha__in=list(shas),
            role__in=(ChangeCommit.Role.MERGE, ChangeCommit.Role.SQUASH),
        ).values("change_id")
        found = Change.objects.filter(repo=repo).filter(Q(head=head) | Q(id__in=landing))
        ids = [ext.removeprefix("change:") for ext in found.values_list("external_id", flat=True)]
        return [
            dict(payload)
            for payload in RawEvent.objects.filter(
                source=source, type="change", external_id__in=ids
            ).values_list("payload", flat=True)
        ]

    return changes


def delivery_header_problem(headers: Sequence[tuple[str, str, str]]) -> str | None:
    """Why the (header, value, WebhookDelivery field) triples cannot be stored with the
    delivery, or None: longer than their columns, or holding a NUL (PostgreSQL refuses it)."""
    for header, value, field in headers:
        limit = WebhookDelivery._meta.get_field(field).max_length
        if len(value) > limit:
            return f"{header} is {len(value)} characters long; at most {limit} are accepted."
        if "\x00" in value:
            return f"{header} holds a NUL character."
    return None


def delivery_store(
    provider: str,
    source: str,
    delivery_id: str,
    event: str,
    payload: dict[str, Any],
    *,
    action: str | None = None,
) -> tuple[WebhookDelivery, bool]:
    """Store the delivery (committed before normalizing); True when it was handled before.
    `action`: the admin's label for it (default the payload's own `action`, GitHub's)."""
    now = datetime.now(UTC)
    existing = WebhookDelivery.objects.filter(provider=provider, delivery_id=delivery_id).first()
    if existing is not None:
        return existing, existing.processed_at is not None
    try:
        with transaction.atomic():
            delivery = WebhookDelivery.objects.create(
                provider=provider,
                delivery_id=delivery_id,
                source=source,
                event=event,
                # A label for the admin (the payload keeps the whole value): cut to its column.
                action=str((payload.get("action") if action is None else action) or "")[
                    :ACTION_MAX_LENGTH
                ],
                payload=payload,
                received_at=now,
            )
    except IntegrityError:  # the same delivery arriving twice at once: the other one handles it
        return WebhookDelivery.objects.get(provider=provider, delivery_id=delivery_id), True
    return delivery, False


def delivery_done(delivery: WebhookDelivery, counts: dict[str, int] | None) -> None:
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        processed_at=datetime.now(UTC), counts=counts, error=""
    )
    delivery.counts = counts


_stored_event = stored_event  # its name before the move (branches in flight import it)
