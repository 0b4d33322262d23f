"""GitLab webhook deliveries: token check, `X-Gitlab-Event` -> mapper, merged with what was stored.

GitLab sends the secret token configured on the hook as `X-Gitlab-Token` (no signature of the
body): it is compared with the source's secret in constant time. Each delivery carries
`X-Gitlab-Event-UUID`, the key a caller stores the raw delivery under so a redelivery is
recorded once. A hook describes one moment (a Deployment Hook one status, a Merge Request
Hook one action), so handlers merge their fields into the event stored before for the same key
(`prior`, a lookup the caller provides), as the GitHub handlers do. Pure apart from that lookup.
docs.gitlab.com/user/project/integrations/webhooks, .../webhook_events
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ingest.sources.gitlab import mapper as gl

TOKEN_HEADER = "X-Gitlab-Token"  # noqa: S105 - a header name
EVENT_HEADER = "X-Gitlab-Event"
DELIVERY_HEADER = "X-Gitlab-Event-UUID"

Prior = Callable[[str, str], dict[str, Any] | None]  # (type, id) -> the stored event or None


def _no_prior(etype: str, event_id: str) -> None:
    return None


def gitlab_token_valid(secret: str | bytes | None, header: str | None) -> bool:
    """Whether `X-Gitlab-Token` is the source's secret (constant time); never without one."""
    if not secret or not header:
        return False
    expected = secret if isinstance(secret, bytes) else secret.encode()
    return hmac.compare_digest(expected, header.encode())


def _project_path(payload: Mapping[str, Any]) -> str:
    """The project's path: `project.path_with_namespace`, else (older Job Hooks, which carry
    only a display name) the path of `repository.homepage`."""
    project = payload.get("project") or {}
    if project.get("path_with_namespace"):
        return project["path_with_namespace"]
    homepage = (payload.get("repository") or {}).get("homepage") or ""
    return urlsplit(homepage).path.strip("/")


def _push(payload: Mapping[str, Any], mapping: gl.GitLabMapping, prior: Prior) -> list[dict]:
    repo = _project_path(payload)

    def stored_parents(sha: str) -> list[str] | None:
        return (prior("commit", f"{repo}@{sha}") or {}).get("parents") or None

    return gl.push_commit_events(payload, source=mapping.source, stored_parents=stored_parents)


def _tag_push(payload: Mapping[str, Any], mapping: gl.GitLabMapping, prior: Prior) -> list[dict]:
    return gl.tag_push_deployment_events(payload, mapping)


# A Merge Request Hook always carries these: its word replaces the stored one.
_CHANGE_AUTHORITATIVE = ("title", "created_at", "base", "head", "labels", "url")


