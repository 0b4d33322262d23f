"""GitLab webhook deliveries: token check, `X-Gitlab-Event` -> mapper, merged with what was stored.

GitLab sends the secret token configured on the hook as `X-Gitlab-Token` (no signature of the
body): it is compared with the source's secret in constant time. Each delivery carries
`X-Gitlab-Event-UUID`, the key a caller stores the raw delivery under so a redelivery is
recorded once. A hook describes one moment (a Deployment Hook one status, a Merge Request
Hook one action), so handlers merge their fields into the event stored before for the same key
(`prior`, a lookup the caller provides), as the GitHub handlers do. Pure apart from the
lookups (landing.Stored).

A merge request's commits come, as GitHub's, from the pushes of its source branch, completed
by whichever of the Merge Request Hook and the push arrives second (`change_landing`, sharing
ingest.sources.landing with GitHub's handler). The hook has no commit count: the MR's commits
are the first-parent commits from its last commit back to the one the push creating its
branch listed first (mapper.BRANCH_START), counted once and kept (`commit_count`) so a head
rebased onto the target still finds them. What its merge landed the hook says
(`merge_commit_sha`, `squash_commit_sha`); a fast-forward without squash lands the MR's
commits as they are. A Note Hook on a merge request, by someone other than its author and not
a system note, is a review at the note's time.
docs.gitlab.com/user/project/integrations/webhooks, .../webhook_events
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from ingest.sources import landing
from ingest.sources.github_map import commit_parents_settle
from ingest.sources.gitlab import mapper as gl
from ingest.sources.landing import ChangesOf, CommitOf, Prior, Stored

TOKEN_HEADER = "X-Gitlab-Token"  # noqa: S105 - a header name
EVENT_HEADER = "X-Gitlab-Event"
DELIVERY_HEADER = "X-Gitlab-Event-UUID"

_no_prior, _no_changes = landing.no_prior, landing.no_changes
_MAX_HEADS = 10  # the heads of a merge request kept (head_shas), the newest


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


def _push(payload: Mapping[str, Any], mapping: gl.GitLabMapping, lookup: Stored) -> list[dict]:
    """A Push Hook: its commits (parents: mapper.push_commit_events, settled against the ones
    stored, which keep their branch_start), and the changes of its branch or landing one of its
    commits, completed with them."""
    repo = _project_path(payload)

    def stored_parents(sha: str) -> list[str] | None:
        return (lookup.event("commit", f"{repo}@{sha}") or {}).get("parents") or None

    commits = []
    for new in gl.push_commit_events(payload, source=mapping.source, stored_parents=stored_parents):
        stored = lookup.event("commit", new["id"])
        event = commit_parents_settle(new, stored)
        if (stored or {}).get(gl.BRANCH_START) and gl.BRANCH_START not in event:
            event = {**event, gl.BRANCH_START: stored[gl.BRANCH_START]}  # type: ignore[index]
        commits.append(event)
    branch = str(payload.get("ref") or "").removeprefix("refs/heads/")
    changes = landing.branch_changes_complete(repo, branch, commits, lookup, change_landing)
    return [*commits, *changes]


def _commit_count(change: Mapping[str, Any], commit_of: CommitOf) -> int | None:
    """How many commits the MR has: the first-parent commits from a head it had back to the
    one its branch's creating push listed first (marked with the branch's name), from the
    newest head named (`head_shas`) whose walk reaches it; None when none does (a head rebased
    onto the target, a commit not yet pushed)."""
    branch = change.get("head")
    heads = change.get("head_shas") or [change.get("head_sha")]
    if not branch:
        return None
    for head in reversed(heads):
        if not isinstance(head, str):
            continue
        chain = landing.first_parent_chain(head, landing.MAX_CHANGE_COMMITS, commit_of)
        for n, commit in enumerate(chain, start=1):
            if (commit.get("event") or {}).get(gl.BRANCH_START) == branch:
                return n
    return None


def _landed(
    change: dict[str, Any], commits: list[Mapping[str, Any]] | None, commit_of: CommitOf
) -> dict[str, Any]:
    """A merge commit or a squash lands what the hook named (mapper.change_event); a
    fast-forward without squash (no merge commit, squash_sha the MR's head) lands the MR's
    commits as they are, once they are known."""
    fast_forward = not change.get("merge_sha") and change.get("squash_sha") == change.get(
        "head_sha"
    )
    if change.get("merged_at") and fast_forward and commits is not None:
        change["landed_commits"] = [c["sha"] for c in commits]
    return change


def change_landing(change: Mapping[str, Any], commit_of: CommitOf) -> dict[str, Any]:
    """A change with its commit_count (_commit_count, when the walk finds it), its commits and
    its landed commits filled from the commits known (landing.change_landing)."""
    change = dict(change)
    count = _commit_count(change, commit_of)
    if count:
        change["commit_count"] = count
    return landing.change_landing(change, commit_of, _landed)


def _tag_push(payload: Mapping[str, Any], mapping: gl.GitLabMapping, lookup: Stored) -> list[dict]:
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
    payload: Mapping[str, Any], mapping: gl.GitLabMapping, lookup: Stored
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
    stored = lookup.event("change", change["id"])
    if mr["sha"]:
        # Not CONTRACT fields: kept for change_landing. Every head named, newest last: after a
        # rebase the branch's own commits are found from an earlier one (_commit_count).
        change["head_sha"] = mr["sha"]
        heads = [*(stored or {}).get("head_shas", []), mr["sha"]]
        change["head_shas"] = list(dict.fromkeys(reversed(heads)))[:_MAX_HEADS][::-1]
    merged = change_merge(stored, change)
    if action == "reopen":
        for key in ("closed_at", "merged_at", "merge_sha", "squash_sha", "landed_commits"):
            merged.pop(key, None)
    return [change_landing(merged, landing.commit_lookup(repo, lookup))]


def _note(payload: Mapping[str, Any], mapping: gl.GitLabMapping, lookup: Stored) -> list[dict]:
    """A Note Hook: a comment on a merge request by someone other than its author, not a
    system note, is a review at its `created_at` (the earliest is kept: change_merge). Notes
    on commits, issues and snippets, and the MR author's own, record nothing."""
    attrs = payload.get("object_attributes") or {}
    mr = payload.get("merge_request") or {}
    if attrs.get("noteable_type") != "MergeRequest" or not mr or attrs.get("system"):
        return []
    if attrs.get("author_id") is None or attrs.get("author_id") == mr.get("author_id"):
        return []
    at = gl.gitlab_time(attrs.get("created_at"))
    if not at:
        return []
    repo = _project_path(payload)
    change = gl.change_event(
        repo,
        {
            "iid": mr["iid"],
            "title": mr.get("title"),
            "created_at": mr["created_at"],
            "target_branch": mr.get("target_branch"),
            "source_branch": mr.get("source_branch"),
        },
        source=mapping.source,
    )
    change["first_review_at"] = at
    return [change_merge(lookup.event("change", change["id"]), change)]


def _pipeline(payload: Mapping[str, Any], mapping: gl.GitLabMapping, lookup: Stored) -> list[dict]:
    event = gl.pipeline_run_event(
        _project_path(payload),
        payload["object_attributes"],
        jobs=payload.get("builds"),
        source=mapping.source,
    )
    return [event] if event else []


def _job(payload: Mapping[str, Any], mapping: gl.GitLabMapping, lookup: Stored) -> list[dict]:
    """A Job Hook: the job's line in its pipeline run, when the run was stored before (the
    hook lacks the pipeline's own status and times). Deployments come from Deployment Hooks."""
    repo = _project_path(payload)
    stored = lookup.event("pipeline_run", f"{repo}:pipeline:{payload['pipeline_id']}")
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


def _deployment(
    payload: Mapping[str, Any], mapping: gl.GitLabMapping, lookup: Stored
) -> list[dict]:
    """A Deployment Hook: the status it brings, keeping the start stored before."""
    out = []
    for event in gl.deployment_hook_events(payload, mapping):
        stored = lookup.event("deployment", event["id"]) or {}
        if stored.get("status") == "success" and event["status"] != "success":
            out.append(stored)  # it went live: a later word does not undo that
            continue
        if stored.get("started_at") and "started_at" not in event:
            event = {**event, "started_at": stored["started_at"]}
        out.append(event)
    return out


def _issue(payload: Mapping[str, Any], mapping: gl.GitLabMapping, lookup: Stored) -> list[dict]:
    attrs = dict(payload["object_attributes"])
    attrs.setdefault("labels", payload.get("labels") or [])
    if attrs.get("state") == "closed" and not attrs.get("closed_at"):
        attrs["closed_at"] = attrs.get("updated_at")
    return gl.incident_events(_project_path(payload), attrs, mapping)


def _release(payload: Mapping[str, Any], mapping: gl.GitLabMapping, lookup: Stored) -> list[dict]:
    if payload.get("action") == "delete":
        return []
    return gl.release_deployment_events(_project_path(payload), payload, mapping)


HANDLERS: dict[str, Callable[[Mapping[str, Any], gl.GitLabMapping, Stored], list[dict]]] = {
    "Push Hook": _push,
    "Tag Push Hook": _tag_push,
    "Merge Request Hook": _merge_request,
    "Note Hook": _note,
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
    changes: ChangesOf = _no_changes,
) -> list[dict[str, Any]] | None:
    """The events one delivery yields; None when `X-Gitlab-Event` is not one we handle."""
    handler = HANDLERS.get(event)
    if handler is None:
        return None
    return handler(payload, mapping, Stored(prior, changes))
