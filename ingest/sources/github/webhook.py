"""GitHub webhook deliveries -> CONTRACT §1 events, merged with what earlier deliveries said.

A delivery describes one moment: a `pull_request` payload has no commit list, a review knows
nothing of the merge, a `deployment_status` is one status among several. Each event is stored
whole, so a handler merges its fields into the event stored before for the same key (`prior`,
a lookup the caller provides) instead of wiping what it does not know. Pure apart from the
lookups (`Stored`).

A pull request's commits and what its merge landed come from two kinds of delivery, in either
order: its `pull_request` deliveries (head sha, commit count, merge_commit_sha) and the pushes
(the commits, with their author times and first parents). Whichever arrives second completes
the change (`change_landing`): its commits are the `commit_count` first-parent commits up to
the head sha; a rebase merge's landed commits are the copies up to merge_commit_sha, each
matched to the PR commit at its place. A push looks up the changes of its branch, and the
merged changes whose merge sha it carries, and completes them with its commits.
docs.github.com/webhooks/webhook-events-and-payloads
The verifier (`github_signature_valid`):
docs.github.com/webhooks/using-webhooks/validating-webhook-deliveries
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import Any

from ingest.sources import landing
from ingest.sources.github import mapper as gm
from ingest.sources.landing import ChangesOf, CommitOf, Prior, Stored

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

_no_prior, _no_changes = landing.no_prior, landing.no_changes
MAX_PR_COMMITS = landing.MAX_CHANGE_COMMITS


def github_webhook_events(
    event: str,
    payload: Mapping[str, Any],
    mapping: gm.GitHubMapping,
    prior: Prior = _no_prior,
    changes: ChangesOf = _no_changes,
) -> list[dict[str, Any]] | None:
    """The events one delivery yields; None when the event type is not one we handle."""
    handler = _HANDLERS.get(event)
    if handler is None:
        return None
    return handler(payload, mapping, Stored(prior, changes))


def _repo(payload: Mapping[str, Any]) -> str:
    return payload["repository"]["full_name"]


def _landed(
    change: dict[str, Any], pr_commits: list[Mapping[str, Any]] | None, commit_of: CommitOf
) -> dict[str, Any]:
    """What a merged PR landed: its method (mapper.merge_method) once its merge commit is known
    and, unless it is a true merge or the PR has one commit, the PR's commits too: without them
    a squash and a rebase merge look alike; then mapper.landed_commits."""
    count = change.get("commit_count")
    sha = change.get("squash_sha") or change.get("merge_sha")
    if not change.get("merged_at") or not sha:
        return change
    merge_commit = commit_of(sha)
    pr = {"merged_at": change["merged_at"], "merge_commit_sha": sha}
    method = gm.merge_method(pr, pr_commits, merge_commit)
    single = count == 1 or (pr_commits is not None and len(pr_commits) == 1)
    if method == "squash" and pr_commits is None and not single:
        return change  # a squash or a rebase: which, the PR's commits will tell
    if method is None:
        return change
    chain = (
        gm.first_parent_chain(sha, len(pr_commits or ()), commit_of) if method == "rebase" else []
    )
    change.pop("merge_sha", None)
    change.pop("squash_sha", None)
    change["squash_sha" if method in ("squash", "rebase") else "merge_sha"] = sha
    change["landed_commits"] = gm.landed_commits(method, sha, pr_commits, chain)
    return change


def change_landing(change: dict[str, Any], commit_of: CommitOf) -> dict[str, Any]:
    """A change with its commits and landed commits filled from the commits known
    (landing.change_landing with GitHub's merge method inference, _landed)."""
    return landing.change_landing(change, commit_of, _landed)


def _push(payload: Mapping[str, Any], mapping: gm.GitHubMapping, lookup: Stored) -> list[dict]:
    repo = _repo(payload)

    def stored_parents(sha: str) -> list[str] | None:
        event = lookup.event("commit", f"{repo}@{sha}")
        return (event or {}).get("parents") or None

    commits = [
        gm.commit_parents_settle(c, lookup.event("commit", c["id"]))
        for c in gm.push_commit_events(
            payload, source=mapping.source, stored_parents=stored_parents
        )
    ]
    branch = str(payload.get("ref") or "").removeprefix("refs/heads/")
    changes = landing.branch_changes_complete(repo, branch, commits, lookup, change_landing)
    return [*commits, *changes]


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
        merged.pop("landed_commits", None)
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


def _pull_request(payload: Mapping[str, Any], mapping: gm.GitHubMapping, lookup: Stored) -> list:
    pr = payload["pull_request"]
    repo = _repo(payload)
    change = gm.change_event(repo, pr, source=mapping.source)
    # Not CONTRACT fields: kept with the event so a push arriving later can complete it.
    change["head_sha"] = (pr.get("head") or {}).get("sha")
    change["commit_count"] = pr.get("commits")
    change = gm._clean(change)
    action = payload.get("action")
    if action == "opened" and not pr.get("draft"):
        change["ready_at"] = pr["created_at"]
    elif action == "ready_for_review":
        change["ready_at"] = pr["updated_at"]  # the payload's moment of leaving draft
    merged = change_merge(lookup.event("change", change["id"]), change)
    if action == "converted_to_draft":
        merged.pop("ready_at", None)
    return [change_landing(merged, landing.commit_lookup(repo, lookup))]


def _pull_request_review(
    payload: Mapping[str, Any], mapping: gm.GitHubMapping, lookup: Stored
) -> list[dict]:
    if payload.get("action") != "submitted":
        return []  # edited: same time; dismissed: the approval time stays what it was
    pr = payload["pull_request"]
    change = gm.change_event(_repo(payload), pr, source=mapping.source)
    change.update(gm.review_change_fields(payload["review"], pr))
    return [change_merge(lookup.event("change", change["id"]), change)]


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
    lookup: Stored,
    statuses: list[dict[str, Any]],
) -> list[dict]:
    repo = _repo(payload)
    deployment = payload["deployment"]
    out = []
    for event in gm.deployment_events(repo, deployment, statuses, mapping):
        stored = lookup.event("deployment", event["id"])
        seen = [*_stored_statuses(stored), *statuses]
        status, finished_at = gm.deployment_outcome(seen)
        event = {**event, "status": status}
        event.pop("finished_at", None)
        if finished_at:
            event["finished_at"] = finished_at
        out.append(event)
    return out