def change_merge(stored: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    """A change from a hook over the stored one: the hook's fields win, the rest stays (the
    sync's commits, author, review times); the earliest first review and the latest approval
    are kept; a reopened MR loses closed_at."""
    merged = dict(stored or {})
    for key, value in new.items():
        if key == "first_review_at":
            value = gl._earliest([value, merged.get(key)])
        elif key == "approved_at":
            value = gl._latest([value, merged.get(key)])
        merged[key] = value
    return merged


def _merge_request(
    payload: Mapping[str, Any], mapping: gl.GitLabMapping, prior: Prior
) -> list[dict]:
    """A Merge Request Hook -> the change, merged with the stored one.

    The hook has no merged_at nor closed_at of its own: an action `merge` or `close` happened
    at the MR's `updated_at`. Its author is known only by id: the acting user is the author
    on `open`. An `approved`/`approval` by someone else than the author is a review and an
    approval at `updated_at`.
    """
    attrs = payload["object_attributes"]
    action = attrs.get("action")
    repo = _project_path(payload)
    user = payload.get("user") or {}
    mr = {
        "iid": attrs["iid"],
        "title": attrs.get("title"),
        "web_url": attrs.get("url"),
        "created_at": attrs["created_at"],
        "updated_at": attrs.get("updated_at"),
        "target_branch": attrs.get("target_branch"),
        "source_branch": attrs.get("source_branch"),
        "labels": attrs.get("labels", payload.get("labels") or []),
        "state": attrs.get("state"),
        "sha": (attrs.get("last_commit") or {}).get("id"),
        "merge_commit_sha": attrs.get("merge_commit_sha"),
        "squash_commit_sha": attrs.get("squash_commit_sha"),
        "merged_at": attrs.get("merged_at")
        or (attrs.get("updated_at") if action == "merge" else None),
        "closed_at": attrs.get("closed_at")
        or (attrs.get("updated_at") if action == "close" else None),
        "draft": attrs.get("draft", attrs.get("work_in_progress")),
    }
    if action == "open":
        mr["author"] = user
    change = gl.change_event(repo, mr, source=mapping.source)
    if action == "open" and not mr["draft"]:
        change["ready_at"] = change["created_at"]
    if action in ("approved", "approval") and user.get("id") != attrs.get("author_id"):
        at = gl.gitlab_time(attrs.get("updated_at"))
        change["first_review_at"] = at
        change["approved_at"] = at
    stored = prior("change", change["id"])
    merged = change_merge(stored, change)
    if action == "reopen":
        for key in ("closed_at", "merged_at", "merge_sha", "squash_sha", "landed_commits"):
            merged.pop(key, None)
    return [merged]


def _pipeline(payload: Mapping[str, Any], mapping: gl.GitLabMapping, prior: Prior) -> list[dict]:
    event = gl.pipeline_run_event(
        _project_path(payload),
        payload["object_attributes"],
        jobs=payload.get("builds"),
        source=mapping.source,
    )
    return [event] if event else []


def _job(payload: Mapping[str, Any], mapping: gl.GitLabMapping, prior: Prior) -> list[dict]:
    """A Job Hook: the job's line in its pipeline run, when the run was stored before (the
    hook lacks the pipeline's own status and times). Deployments come from Deployment Hooks."""
    repo = _project_path(payload)
    stored = prior("pipeline_run", f"{repo}:pipeline:{payload['pipeline_id']}")
    entry = gl.job_entry(
        {
            "name": payload.get("build_name"),
            "status": payload.get("build_status"),
            "started_at": payload.get("build_started_at"),
            "finished_at": payload.get("build_finished_at"),
        }
    )
    if not stored or entry is None:
        return []
    jobs = [j for j in stored.get("jobs", []) if j.get("name") != entry["name"]]
    return [{**stored, "jobs": [*jobs, entry]}]


def _deployment(payload: Mapping[str, Any], mapping: gl.GitLabMapping, prior: Prior) -> list[dict]:
    """A Deployment Hook: the status it brings, keeping the start stored before."""
    out = []
    for event in gl.deployment_hook_events(payload, mapping):
        stored = prior("deployment", event["id"]) or {}
        if stored.get("status") == "success" and event["status"] != "success":
            out.append(stored)  # it went live: a later word does not undo that
            continue
        if stored.get("started_at") and "started_at" not in event:
            event = {**event, "started_at": stored["started_at"]}
        out.append(event)
    return out


def _issue(payload: Mapping[str, Any], mapping: gl.GitLabMapping, prior: Prior) -> list[dict]:
    attrs = dict(payload["object_attributes"])
    attrs.setdefault("labels", payload.get("labels") or [])
    if attrs.get("state") == "closed" and not attrs.get("closed_at"):
        attrs["closed_at"] = attrs.get("updated_at")
    return gl.incident_events(_project_path(payload), attrs, mapping)


def _release(payload: Mapping[str, Any], mapping: gl.GitLabMapping, prior: Prior) -> list[dict]:
    if payload.get("action") == "delete":
        return []
    return gl.release_deployment_events(_project_path(payload), payload, mapping)


HANDLERS: dict[str, Callable[[Mapping[str, Any], gl.GitLabMapping, Prior], list[dict]]] = {
    "Push Hook": _push,
    "Tag Push Hook": _tag_push,
    "Merge Request Hook": _merge_request,
    "Pipeline Hook": _pipeline,
    "Job Hook": _job,
    "Deployment Hook": _deployment,
    "Issue Hook": _issue,
    "Release Hook": _release,
}
HANDLED_EVENTS = tuple(HANDLERS)


def gitlab_webhook_events(
    event: str,
    payload: Mapping[str, Any],
    mapping: gl.GitLabMapping,
    prior: Prior = _no_prior,
) -> list[dict[str, Any]] | None:
    """The events one delivery yields; None when `X-Gitlab-Event` is not one we handle."""
    handler = HANDLERS.get(event)
    if handler is None:
        return None
    return handler(payload, mapping, prior)
