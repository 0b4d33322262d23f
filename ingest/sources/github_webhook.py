"""GitHub webhook deliveries -> CONTRACT §1 events, merged with what earlier deliveries said.

A delivery describes one moment: a `pull_request` payload has no commit list, a review knows
nothing of the merge, a `deployment_status` is one status among several. Each event is stored
whole, so a handler merges its fields into the event stored before for the same key (`prior`,
a lookup the caller provides) instead of wiping what it does not know. Pure apart from `prior`.
docs.github.com/webhooks/webhook-events-and-payloads
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ingest.sources import github_map as gm

HANDLED_EVENTS = (
    "push",
    "pull_request",
    "pull_request_review",
    "deployment",
    "deployment_status",
    "workflow_run",
    "workflow_job",
    "release",
    "issues",
)
# Fields a pull_request payload always carries: its word replaces the stored one (a reopened
# PR loses closed_at). The others (commits, reviews, ready time) come from elsewhere and stay.
_CHANGE_AUTHORITATIVE = ("title", "author", "created_at", "merged_at", "closed_at", "base", "head")

Prior = Callable[[str, str], dict[str, Any] | None]  # (type, id) -> the stored event or None


def _no_prior(etype: str, event_id: str) -> None:
    return None


def github_webhook_events(
    event: str,
    payload: Mapping[str, Any],
    mapping: gm.GitHubMapping,
    prior: Prior = _no_prior,
) -> list[dict[str, Any]] | None:
    """The events one delivery yields; None when the event type is not one we handle."""
    handler = _HANDLERS.get(event)
    if handler is None:
        return None
    return handler(payload, mapping, prior)


def _repo(payload: Mapping[str, Any]) -> str:
    return payload["repository"]["full_name"]


def _push(payload: Mapping[str, Any], mapping: gm.GitHubMapping, prior: Prior) -> list[dict]:
    return gm.push_commit_events(payload, source=mapping.source)


def change_merge(stored: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """A change from a webhook over the stored one: see _CHANGE_AUTHORITATIVE.

    A sha the sync classified as a squash stays one when a webhook (which cannot tell) names
    it as the merge sha. Review times keep the earliest first review and the latest approval.
    """
    if not stored:
        return new
    merged = {k: v for k, v in stored.items() if k not in _CHANGE_AUTHORITATIVE}
    if "labels" in new:
        merged.pop("labels", None)
    if not new.get("merged_at"):
        merged.pop("merge_sha", None)
        merged.pop("squash_sha", None)
    for key, value in new.items():
        if key == "first_review_at":
            value = gm._earliest([value, stored.get(key)])
        elif key == "approved_at":
            value = gm._latest([value, stored.get(key)])
        merged[key] = value
    if stored.get("squash_sha") and new.get("merge_sha") == stored["squash_sha"]:
        merged.pop("merge_sha")
        merged["squash_sha"] = stored["squash_sha"]
    if merged.get("merge_sha") and merged.get("merge_sha") == merged.get("squash_sha"):
        merged.pop("merge_sha")
    return merged


def _pull_request(
    payload: Mapping[str, Any], mapping: gm.GitHubMapping, prior: Prior
) -> list[dict]:
    pr = payload["pull_request"]
    repo = _repo(payload)
    change = gm.change_event(repo, pr, source=mapping.source)
    action = payload.get("action")
    if action == "opened" and not pr.get("draft"):
        change["ready_at"] = pr["created_at"]
    elif action == "ready_for_review":
        change["ready_at"] = pr["updated_at"]  # the payload's moment of leaving draft
    stored = prior("change", change["id"])
    merged = change_merge(stored, change)
    if action == "converted_to_draft":
        merged.pop("ready_at", None)
    return [merged]


def _pull_request_review(
    payload: Mapping[str, Any], mapping: gm.GitHubMapping, prior: Prior
) -> list[dict]:
    if payload.get("action") != "submitted":
        return []  # edited: same time; dismissed: the approval time stays what it was
    pr = payload["pull_request"]
    change = gm.change_event(_repo(payload), pr, source=mapping.source)
    change.update(gm.review_change_fields(payload["review"], pr))
    return [change_merge(prior("change", change["id"]), change)]


def _stored_statuses(stored: dict[str, Any] | None) -> list[dict[str, Any]]:
    """What a stored deployment event says, as the GitHub statuses that would say it."""
    if not stored or not stored.get("finished_at"):
        return []
    state = {"success": "success", "failure": "failure", "cancelled": "inactive"}.get(
        stored.get("status", "")
    )
    return [{"state": state, "created_at": stored["finished_at"]}] if state else []


def _deployment_with(
    payload: Mapping[str, Any],
    mapping: gm.GitHubMapping,
    prior: Prior,
    statuses: list[dict[str, Any]],
) -> list[dict]:
    repo = _repo(payload)
    deployment = payload["deployment"]
    out = []
    for event in gm.deployment_events(repo, deployment, statuses, mapping):
        stored = prior("deployment", event["id"])
        seen = [*_stored_statuses(stored), *statuses]
        status, finished_at = gm.deployment_outcome(seen)
        event = {**event, "status": status}
        event.pop("finished_at", None)
        if finished_at:
            event["finished_at"] = finished_at
        out.append(event)
    return out


def _deployment(payload: Mapping[str, Any], mapping: gm.GitHubMapping, prior: Prior) -> list:
    return _deployment_with(payload, mapping, prior, [])


def _deployment_status(
    payload: Mapping[str, Any], mapping: gm.GitHubMapping, prior: Prior
) -> list[dict]:
    return _deployment_with(payload, mapping, prior, [payload["deployment_status"]])


def _workflow_run(payload: Mapping[str, Any], mapping: gm.GitHubMapping, prior: Prior) -> list:
    repo = _repo(payload)
    run = payload["workflow_run"]
    if not run.get("name") and (payload.get("workflow") or {}).get("name"):
        run = {**run, "name": payload["workflow"]["name"]}  # some runs carry an empty name
    events: list[dict[str, Any]] = []
    pipeline = gm.pipeline_run_event(repo, run, source=mapping.source)
    if pipeline is not None:
        stored = prior("pipeline_run", pipeline["id"])
        if (
            stored
            and stored.get("jobs")
            and int(run.get("run_attempt") or 1) == int(stored.get("attempt", 1))
        ):
            pipeline["jobs"] = stored["jobs"]
        pipeline["attempt"] = int(run.get("run_attempt") or 1)
        events.append(pipeline)
    events.extend(gm.run_deployment_events(repo, run, mapping))
    return events


def _workflow_job(payload: Mapping[str, Any], mapping: gm.GitHubMapping, prior: Prior) -> list:
    """A job: a deployment when it matches the pattern; and its line in the run, when the run
    was stored before (the job payload lacks the run's own status and times)."""
    repo = _repo(payload)
    job = payload["workflow_job"]
    environment = (payload.get("deployment") or {}).get("environment")
    events = gm.job_deployment_events(repo, job, mapping, environment=environment)
    stored = prior("pipeline_run", f"{repo}:run:{job['run_id']}")
    entry = gm.job_entry(job)
    if stored and entry and int(job.get("run_attempt") or 1) == int(stored.get("attempt", 1)):
        jobs = [j for j in stored.get("jobs", []) if j.get("name") != entry["name"]]
        events.append({**stored, "jobs": [*jobs, entry]})
    return events


def _release(payload: Mapping[str, Any], mapping: gm.GitHubMapping, prior: Prior) -> list:
    if payload.get("action") in ("deleted", "unpublished"):
        return []
    return gm.release_deployment_events(_repo(payload), payload["release"], mapping)


def _issues(payload: Mapping[str, Any], mapping: gm.GitHubMapping, prior: Prior) -> list:
    if payload.get("action") in ("deleted", "transferred"):
        return []
    return gm.incident_events(_repo(payload), payload["issue"], mapping)


_HANDLERS: dict[str, Callable[[Mapping[str, Any], gm.GitHubMapping, Prior], list[dict]]] = {
    "push": _push,
    "pull_request": _pull_request,
    "pull_request_review": _pull_request_review,
    "deployment": _deployment,
    "deployment_status": _deployment_status,
    "workflow_run": _workflow_run,
    "workflow_job": _workflow_job,
    "release": _release,
    "issues": _issues,
}
assert tuple(_HANDLERS) == HANDLED_EVENTS