def _deployment(payload: Mapping[str, Any], mapping: gm.GitHubMapping, lookup: Stored) -> list:
    return _deployment_with(payload, mapping, lookup, [])


def _deployment_status(
    payload: Mapping[str, Any], mapping: gm.GitHubMapping, lookup: Stored
) -> list[dict]:
    return _deployment_with(payload, mapping, lookup, [payload["deployment_status"]])


def _workflow_run(payload: Mapping[str, Any], mapping: gm.GitHubMapping, lookup: Stored) -> list:
    repo = _repo(payload)
    run = payload["workflow_run"]
    if not run.get("name") and (payload.get("workflow") or {}).get("name"):
        run = {**run, "name": payload["workflow"]["name"]}  # some runs carry an empty name
    events: list[dict[str, Any]] = []
    pipeline = gm.pipeline_run_event(repo, run, source=mapping.source)
    if pipeline is not None:
        stored = lookup.event("pipeline_run", pipeline["id"])
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


def _workflow_job(payload: Mapping[str, Any], mapping: gm.GitHubMapping, lookup: Stored) -> list:
    """A job: a deployment when it matches the pattern; and its line in the run, when the run
    was stored before (the job payload lacks the run's own status and times)."""
    repo = _repo(payload)
    job = payload["workflow_job"]
    environment = (payload.get("deployment") or {}).get("environment")
    events = gm.job_deployment_events(repo, job, mapping, environment=environment)
    stored = lookup.event("pipeline_run", f"{repo}:run:{job['run_id']}")
    entry = gm.job_entry(job)
    if stored and entry and int(job.get("run_attempt") or 1) == int(stored.get("attempt", 1)):
        jobs = [j for j in stored.get("jobs", []) if j.get("name") != entry["name"]]
        events.append({**stored, "jobs": [*jobs, entry]})
    return events


def _release(payload: Mapping[str, Any], mapping: gm.GitHubMapping, lookup: Stored) -> list:
    if payload.get("action") in ("deleted", "unpublished"):
        return []
    return gm.release_deployment_events(_repo(payload), payload["release"], mapping)


def _issues(payload: Mapping[str, Any], mapping: gm.GitHubMapping, lookup: Stored) -> list:
    if payload.get("action") in ("deleted", "transferred"):
        return []
    return gm.incident_events(_repo(payload), payload["issue"], mapping)


_HANDLERS: dict[str, Callable[[Mapping[str, Any], gm.GitHubMapping, Stored], list[dict]]] = {
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


def github_signature_valid(secret: bytes, body: bytes, header: str | None) -> bool:
    """`sha256=<hex>` of HMAC-SHA256(secret, body), compared in constant time."""
    if not header or not header.startswith("sha256="):
        return False
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header.strip().encode())
