"""HCP Terraform / Terraform Enterprise notifications -> CONTRACT §1 `automation_run` events.

Pure: no database, no clock, no network. Two payloads come in (generic notifications):
- version 1, run notifications (`run:created` ... `run:completed`, `run:errored`), one run
  and a list of `notifications` (HashiCorp: "at present, this is always one event");
- version 2, workspace notifications with `trigger_scope: assessment` (`assessment:drifted`,
  `assessment:check_failure`, `assessment:failed`): a health assessment's result.
developer.hashicorp.com/terraform/cloud-docs/api-docs/notification-configurations

Fields of a run's event:
- `id`: the run id (`run-FwnENkvDnrpyFC7M`): every notification of one run updates one event,
  so `run:applying` then `run:completed` are one automation run, never two.
- `service`, `environment`, `target`: the workspace's place by the source's `stacks:` rules
  (config.py, ingest.sources.stacks); a workspace no rule matches is skipped with a reason,
  never guessed.
- `action`: `apply`. HCP Terraform sends no notification for speculative (plan-only) plans, so
  a notified run is on the workspace's apply path; one that planned no change ends
  `planned_and_finished` and is a successful apply with nothing to change (it confirms the
  stack matches its configuration). The run API's `plan-only` (versions.py) says `plan`.
- `status`: `applied`, `planned_and_finished` -> success; `errored`, `policy_soft_failed` ->
  failure; `canceled`, `force_canceled`, `discarded` -> cancelled; any other -> running.
- `started_at`: `run_created_at`. `finished_at`: the notification's `run_updated_at` (for a
  running run the time of its latest state: CONTRACT §1 requires the field; the next
  notification replaces it). `updated_at`: `run_updated_at` too, so an older notification
  arriving late never moves the run back.
- `version`, `sha` and `repo` (CONTRACT §1: an apply naming its commit is also the stack's
  deployment of it): not in the payload. They and `trigger` come from the run API
  (versions.py) and are kept from the stored event (`prior`) when a later notification
  arrives.
Fields of an assessment's event: `id` the assessment result's id, `action` plan, `trigger`
schedule, `status` success when the assessment succeeded (else failure), `finished_at` and
`updated_at` its `created_at`, `drift_detected` its `drifted` (absent when it failed: a
failed assessment checked nothing).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ingest.sources.mapping import Mapped, Skipped, clean, utc_text
from ingest.sources.stacks import unmapped_reason
from ingest.sources.terraform.config import TerraformConfig

KIND = "terraform"

VERIFICATION = "verification"  # the "Send a test" payload: no run, no workspace
RUN_TRIGGERS = (
    "run:created",
    "run:planning",
    "run:needs_attention",
    "run:applying",
    "run:completed",
    "run:errored",
)
ASSESSMENT_TRIGGERS = ("assessment:drifted", "assessment:check_failure", "assessment:failed")
HANDLED_TRIGGERS = RUN_TRIGGERS + ASSESSMENT_TRIGGERS
_SUCCESS = ("applied", "planned_and_finished")
_FAILURE = ("errored", "policy_soft_failed")
_CANCELLED = ("canceled", "force_canceled", "discarded")
# The run's `source` (runs API, "Run Sources") as CONTRACT §1's trigger; tfe-api says nothing.
RUN_SOURCE_TRIGGER = {"tfe-configuration-version": "change", "tfe-ui": "manual"}

Prior = Callable[[str], dict[str, Any] | None]  # event id -> the automation_run stored before


def _no_prior(event_id: str) -> None:
    return None


def run_status(value: str | None, trigger: str | None = None) -> str:
    """A run's status (runs API, "Run States") as a CONTRACT §1 status."""
    if value in _SUCCESS:
        return "success"
    if value in _FAILURE:
        return "failure"
    if value in _CANCELLED:
        return "cancelled"
    if value is None and trigger == "run:completed":
        return "success"
    if value is None and trigger == "run:errored":
        return "failure"
    return "running"


def payload_version(body: Mapping[str, Any]) -> str:
    """ "1" or "2" (HashiCorp sends 1 as a number and "2" as a string)."""
    return str(body.get("payload_version", ""))


def _latest_notification(body: Mapping[str, Any]) -> Mapping[str, Any]:
    items = [n for n in body.get("notifications") or [] if isinstance(n, Mapping)]
    if not items:
        return {}
    # Several would be one run's roll-up: the latest state is the run's state.
    return max(items, key=lambda n: utc_text(n.get("run_updated_at")) or "")


def notification_trigger(body: Mapping[str, Any]) -> str | None:
    """The trigger the body is about: a v1 body's latest notification's, a v2 body's own."""
    if payload_version(body) == "1":
        trigger = _latest_notification(body).get("trigger")
    else:
        trigger = body.get("trigger")
    return trigger if isinstance(trigger, str) and trigger else None


def delivery_key(body: Mapping[str, Any]) -> str | None:
    """What makes a notification one delivery (the payload has no delivery id): the run, its
    trigger and state time; the assessment result and trigger. None for anything else (the
    caller keys it by the body's digest)."""
    trigger = notification_trigger(body)
    if payload_version(body) == "1" and body.get("run_id"):
        updated = _latest_notification(body).get("run_updated_at")
        return f"{body['run_id']}:{trigger}:{updated}"
    result = ((body.get("details") or {}).get("new_assessment_result")) or {}
    if trigger in ASSESSMENT_TRIGGERS and result.get("id"):
        return f"{result['id']}:{trigger}"
    return None


