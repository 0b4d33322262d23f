"""Spacelift run webhook JSON -> CONTRACT §1 `automation_run` events (pure: no database, no clock).

Input: the default payload of a run state change (docs.spacelift.io/integrations/webhooks:
`account`, `state`, `stateVersion`, `timestamp`, `run`, `stack`). One event per delivery in a
final state, its id the run's `id`, so each later state of the run updates the same event:
- `service`/`environment`/`target`: the source's `stacks:` rules, `match` against `stack.id`,
  then `stack.name` (a run has no workspace: rules with `workspace` never match it).
- `action`: `run.type` TRACKED -> apply, PROPOSED -> plan (other types are skipped).
- `drift_detected`: on drift-detection runs (`run.driftDetection` true: the field of the
  notification policy's run input, which the default body does not carry), whether the
  run's `delta` adds, changes or deletes anything; such runs have `trigger` schedule.
- `status`: `state` FINISHED success, FAILED failure, CANCELED/DISCARDED/STOPPED cancelled;
  any other state is not final: skipped with the reason (the delivery is kept raw).
- `finished_at`: `timestamp` (unix seconds of the state change); `started_at`: `run.createdAt`;
  `updated_at`: `timestamp` too; `version`: `run.commit.hash`.
Ordering (`stateVersion`) is the caller's: ingest.sources.spacelift.webhook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ingest.sources.mapping import Mapped, Skipped, clean
from ingest.sources.stacks import StackRule, stack_place, unmapped_reason

KIND = "spacelift"
ACTIONS = {"TRACKED": "apply", "PROPOSED": "plan"}
STATUSES = {
    "FINISHED": "success",
    "FAILED": "failure",
    "CANCELED": "cancelled",
    "DISCARDED": "cancelled",
    "STOPPED": "cancelled",
}


def is_run_event(payload: Mapping[str, Any]) -> bool:
    """A run state change (as opposed to an internal error or a custom policy body)."""
    run = payload.get("run")
    return (
        isinstance(run, Mapping)
        and isinstance(run.get("id"), str)
        and bool(run["id"])
        and isinstance(payload.get("stack"), Mapping)
        and state_version(payload) is not None
    )


def state_version(payload: Mapping[str, Any]) -> int | None:
    """`stateVersion` as an integer, None when absent, not a whole number, or outside what
    the stored ordinal holds (0 to 2^63 - 1)."""
    value = payload.get("stateVersion")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        return None
    return value


def unix_time(value: Any) -> str | None:
    """Unix seconds as ISO 8601 UTC with a Z; None when absent or not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return datetime.fromtimestamp(value, UTC).isoformat().removesuffix("+00:00") + "Z"


def _changes(delta: Any) -> bool:
    if not isinstance(delta, Mapping):
        return False
    return any(
        isinstance(delta.get(key), int) and delta[key] > 0
        for key in ("added", "changed", "deleted")
    )


def run_events(payload: Mapping[str, Any], rules: Sequence[StackRule], *, source: str) -> Mapped:
    """One run state change -> its automation_run event, or the skip saying why."""
    run, stack = payload["run"], payload["stack"]
    run_id = str(run["id"])
    names = (stack.get("id"), stack.get("name"))
    action = ACTIONS.get(str(run.get("type") or ""))
    if action is None:
        return Mapped(skipped=(Skipped(run_id, f"run type {run.get('type')!r} is not read"),))
    status = STATUSES.get(str(payload.get("state") or ""))
    if status is None:
        reason = f"state {payload.get('state')!r} is not final; the final state updates the run"
        return Mapped(skipped=(Skipped(run_id, reason),))
    place = stack_place(rules, names, None)
    if place is None:
        return Mapped(skipped=(Skipped(run_id, unmapped_reason(KIND, names, None)),))
    finished_at = unix_time(payload.get("timestamp"))
    if finished_at is None:
        return Mapped(skipped=(Skipped(run_id, "the delivery has no timestamp"),))
    drift = run.get("driftDetection") is True
    commit = run.get("commit") if isinstance(run.get("commit"), Mapping) else {}
    event = {
        "type": "automation_run",
        "source": source,
        "id": run_id,
        "service": place.service,
        "environment": place.environment,
        "target": place.target,
        "action": action,
        "status": status,
        "finished_at": finished_at,
        "started_at": unix_time(run.get("createdAt")),
        "updated_at": finished_at,
        "trigger": "schedule" if drift else None,
        "version": commit.get("hash") or None,
        "drift_detected": _changes(run.get("delta")) if drift else None,
    }
    return Mapped(events=(clean(event),))
