"""env0 webhook JSON -> CONTRACT §1 `automation_run` events (pure: no database, no clock).

Input: env0's CloudEvents-shaped envelope (docs.envzero.com/guides/integrations/notifications/
webhooks: `type`, `source`, `id`, `time`, `datacontenttype`, `data`). Deliveries whose `data`
holds a `deploymentLog` and an `environment` (the deploy, destroy, drift and plan events) are
read; others (the test event, budgets, TTL notices) are not. One event per deployment log, its id
the log's `id`, so a later event of the same deployment updates it:
- `service`/`environment`/`target`: the source's `stacks:` rules, `match` against
  `environment.name`, then `project.name`, `workspace` against `environment.workspaceName`.
- `action`: `deploymentLog.type` deploy -> apply; destroy is skipped (it removes the stack
  rather than running it); any other type (plans, drift checks) -> plan.
- `status`: `deploymentLog.status` SUCCESS success; FAILURE, TIMEOUT, INTERNAL_FAILURE failure;
  CANCELLED, ABORTED cancelled; any other is not final: skipped with the reason.
- `drift_detected`: `deploymentLog.driftDetected` when true or false, else true for an event type
  ending in `drift.detected` and false for one ending in `drift.undetected`.
- `finished_at`: `deploymentLog.finishedAt`, else the envelope's `time`; `started_at`:
  `startedAt`; `updated_at`: `updatedAt`; `version`: `data.gitRevision`; `trigger`: schedule when
  `isScheduledRun`, manual when `triggerName` is `user`, else absent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ingest.sources.mapping import Mapped, Skipped, clean, utc_text
from ingest.sources.stacks import StackRule, stack_place, unmapped_reason

KIND = "env0"
STATUSES = {
    "SUCCESS": "success",
    "FAILURE": "failure",
    "TIMEOUT": "failure",
    "INTERNAL_FAILURE": "failure",
    "CANCELLED": "cancelled",
    "ABORTED": "cancelled",
}


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def is_deployment_event(payload: Mapping[str, Any]) -> bool:
    """An envelope whose data names a deployment log (with an id) and an environment."""
    data = _mapping(payload.get("data"))
    log = _mapping(data.get("deploymentLog"))
    return bool(log.get("id")) and isinstance(data.get("environment"), Mapping)


def _drift(event_type: str, log: Mapping[str, Any]) -> bool | None:
    if isinstance(log.get("driftDetected"), bool):
        return bool(log["driftDetected"])
    if event_type.endswith("drift.detected"):
        return True
    if event_type.endswith("drift.undetected"):
        return False
    return None


def _trigger(log: Mapping[str, Any]) -> str | None:
    if log.get("isScheduledRun") is True:
        return "schedule"
    if log.get("triggerName") == "user":
        return "manual"
    return None


def deployment_events(
    payload: Mapping[str, Any], rules: Sequence[StackRule], *, source: str
) -> Mapped:
    """One deployment envelope -> its automation_run event, or the skip saying why."""
    data = _mapping(payload.get("data"))
    log, environment = _mapping(data.get("deploymentLog")), _mapping(data.get("environment"))
    run_id = str(log["id"])
    kind = str(log.get("type") or "")
    if kind == "destroy":
        return Mapped(skipped=(Skipped(run_id, "a destroy removes the stack; it is not read"),))
    status = STATUSES.get(str(log.get("status") or ""))
    if status is None:
        reason = f"status {log.get('status')!r} is not final; the final event updates the run"
        return Mapped(skipped=(Skipped(run_id, reason),))
    names = (environment.get("name"), _mapping(data.get("project")).get("name"))
    workspace = environment.get("workspaceName") or None
    place = stack_place(rules, names, workspace)
    if place is None:
        return Mapped(skipped=(Skipped(run_id, unmapped_reason(KIND, names, workspace)),))
    event = {
        "type": "automation_run",
        "source": source,
        "id": run_id,
        "service": place.service,
        "environment": place.environment,
        "target": place.target,
        "action": "apply" if kind == "deploy" else "plan",
        "status": status,
        "finished_at": utc_text(log.get("finishedAt") or payload.get("time")),
        "started_at": utc_text(log.get("startedAt")),
        "updated_at": utc_text(log.get("updatedAt")),
        "trigger": _trigger(log),
        "version": data.get("gitRevision") or None,
        "drift_detected": _drift(str(payload.get("type") or ""), log),
    }
    return Mapped(events=(clean(event),))