def _unplaced(ref: str, workspace: Any) -> Skipped:
    return Skipped(incident=ref, reason=unmapped_reason(KIND, (workspace,), None))


def run_event(body: Mapping[str, Any], config: TerraformConfig, prior: Prior) -> Mapped:
    """A version 1 run notification -> its run's automation_run, merged over the stored one."""
    run_id = str(body["run_id"])
    placement = config.placement(body.get("workspace_name"))
    if placement is None:
        return Mapped(skipped=(_unplaced(run_id, body.get("workspace_name")),))
    latest = _latest_notification(body)
    updated = utc_text(latest.get("run_updated_at"))
    created = utc_text(body.get("run_created_at"))
    stored = dict(prior(run_id) or {})
    event = {
        **stored,
        "type": "automation_run",
        "source": config.name,
        "id": run_id,
        "service": placement.service,
        "environment": placement.environment,
        "target": placement.target,
        "action": stored.get("action") or "apply",
        "status": run_status(latest.get("run_status"), latest.get("trigger")),
        "started_at": created or stored.get("started_at"),
        "finished_at": updated or created,
        "updated_at": updated,
    }
    return Mapped(events=(clean(event),))


def assessment_event(body: Mapping[str, Any], config: TerraformConfig) -> Mapped:
    """A version 2 assessment notification -> one drift check (an automation_run plan)."""
    details = body.get("details") or {}
    result = details.get("new_assessment_result") or {}
    result_id = str(result.get("id") or "")
    placement = config.placement(details.get("workspace_name"))
    if placement is None:
        return Mapped(skipped=(_unplaced(result_id, details.get("workspace_name")),))
    created = utc_text(result.get("created_at"))
    succeeded = result.get("succeeded") is True
    drifted = result.get("drifted")
    event = {
        "type": "automation_run",
        "source": config.name,
        "id": result_id,
        "service": placement.service,
        "environment": placement.environment,
        "target": placement.target,
        "action": "plan",
        "status": "success" if succeeded else "failure",
        "trigger": "schedule",
        "finished_at": created,
        "updated_at": created,
        "drift_detected": drifted if succeeded and isinstance(drifted, bool) else None,
    }
    return Mapped(events=(clean(event),))


def notification_events(
    body: Mapping[str, Any], config: TerraformConfig, prior: Prior = _no_prior
) -> Mapped | None:
    """A notification body -> its automation_run event (one per notification), or the
    reason it is skipped; None when its trigger is not one of HANDLED_TRIGGERS (the
    verification test, auto-destroy reminders...)."""
    trigger = notification_trigger(body)
    if trigger in RUN_TRIGGERS and payload_version(body) == "1" and body.get("run_id"):
        return run_event(body, config, prior)
    if trigger in ASSESSMENT_TRIGGERS and body.get("trigger_scope") == "assessment":
        result = (body.get("details") or {}).get("new_assessment_result") or {}
        if result.get("id") and result.get("created_at"):
            return assessment_event(body, config)
    return None


@dataclass(frozen=True)
class RunCommit:
    """What the runs API adds to a notified run: its mode, trigger and commit."""

    plan_only: bool = False
    trigger: str | None = None
    configuration_version: str | None = None
    sha: str | None = None
    repo: str | None = None
    branch: str | None = None


def run_facts(run: Mapping[str, Any]) -> RunCommit:
    """`GET /api/v2/runs/:id`'s document -> plan-only, trigger, configuration version id."""
    data = run.get("data") or {}
    attributes = data.get("attributes") or {}
    relation = (data.get("relationships") or {}).get("configuration-version") or {}
    return RunCommit(
        plan_only=attributes.get("plan-only") is True,
        trigger=RUN_SOURCE_TRIGGER.get(attributes.get("source") or ""),
        configuration_version=(relation.get("data") or {}).get("id"),
    )


def with_ingress(facts: RunCommit, ingress: Mapping[str, Any] | None) -> RunCommit:
    """Add `GET /configuration-versions/:id/ingress-attributes`'s commit to the run's facts
    (a configuration version uploaded without VCS has none: the facts stay as they were)."""
    attributes = ((ingress or {}).get("data") or {}).get("attributes") or {}
    return RunCommit(
        plan_only=facts.plan_only,
        trigger=facts.trigger,
        configuration_version=facts.configuration_version,
        sha=attributes.get("commit-sha") or None,
        repo=attributes.get("identifier") or None,
        branch=attributes.get("branch") or None,
    )


def run_with_commit(event: Mapping[str, Any], facts: RunCommit) -> dict[str, Any]:
    """A stored run event with what the API said, in CONTRACT §1 `automation_run` fields:
    `version` and `sha` the commit's sha, `repo` its repository, `trigger` from the run's
    source, `action` plan for a plan-only run (the branch is not an automation_run field: not
    kept). An apply with its sha is then also the stack's deployment of that commit. Its
    `updated_at` is kept: a newer notification stored since wins over this (CONTRACT §1), and
    its own fill runs after it."""
    filled = dict(event)
    if facts.sha:
        filled.update(version=facts.sha, sha=facts.sha)
    if facts.repo:
        filled["repo"] = facts.repo
    if facts.trigger and not filled.get("trigger"):
        filled["trigger"] = facts.trigger
    if facts.plan_only:
        filled["action"] = "plan"
    return filled
