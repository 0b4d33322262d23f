"""Spacelift webhook intake: `X-Signature-256` checked, deliveries stored raw, out-of-order run
states dropped, final states recorded as automation runs.

`POST /webhooks/spacelift/<source>` (the registry's route; `/webhooks/spacelift` is the source
named `spacelift`). Spacelift signs each body as GitHub does (docs.spacelift.io/integrations/
webhooks#validating-payload): `X-Signature-256: sha256=<hex HMAC-SHA256(secret, body)>`, checked
in constant time before the body is parsed (the SHA-1 `X-Signature` is not read). The secret is
in the source's webhook_secret_env (default DORA_SPACELIFT_WEBHOOK_SECRET); unset: 503. Wrong or
missing: 401, nothing stored. Over the body limit: 413.

A run state change is keyed `<run id>@<stateVersion>` (a redelivery is answered from the first).
Per run, the highest `stateVersion` recorded is kept (ingest.models.RunStateVersion): a delivery
with a lower one arrived out of order and is stored raw but dropped (200, `stale`). The check and
the recording are one transaction holding the run's row lock, so concurrent deliveries of one
run are recorded in stateVersion order and never answer 500. Other bodies (internal errors,
custom policy bodies) are kept raw (202).
"""

from __future__ import annotations

import hashlib

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from dora.intake import derive
from dora.intake.events import IntakeReport
from dora.retry import atomic_retry
from ingest.models import RunStateVersion
from ingest.sources.spacelift.mapper import is_run_event, run_events, state_version
from ingest.sources.stack_webhook import (
    StackSource,
    body_json,
    body_read,
    detail,
    duplicate_answer,
    failed_answer,
    kept_raw,
    mapped_events_record,
    recorded_answer,
    stack_source,
)
from ingest.webhooks import (
    delivery_done,
    delivery_header_problem,
    delivery_store,
    github_signature_valid,
)

PROVIDER = "spacelift"
DEFAULT_SOURCE = "spacelift"
DEFAULT_SECRET_ENV = "DORA_SPACELIFT_WEBHOOK_SECRET"  # noqa: S105 - a variable name
SIGNATURE_HEADER = "X-Signature-256"


def spacelift_signature_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    """`sha256=<hex>` of HMAC-SHA256(secret, body) in constant time: GitHub's scheme, which
    Spacelift says it uses, so GitHub's check is called."""
    return github_signature_valid(secret, body, header)


def run_version_claim(source: str, run_id: str, version: int) -> bool:
    """Inside the caller's transaction: lock the run's row (created at 0 when new) and raise
    it to `version`; False, leaving it, when a higher version is already recorded. An equal
    version is this delivery again after a failed attempt (a redelivery of a recorded one is
    answered before), so it is claimed."""
    RunStateVersion.objects.bulk_create(
        [RunStateVersion(provider=PROVIDER, source=source, run_id=run_id, version=0)],
        ignore_conflicts=True,
    )
    row = RunStateVersion.objects.select_for_update().get(
        provider=PROVIDER, source=source, run_id=run_id
    )
    if row.version > version:
        return False
    if row.version < version:
        RunStateVersion.objects.filter(pk=row.pk).update(version=version)
    return True


@csrf_exempt
@require_POST
def spacelift_webhook(request: HttpRequest, source: str | None = None) -> JsonResponse:
    """Receive one Spacelift delivery (see the module docstring)."""
    config = stack_source(PROVIDER, source or DEFAULT_SOURCE, DEFAULT_SECRET_ENV)
    if not isinstance(config, StackSource):
        return config
    body = body_read(request)
    if not isinstance(body, bytes):
        return body
    secret = config.secret()
    assert secret is not None  # stack_source answered 503 otherwise
    if not spacelift_signature_valid(secret, body, request.headers.get(SIGNATURE_HEADER)):
        return detail(f"Missing or wrong {SIGNATURE_HEADER}: check the webhook's secret.", 401)
    payload = body_json(body)
    if not isinstance(payload, dict):
        return payload
    if not is_run_event(payload):
        delivery, duplicate = delivery_store(
            PROVIDER,
            config.name,
            "other:" + hashlib.sha256(body).hexdigest(),
            "other",
            payload,
            action=str(payload.get("severity") or ""),
        )
        if duplicate:
            return duplicate_answer(delivery)
        return kept_raw(delivery, "Not a run state change.")
    run_id, version = str(payload["run"]["id"]), state_version(payload)
    assert version is not None  # is_run_event
    delivery_id = f"{run_id}@{version}"
    state = str(payload.get("state") or "")
    if problem := delivery_header_problem(
        [("run.id@stateVersion", delivery_id, "delivery_id"), ("state", state, "event")]
    ):
        return detail(problem, 400)
    delivery, duplicate = delivery_store(
        PROVIDER, config.name, delivery_id, state, payload, action=str(payload["run"].get("type"))
    )
    if duplicate:
        return duplicate_answer(delivery)
    mapped = run_events(payload, config.rules, source=config.name)

    def claim_and_record() -> IntakeReport | None:
        if not run_version_claim(config.name, run_id, version):
            return None
        return mapped_events_record(mapped, config, delivery, defer_derivation=True)

    try:
        # One transaction, run again when a concurrent delivery's derivation (which writes the
        # same run's deployment rows) made it a deadlock victim.
        report = atomic_retry(claim_and_record)
    except Exception as exc:  # rolled back, version included: a redelivery tries again
        return failed_answer(config, delivery, exc)
    if report is None:
        counts = {"stale": 1}
        delivery_done(delivery, counts)
        return JsonResponse(
            {
                "detail": f"stateVersion {version} of run {run_id} is older than one already "
                "recorded; dropped (kept raw).",
                "counts": counts,
            },
            status=200,
        )
    derive.pending_derive()
    return recorded_answer(mapped, report, delivery)
