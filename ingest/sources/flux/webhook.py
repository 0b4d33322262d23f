"""Flux notification-controller intake: `POST /webhooks/flux[/<source>]`, `X-Signature` first.

A Provider of type `generic-hmac` signs each body: `X-Signature: <hash>=<hex HMAC of the body>`
keyed by the `token` of its Secret; notification-controller sends `sha256`
(fluxcd.io/flux/components/notification/providers/#generic-webhook-with-hmac). The hashes
Flux documents for it (sha224, sha256, sha384, sha512; sha1 for its own generic-hmac
Receiver) are accepted; the hex is compared in constant time. The rest is the shared
receiver's policy (ingest.sources.receiver): 503 without a secret, 413, 401 with nothing
stored, raw first, duplicate answered from the first, 202 for what is not recorded.
Sources: the `sources:` entries of kind flux (their `webhook_secret_env`, default
DORA_FLUX_WEBHOOK_SECRET, and `stacks:` rules; ingest.sources.stack_webhook.stack_source);
POST /webhooks/flux is the source named `flux`.

Whether an event repeats the object's latest (ingest.sources.flux.mapper, `id`) is read from
what is recorded: `object_latest`, one query on RawEvent by source, type and the object's id
prefix (rawevent_id_prefix_idx). Reading it and recording the event are one transaction that
first holds a lock per object of the body (`objects_lock`, a transaction-scoped advisory lock),
so two deliveries of one event at once record it once.
"""

from __future__ import annotations

import hashlib
import hmac
import zlib
from collections.abc import Mapping
from typing import Any

from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from dora.models import RawEvent
from ingest.sources.flux.mapper import FluxMapping, Latest, object_key, payload_events
from ingest.sources.receiver import Receiver, json_delivery_receive
from ingest.sources.stack_webhook import stack_source

PROVIDER = "flux"
DEFAULT_SOURCE = "flux"
DEFAULT_SECRET_ENV = "DORA_FLUX_WEBHOOK_SECRET"  # noqa: S105 - a variable name
SIGNATURE_HEADER = "X-Signature"
HASHES = {
    "sha1": hashlib.sha1,
    "sha224": hashlib.sha224,
    "sha256": hashlib.sha256,
    "sha384": hashlib.sha384,
    "sha512": hashlib.sha512,
}
# pg_advisory_xact_lock's first key: this module's own space of locks.
_LOCK_SPACE = 0x464C5558  # "FLUX"


def flux_signature_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    """True when the header is `<hash>=<hex>`, <hash> one of HASHES, and <hex> is the HMAC of
    the body with the secret (hex in either case, compared in constant time)."""
    if not header:
        return False
    name, sep, given = header.strip().partition("=")
    digest = HASHES.get(name.strip().lower())
    if not sep or digest is None:
        return False
    expected = hmac.new(secret, body, digest).hexdigest()
    return hmac.compare_digest(expected.encode(), given.strip().lower().encode("utf-8", "replace"))


def _label(payload: Any) -> tuple[str, str]:
    """(event, action) for the admin: the first event's object and reason."""
    first = payload[0] if isinstance(payload, list) and payload else payload
    if not isinstance(first, Mapping):
        return "unknown", ""
    return object_key(first), str(first.get("reason") or "")


def object_latest(source: str) -> Latest:
    """The lookup of an object's latest recorded event of the source: (type, object key) ->
    (id, payload) of the last one stored under `<object key>@`, or None."""

    def latest(etype: str, key: str) -> tuple[str, dict[str, Any]] | None:
        row = (
            RawEvent.objects.filter(source=source, type=etype, external_id__startswith=key + "@")
            .order_by("-pk")
            .values_list("external_id", "payload")
            .first()
        )
        return (row[0], dict(row[1])) if row else None

    return latest


def objects_lock(source: str, payload: Any) -> None:
    """Hold, until the transaction ends, a lock per object the body names (in one order, so two
    bodies never wait for each other in a cycle; two objects may share a lock number)."""
    items = payload if isinstance(payload, list) else [payload]
    keys = {object_key(item) for item in items if isinstance(item, Mapping)}
    ids = sorted({_lock_id(f"{source}\n{key}") for key in keys})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_advisory_xact_lock(%s, k)) FROM unnest(%s::int[]) AS u(k)",
            [_LOCK_SPACE, ids],
        )


def _lock_id(text: str) -> int:
    """A signed 32-bit number for a text."""
    value = zlib.crc32(text.encode())
    return value - 2**32 if value >= 2**31 else value


@csrf_exempt
@require_POST
def flux_webhook(request: HttpRequest, source: str = DEFAULT_SOURCE) -> JsonResponse:
    """Receive one Flux event (see the module docstring)."""
    found = stack_source(PROVIDER, source, DEFAULT_SECRET_ENV)
    if isinstance(found, JsonResponse):
        return found
    mapping = FluxMapping(source=source, rules=found.rules)
    receiver = Receiver(
        provider=PROVIDER,
        source=source,
        secret_env=found.secret_env,
        verify=lambda secret, body, req: flux_signature_valid(
            secret, body, req.headers.get(SIGNATURE_HEADER)
        ),
        auth_help=(
            f"Missing or wrong {SIGNATURE_HEADER}: the Provider must be of type generic-hmac "
            "and its Secret's token the value of the source's secret variable."
        ),
        label=_label,
        mapped=lambda payload: payload_events(payload, mapping, object_latest(source)),
        lock=lambda payload: objects_lock(source, payload),
    )
    return json_delivery_receive(request, receiver)
