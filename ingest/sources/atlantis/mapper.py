"""Atlantis webhook JSON -> CONTRACT §1 `automation_run` events (pure: no database, no clock).

Atlantis posts two bodies to an `kind: http` webhook (runatlantis.io/docs/sending-notifications-
via-webhooks): `event: apply`, a JSON-marshalled ApplyResult (one project's apply), and
`event: drift`, a DriftResult (one drift detection over a repository's projects). Neither carries
a time, an id of the delivery or of the run: every time is the receipt time the caller passes
(`received_at`, the stored delivery's), and ids are built from what the body names.

Apply (one event): `service`/`environment`/`target` from the source's `stacks:` rules, `match`
against `ProjectName`, then `Directory`, `workspace` against `Workspace`; `action` apply;
`status` success or failure from `Success`; `finished_at` the receipt time (no `started_at`);
`version` the pull request's `HeadCommit`; `trigger` change (Atlantis applies a pull request's
plan); `id` `apply:<repo>#<pull>:<project or directory>:<workspace>@<receipt time>`.

Drift (one event per project): `match` against `project_name`, then `path`, `workspace` against
`workspace`; `action` plan; `drift_detected` `has_drift`; `status` success, or failure with no
`drift_detected` when the project has an `error`; `finished_at` the receipt time; `id`
`drift:<detection_id>:<project or path>:<workspace>`. A project no rule matches is skipped with
the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from ingest.sources.mapping import Mapped, Skipped, clean, utc_text
from ingest.sources.stacks import StackRule, stack_place, unmapped_reason

KIND = "atlantis"
APPLY, DRIFT = "apply", "drift"
HANDLED_EVENTS = (APPLY, DRIFT)


def event_kind(payload: Mapping[str, Any]) -> str | None:
    """apply or drift by the body's shape (Atlantis sends no event header), else None."""
    if isinstance(payload.get("Repo"), Mapping) and "Success" in payload:
        return APPLY
    if isinstance(payload.get("projects"), list) and "detection_id" in payload:
        return DRIFT
    return None


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def apply_events(
    payload: Mapping[str, Any], rules: Sequence[StackRule], *, received_at: datetime, source: str
) -> Mapped:
    """One ApplyResult -> its automation_run event, or the skip saying why."""
    repo = payload.get("Repo") or {}
    pull = payload.get("Pull") or {}
    project, directory = _text(payload.get("ProjectName")), _text(payload.get("Directory"))
    workspace = _text(payload.get("Workspace"))
    at = utc_text(received_at.isoformat())
    run_id = (
        f"apply:{repo.get('FullName') or ''}#{pull.get('Num') or ''}:"
        f"{project or directory or ''}:{workspace or ''}@{at}"
    )
    place = stack_place(rules, (project, directory), workspace)
    if place is None:
        return Mapped(
            skipped=(Skipped(run_id, unmapped_reason(KIND, (project, directory), workspace)),)
        )
    event = {
        "type": "automation_run",
        "source": source,
        "id": run_id,
        "service": place.service,
        "environment": place.environment,
        "target": place.target,
        "action": "apply",
        "status": "success" if payload.get("Success") is True else "failure",
        "finished_at": at,
        "trigger": "change",
        "version": _text(pull.get("HeadCommit")),
    }
    return Mapped(events=(clean(event),))


def drift_events(
    payload: Mapping[str, Any], rules: Sequence[StackRule], *, received_at: datetime, source: str
) -> Mapped:
    """One DriftResult -> an automation_run (a plan with drift_detected) per mapped project."""
    at = utc_text(received_at.isoformat())
    detection = _text(payload.get("detection_id")) or ""
    events: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    for project in payload.get("projects") or []:
        if not isinstance(project, Mapping):
            continue
        name, path = _text(project.get("project_name")), _text(project.get("path"))
        workspace = _text(project.get("workspace"))
        run_id = f"drift:{detection}:{name or path or ''}:{workspace or ''}"
        place = stack_place(rules, (name, path), workspace)
        if place is None:
            skipped.append(Skipped(run_id, unmapped_reason(KIND, (name, path), workspace)))
            continue
        failed = bool(project.get("error"))
        event = {
            "type": "automation_run",
            "source": source,
            "id": run_id,
            "service": place.service,
            "environment": place.environment,
            "target": place.target,
            "action": "plan",
            "status": "failure" if failed else "success",
            "finished_at": at,
            "drift_detected": None if failed else bool(project.get("has_drift")),
        }
        events.append(clean(event))
    return Mapped(events=tuple(events), skipped=tuple(skipped))


def webhook_events(
    payload: Mapping[str, Any], rules: Sequence[StackRule], *, received_at: datetime, source: str
) -> Mapped | None:
    """The events of one delivery; None for a body that is neither apply nor drift."""
    kind = event_kind(payload)
    if kind == APPLY:
        return apply_events(payload, rules, received_at=received_at, source=source)
    if kind == DRIFT:
        return drift_events(payload, rules, received_at=received_at, source=source)
    return None
