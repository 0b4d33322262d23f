"""GitHub REST objects and webhook payloads -> CONTRACT §1 events: pure functions, no I/O.

Both the webhook endpoint (`ingest.webhooks`) and the REST collector (later: `ingest.sources.
github`) call these. Input dicts are shaped as GitHub sends them (REST: docs.github.com/rest;
webhooks: docs.github.com/webhooks/webhook-events-and-payloads). Every event id is derived from
GitHub's own ids, so reading the same object again updates the same record.

Ids (namespaced by the source name, e.g. `github`, through the event's `source`):
  commit        `<repo>@<sha>`
  change        `<repo>#<number>`
  pipeline_run  `<repo>:run:<run id>` (a re-run attempt updates the same run)
  deployment    `<repo>:deployment:<deployment id>@<service>` (Deployments API),
                `<repo>:job:<job id>@<service>`, `<repo>:run:<run id>@<service>`,
                `<repo>:release:<release id>@<service>`, `<repo>:tag:<name>@<service>`
  incident      `<repo>:issue:<number>@<service>`

Service mapping: a repository maps to the services whose `repos` list it (several for a
monorepo; their path globs are derivation's business). Where a deployment names a service
(`payload.service` of a GitHub deployment) one event is produced for that service; otherwise one
per service of the repository, each with its own id. A repository no service lists maps to a
service named after the repository (`acme/shop` -> `shop`), created on first sight.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.sources.landing import first_parent_chain  # noqa: F401 - mapper.first_parent_chain
from ingest.sources.mapping import clean as _clean
from ingest.sources.mapping import earliest as _earliest
from ingest.sources.mapping import latest as _latest
from ingest.sources.mapping import time_of as _time

DEPLOYMENT_ORIGINS = ("deployments_api", "workflow_runs", "workflow_jobs", "releases", "tags")
_ZERO_SHA = "0" * 40
_FULL_SHA = re.compile(r"[0-9a-fA-F]{40}")
# git's and GitHub's default merge-commit messages: a push holding one has a non-linear history
# whose second parents the payload does not give.
_MERGE_MESSAGE = re.compile(r"^Merge (pull request|branch|remote-tracking branch|tag|commit) ")
# The merge commit GitHub makes when it merges a pull request: its first parent is the base head.
_PULL_MERGE_MESSAGE = re.compile(r"^Merge pull request #\d+ from ")
# A push payload lists at most 2048 commits (docs.github.com/webhooks/webhook-events-and-payloads
# #push): a list that long may be cut.
MAX_PUSH_COMMITS = 2048
# Not a CONTRACT field: kept with a webhook's commit event whose parents the payload could not
# give for certain (see push_commit_events), so parents read from git replace them.
PARENTS_GUESSED = "parents_guessed"
_SEVERITY_LABEL = re.compile(r"^(?:sev(?:erity)?)[\s:_-]*(\d)$", re.IGNORECASE)


@dataclass(frozen=True)
class GitHubMapping:
    """How one GitHub source's objects become events: services, deployment signals, incidents.

    services: repository full name -> service names (from the services' `repos`).
    deployments_from: which signals are deployments (CONTRACT §2 `deployments.from`).
    workflow_pattern: regex on workflow run / job names (or the job's `environment:`); a named
        group `env` in it gives the environment when the job names none.
    tag_pattern: regex on release tag names and tags.
    environments: GitHub environment name -> ours (case-insensitive); others keep their name,
        and their tier is inferred from it at intake (CONTRACT §1).
    release_environment: where releases, tags and unnamed deploy jobs deploy to.
    incident_label: issues carrying it (case-insensitive) are incidents.
    """

    source: str = "github"
    services: Mapping[str, Sequence[str]] = field(default_factory=dict)
    deployments_from: tuple[str, ...] = ("deployments_api",)
    workflow_pattern: str | None = None
    tag_pattern: str | None = None
    environments: Mapping[str, str] = field(default_factory=dict)
    release_environment: str = "production"
    incident_label: str = "incident"

    def services_for(self, repo: str, named: str | None = None) -> list[str]:
        """The services a repository's deployment or incident belongs to (see module doc)."""
        configured = list(self.services.get(repo, ()))
        if named:
            return [named]
        return configured or [repo.rsplit("/", 1)[-1]]

    def environment_for(self, name: str) -> str:
        lowered = {k.lower(): v for k, v in self.environments.items()}
        return lowered.get(name.lower(), name)

    def workflow_match(self, *names: str | None) -> re.Match[str] | None:
        if not self.workflow_pattern:
            return None
        pattern = re.compile(self.workflow_pattern)
        for name in names:
            if name and (match := pattern.search(name)):
                return match
        return None

    def tag_matches(self, name: str) -> bool:
        return bool(self.tag_pattern and re.search(self.tag_pattern, name))


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _login(user: Mapping[str, Any] | None) -> str | None:
    return (user or {}).get("login") or None


def _labels(obj: Mapping[str, Any]) -> list[str]:
    return [label["name"] if isinstance(label, dict) else str(label) for label in obj["labels"]]


def run_status(status: str | None, conclusion: str | None) -> str | None:
    """Actions run/job status+conclusion -> ours; None for a skipped one (it did not run).

    docs.github.com/rest/actions/workflow-runs: conclusion is one of success, failure, neutral,
    cancelled, skipped, timed_out, action_required, startup_failure, stale.
    """
    if status != "completed":
        return "running"
    if conclusion in ("success", "neutral"):
        return "success"
    if conclusion in ("failure", "timed_out", "startup_failure"):
        return "failure"
    if conclusion in ("cancelled", "stale"):
        return "cancelled"
    if conclusion == "action_required":
        return "running"
    return None  # skipped: not an attempt (a skipped deploy job is no deployment)


# ---------------------------------------------------------------------------------------------
# Commits
# ---------------------------------------------------------------------------------------------


def commit_event(repo: str, obj: Mapping[str, Any], *, source: str = "github") -> dict[str, Any]:
    """A REST commit (list commits, get a commit, PR commits) -> a commit event.

    `files` is present only on the single-commit endpoint; it is left out (not emptied)
    otherwise, so a later full read fills it.
    """
    detail = obj["commit"]
    event = {
        "type": "commit",
        "source": source,
        "id": f"{repo}@{obj['sha']}",
        "repo": repo,
        "sha": obj["sha"],
        "parents": [p["sha"] for p in obj.get("parents", [])],
        "authored_at": detail["author"]["date"],
        "committed_at": (detail.get("committer") or {}).get("date"),
        "author": _login(obj.get("author")) or detail["author"].get("name"),
        "message": detail.get("message"),
    }
    if "files" in obj:
        event["files"] = [f["filename"] for f in obj["files"]]
    return _clean(event)


def push_commit_events(
    payload: Mapping[str, Any],
    *,
    source: str = "github",
    stored_parents: Callable[[str], list[str] | None] = lambda sha: None,
) -> list[dict]:
    """A push to a branch -> its commits, with the parents the payload can give.

    The push payload lists the commits new to the branch oldest first (docs.github.com/webhooks/
    webhook-events-and-payloads#push), without their parents. Without a merge commit among them
    they are one line: each commit's parent is the one before it, the first one's is `before`
    on a fast-forward. On a new branch (the default one too: a repository's first push) the
    first one's parent is not in the payload: the one stored for it before (`stored_parents`),
    else none, marked `parents_guessed` (a later sync, which reads the parents, replaces them).

    A pull request merged by GitHub ("Merge pull request #n from ...", the push's last and only
    merge commit, a fast-forward from `before`) lists the PR's commits not yet on the base branch,
    then the merge commit: its parents are `before` (the base head GitHub merged into) and the
    last of the PR's commits (its head), which chain in payload order as above. Any other push
    with a merge commit (a local merge: its first parent is not certain; a merge listing no PR
    commit: its second parent is not in the payload), and a forced push to the default branch,
    emit nothing and wait for the REST sync: a wrong or missing parent there would cut the
    history derivation walks, or make a merge look like a squash.
    """
    repo = payload["repository"]
    default_ref = f"refs/heads/{repo.get('default_branch') or repo.get('master_branch')}"
    ref = payload.get("ref") or ""
    if not ref.startswith("refs/heads/") or payload.get("deleted"):
        return []
    commits = list(payload.get("commits") or [])
    if len(commits) >= MAX_PUSH_COMMITS:
        return []  # the list may be cut: the first one listed is not the branch's first
    before = payload.get("before") or _ZERO_SHA
    new_branch = bool(payload.get("created")) or before == _ZERO_SHA
    fast_forward = not (payload.get("forced") or new_branch)
    if payload.get("forced") and ref == default_ref:
        return []
    merges = [i for i, c in enumerate(commits) if _MERGE_MESSAGE.match(c.get("message") or "")]
    merge: Mapping[str, Any] | None = None
    if merges:
        last = commits[-1]
        if not (
            fast_forward
            and len(commits) > 1
            and merges == [len(commits) - 1]
            and _PULL_MERGE_MESSAGE.match(last.get("message") or "")
        ):
            return []
        merge, commits = last, commits[:-1]
    events = []
    parent = before if fast_forward and merge is None else None
    for c in commits:
        if parent:
            events.append(_push_commit_event(repo, c, [parent], source=source))
        else:
            known = stored_parents(c["id"])
            events.append(_push_commit_event(repo, c, known, source=source, guessed=True))
        parent = c["id"]
    if merge is not None:
        events.append(_push_commit_event(repo, merge, [before, commits[-1]["id"]], source=source))
    return events


def _push_commit_event(
    repo: Mapping[str, Any],
    c: Mapping[str, Any],
    parents: list[str] | None,
    *,
    source: str,
    guessed: bool = False,
) -> dict[str, Any]:
    files = [*c.get("added", []), *c.get("modified", []), *c.get("removed", [])]
    event = {
        "type": "commit",
        "source": source,
        "id": f"{repo['full_name']}@{c['id']}",
        "repo": repo["full_name"],
        "sha": c["id"],
        "parents": parents,
        # The push payload gives one timestamp per commit: git's author date.
        "authored_at": c["timestamp"],
        "author": (c.get("author") or {}).get("username") or (c.get("author") or {}).get("name"),
        "message": c.get("message"),
        "files": files,
    }
    if guessed:
        event[PARENTS_GUESSED] = True
    return _clean(event)


def commit_parents_settle(new: dict[str, Any], stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """A commit event from a webhook over the one stored before, for the same sha: parents
    read from git (the REST sync, a fast-forward push) beat the ones a webhook could only guess
    (PARENTS_GUESSED); between two guesses, the one that knows more parents stays."""
    if stored is None or new.get("parents") == stored.get("parents"):
        return new
    stored_parents = list(stored.get("parents") or [])
    if not stored.get(PARENTS_GUESSED):
        if new.get(PARENTS_GUESSED):
            new = {k: v for k, v in new.items() if k != PARENTS_GUESSED}
            new["parents"] = stored_parents
        return new
    if new.get(PARENTS_GUESSED) and len(stored_parents) > len(new.get("parents") or []):
        return {**new, "parents": stored_parents}
    return new


# ---------------------------------------------------------------------------------------------
# Pull requests
# ---------------------------------------------------------------------------------------------


def merge_method(
    pr: Mapping[str, Any],
    commits: Sequence[Mapping[str, Any]] | None,
    merge_commit: Mapping[str, Any] | None,
) -> str | None:
    """How a merged PR landed: `merge`, `squash`, `rebase`, or None when it cannot be told.

    GitHub's `merge_commit_sha` is the merge commit (two parents), the squash commit (one
    parent, a new sha), or the last of the rebased copies (one parent, a new sha, but the
    same author date and message as the PR's last commit: rebasing keeps both), or a PR commit
    itself when the base fast-forwarded. The merge commit's parents tell them apart.
    docs.github.com/rest/pulls/pulls#get-a-pull-request
    """
    sha = pr.get("merge_commit_sha")
    if not pr.get("merged_at") or not sha:
        return None
    pr_shas = [c["sha"] for c in commits or []]
    if sha in pr_shas:
        return "merge"  # fast-forward: the PR's own commit is on the base branch
    if merge_commit is None:
        return None
    if len(merge_commit.get("parents", [])) >= 2:
        return "merge"
    if commits and is_copy(commits[-1], merge_commit):
        return "rebase"
    return "squash"


def is_copy(original: Mapping[str, Any], landed: Mapping[str, Any]) -> bool:
    """Whether `landed` is a rebased copy of `original` (REST commits): rebasing keeps the
    author date and the message, and changes the sha and the committer."""
    before, after = original["commit"], landed["commit"]
    try:
        same_time = _time(before["author"]["date"]) == _time(after["author"]["date"])
    except (TypeError, ValueError):  # a date that is not one: nothing to match
        return False
    return (
        same_time and (before.get("message") or "").strip() == (after.get("message") or "").strip()
    )


def landed_commits(
    method: str | None,
    sha: str,
    commits: Sequence[Mapping[str, Any]] | None,
    chain: Sequence[Mapping[str, Any]],
) -> list[str] | None:
    """The shas a merge created on the base branch (CONTRACT §1 `landed_commits`), oldest first.

    A merge or squash lands one commit: `sha` (GitHub's merge_commit_sha). A rebase merge lands
    one copy per commit of the PR, `sha` being the last: `chain` is `sha` and its first-parent
    ancestors on the base branch, newest first, and each is taken while it is the copy of the
    PR commit at the same place from the end (is_copy). None when the method is not known.
    """
    if method in ("merge", "squash"):
        return [sha]
    if method != "rebase":
        return None
    copies = [sha]
    originals = list(reversed(commits or []))
    for original, landed in zip(originals[1:], chain[1:], strict=False):
        if not is_copy(original, landed):
            break
        copies.append(landed["sha"])
    return list(reversed(copies))


def change_event(
    repo: str,
    pr: Mapping[str, Any],
    *,
    commits: Sequence[Mapping[str, Any]] | None = None,
    reviews: Sequence[Mapping[str, Any]] | None = None,
    merge_commit: Mapping[str, Any] | None = None,
    issue_events: Sequence[Mapping[str, Any]] | None = None,
    landed: Sequence[str] | None = None,
    source: str = "github",
) -> dict[str, Any]:
    """A pull request (REST or webhook `pull_request`) -> a change event.

    commits: the PR's commits (REST list); reviews: its reviews; merge_commit: the REST commit of
    `merge_commit_sha` (for its parents); issue_events: the PR's issue events (for the time it
    left draft); landed: the shas the merge created on the base branch (landed_commits, when
    merged). What is not given is left out of the event, never guessed:
    - merge_sha/squash_sha only when merged: an open or closed-unmerged PR's merge_commit_sha
      is GitHub's test merge, which never reaches the base branch. A squash (or the tip of a
      rebase, which also is a new sha) goes to squash_sha, a true merge commit to merge_sha;
      when the method is unknown the sha goes to merge_sha (derivation links both).
    - first_review_at: the first review submitted by someone other than the author (pending
      reviews have no submitted_at); approved_at: the last APPROVED one.
    - ready_at: the last `ready_for_review` event; a PR never a draft is ready when created
      (only when the events were read).
    """
    author = _login(pr.get("user"))
    merged = bool(pr.get("merged_at"))
    method = merge_method(pr, commits, merge_commit) if merged else None
    event: dict[str, Any] = {
        "type": "change",
        "source": source,
        "id": f"{repo}#{pr['number']}",
        "repo": repo,
        "number": pr["number"],
        "title": pr.get("title"),
        "url": pr.get("html_url"),
        "author": author,
        "created_at": pr["created_at"],
        "merged_at": pr.get("merged_at"),
        "closed_at": pr.get("closed_at"),
        "base": (pr.get("base") or {}).get("ref"),
        "head": (pr.get("head") or {}).get("ref"),
        "labels": _labels(pr) if "labels" in pr else None,
        # GitHub's own change time: a replayed or late delivery of an older state of the PR
        # never replaces a newer one (CONTRACT §1, updated_at).
        "updated_at": pr.get("updated_at"),
    }
    if merged and pr.get("merge_commit_sha"):
        key = "squash_sha" if method in ("squash", "rebase") else "merge_sha"
        event[key] = pr["merge_commit_sha"]
    if merged and landed:
        event["landed_commits"] = list(landed)
    if commits is not None:
        event["commits"] = [c["sha"] for c in commits]
    if reviews is not None:
        others = [r for r in reviews if _login(r.get("user")) != author and r.get("submitted_at")]
        event["first_review_at"] = _earliest(r["submitted_at"] for r in others)
        event["approved_at"] = _latest(
            r["submitted_at"] for r in others if r.get("state") == "APPROVED"
        )
    if issue_events is not None:
        ready = [e["created_at"] for e in issue_events if e.get("event") == "ready_for_review"]
        if ready:
            event["ready_at"] = _latest(ready)
        elif not pr.get("draft") and not any(
            e.get("event") == "convert_to_draft" for e in issue_events
        ):
            event["ready_at"] = pr["created_at"]
    return _clean(event)


def review_change_fields(review: Mapping[str, Any], pr: Mapping[str, Any]) -> dict[str, str | None]:
    """One submitted review (webhook `pull_request_review`) -> the change fields it can set.

    A review by the PR's author (a reply) counts for neither field.
    """
    if review.get("state", "").upper() == "PENDING" or not review.get("submitted_at"):
        return {}
    if _login(review.get("user")) == _login(pr.get("user")):
        return {}
    fields = {"first_review_at": review["submitted_at"]}
    if review.get("state", "").upper() == "APPROVED":
        fields["approved_at"] = review["submitted_at"]
    return fields


# ---------------------------------------------------------------------------------------------
# Workflow runs and jobs
# ---------------------------------------------------------------------------------------------


def job_entry(job: Mapping[str, Any]) -> dict[str, Any] | None:
    """An Actions job -> a pipeline_run `jobs` item (None for a skipped job)."""
    status = run_status(job.get("status"), job.get("conclusion"))
    if status is None:
        return None
    return _clean(
        {
            "name": job["name"],
            "started_at": job.get("started_at"),
            "finished_at": job.get("completed_at") if job.get("status") == "completed" else None,
            "status": status,
        }
    )


def pipeline_run_event(
    repo: str,
    run: Mapping[str, Any],
    *,
    jobs: Sequence[Mapping[str, Any]] | None = None,
    source: str = "github",
) -> dict[str, Any] | None:
    """A workflow run -> a pipeline_run event (None when it was skipped).

    finished_at is the run's updated_at once completed: the REST run has no completion time
    of its own. Each attempt of a re-run replaces the previous one (same run id).
    """
    status = run_status(run.get("status"), run.get("conclusion"))
    if status is None:
        return None
    event = {
        "type": "pipeline_run",
        "source": source,
        "id": f"{repo}:run:{run['id']}",
        "repo": repo,
        "sha": run["head_sha"],
        "name": run.get("name") or None,
        "branch": run.get("head_branch"),
        "status": status,
        "trigger": run.get("event"),
        "created_at": run.get("created_at"),
        "started_at": run.get("run_started_at") or run["created_at"],
        "finished_at": run.get("updated_at") if run.get("status") == "completed" else None,
    }
    if jobs is not None:
        event["jobs"] = [entry for job in jobs if (entry := job_entry(job)) is not None]
    return _clean(event)


def _deployments(
    mapping: GitHubMapping,
    repo: str,
    base_id: str,
    fields: dict[str, Any],
    *,
    named_service: str | None = None,
) -> list[dict[str, Any]]:
    return [
        _clean(
            {
                "type": "deployment",
                "source": mapping.source,
                "id": f"{base_id}@{service}",
                "service": service,
                "repo": repo,
                **fields,
            }
        )
        for service in mapping.services_for(repo, named_service)
    ]


def job_deployment_events(
    repo: str,
    job: Mapping[str, Any],
    mapping: GitHubMapping,
    *,
    environment: str | None = None,
) -> list[dict[str, Any]]:
    """A workflow job matching `workflow_pattern` (name or `environment:`) -> deployments.

    The deployment finishes when the job does, not when its workflow does. environment: the
    job's `environment:` (the webhook's `deployment.environment`); without one, the pattern's
    `env` group, else `release_environment`. Skipped jobs deploy nothing.
    """
    if "workflow_jobs" not in mapping.deployments_from:
        return []
    match = mapping.workflow_match(job.get("name"), environment)
    if match is None:
        return []
    status = run_status(job.get("status"), job.get("conclusion"))
    if status is None:
        return []
    env = environment or match.groupdict().get("env") or mapping.release_environment
    return _deployments(
        mapping,
        repo,
        f"{repo}:job:{job['id']}",
        {
            "environment": mapping.environment_for(env),
            "sha": job["head_sha"],
            "status": status,
            "started_at": job.get("started_at"),
            "finished_at": job.get("completed_at") if status != "running" else None,
            "trigger": "automated",
            "pipeline_run": f"{repo}:run:{job['run_id']}" if job.get("run_id") else None,
        },
    )


def run_deployment_events(
    repo: str, run: Mapping[str, Any], mapping: GitHubMapping
) -> list[dict[str, Any]]:
    """A workflow run whose name matches `workflow_pattern` -> deployments (when configured)."""
    if "workflow_runs" not in mapping.deployments_from:
        return []
    match = mapping.workflow_match(run.get("name"))
    if match is None:
        return []
    pipeline = pipeline_run_event(repo, run, source=mapping.source)
    if pipeline is None:
        return []
    env = match.groupdict().get("env") or mapping.release_environment
    return _deployments(
        mapping,
        repo,
        f"{repo}:run:{run['id']}",
        {
            "environment": mapping.environment_for(env),
            "sha": run["head_sha"],
            "status": pipeline["status"],
            "started_at": pipeline["started_at"],
            "finished_at": pipeline.get("finished_at"),
            "trigger": "manual" if run.get("event") == "workflow_dispatch" else "automated",
            "pipeline_run": pipeline["id"],
        },
    )


# ---------------------------------------------------------------------------------------------
# Deployments API
# ---------------------------------------------------------------------------------------------

_DEPLOYMENT_STATES = {
    "success": "success",
    "failure": "failure",
    "error": "failure",
    "pending": "running",
    "queued": "running",
    "in_progress": "running",
}


def deployment_outcome(statuses: Sequence[Mapping[str, Any]]) -> tuple[str, str | None]:
    """A deployment's statuses (any order) -> (status, finished_at).

    The first `success` wins and its time is the finish: GitHub later marks a superseded
    deployment `inactive`, and its updated_at moves with every status, so neither says when it
    went live. Without a success, the latest status decides: failure/error -> failure at that
    time (a later `inactive` does not change that); inactive (superseded before succeeding or
    failing) -> cancelled at the first inactive; pending/queued/in_progress or no status yet
    -> running. docs.github.com/rest/deployments/statuses
    """
    ordered = sorted(statuses, key=lambda s: (_time(s["created_at"]), s.get("id") or 0))
    for status in ordered:
        if status["state"] == "success":
            return "success", status["created_at"]
    active = [s for s in ordered if s["state"] != "inactive"]
    if active and _DEPLOYMENT_STATES.get(active[-1]["state"]) == "failure":
        return "failure", active[-1]["created_at"]
    inactive = [s for s in ordered if s["state"] == "inactive"]
    if inactive:
        return "cancelled", inactive[0]["created_at"]
    return "running", None


def deployment_target(deployment: Mapping[str, Any]) -> str | None:
    """A target named in the deployment's payload (`target`, `region` or `cluster`)."""
    payload = deployment.get("payload")
    if isinstance(payload, dict):
        for key in ("target", "region", "cluster"):
            value = payload.get(key)
            if isinstance(value, str) and value.strip():
                return value
    return None


def deployment_events(
    repo: str,
    deployment: Mapping[str, Any],
    statuses: Sequence[Mapping[str, Any]],
    mapping: GitHubMapping,
) -> list[dict[str, Any]]:
    """A GitHub deployment and its statuses -> one deployment event per service.

    environment: the deployment's environment through the source's map. A service named in
    the deployment's payload (`service`) gets the one event; otherwise each service of the
    repository gets one. started_at is the deployment's creation.
    """
    if "deployments_api" not in mapping.deployments_from:
        return []
    status, finished_at = deployment_outcome(statuses)
    payload = deployment.get("payload")
    named = payload.get("service") if isinstance(payload, dict) else None
    return _deployments(
        mapping,
        repo,
        f"{repo}:deployment:{deployment['id']}",
        {
            "environment": mapping.environment_for(deployment["environment"]),
            "target": deployment_target(deployment),
            "sha": deployment["sha"],
            "version": deployment["ref"]
            if deployment.get("ref") and mapping.tag_matches(deployment["ref"])
            else None,
            "status": status,
            "started_at": deployment["created_at"],
            "finished_at": finished_at,
            "trigger": "automated" if deployment.get("performed_via_github_app") else None,
        },
        named_service=named if isinstance(named, str) and named.strip() else None,
    )


# ---------------------------------------------------------------------------------------------
# Releases and tags
# ---------------------------------------------------------------------------------------------


def release_deployment_events(
    repo: str, release: Mapping[str, Any], mapping: GitHubMapping
) -> list[dict[str, Any]]:
    """A published release whose tag matches `tag_pattern` -> deployments at its publication.

    Drafts and pre-releases are not deployments. The sha is given only when target_commitish
    is one (it is usually a branch name, which moves).
    """
    if "releases" not in mapping.deployments_from or not mapping.tag_matches(release["tag_name"]):
        return []
    if release.get("draft") or release.get("prerelease") or not release.get("published_at"):
        return []
    commitish = release.get("target_commitish") or ""
    return _deployments(
        mapping,
        repo,
        f"{repo}:release:{release['id']}",
        {
            "environment": mapping.environment_for(mapping.release_environment),
            "version": release["tag_name"],
            "sha": commitish if _FULL_SHA.fullmatch(commitish) else None,
            "status": "success",
            "finished_at": release["published_at"],
        },
    )


def tag_deployment_ids(repo: str, name: str, mapping: GitHubMapping) -> list[str]:
    """The event ids `tag_deployment_events` gives the tag `name` (one per service)."""
    return [f"{repo}:tag:{name}@{service}" for service in mapping.services_for(repo)]


def tag_deployment_events(
    repo: str, tag: Mapping[str, Any], tagged_at: str, mapping: GitHubMapping
) -> list[dict[str, Any]]:
    """A tag (REST list tags) matching `tag_pattern` -> deployments at `tagged_at`.

    The tags list carries no time: the caller passes the tagged commit's committer date.
    The id is the tag's name: a tag deleted and re-created at another commit is the same
    deployment, moved to that commit (and its time).
    """
    if "tags" not in mapping.deployments_from or not mapping.tag_matches(tag["name"]):
        return []
    return _deployments(
        mapping,
        repo,
        f"{repo}:tag:{tag['name']}",
        {
            "environment": mapping.environment_for(mapping.release_environment),
            "version": tag["name"],
            "sha": tag["commit"]["sha"],
            "status": "success",
            "finished_at": tagged_at,
        },
    )


# ---------------------------------------------------------------------------------------------
# Incidents
# ---------------------------------------------------------------------------------------------


def issue_is_incident(issue: Mapping[str, Any], mapping: GitHubMapping) -> bool:
    label = mapping.incident_label.lower()
    return not _is_pull_request(issue) and any(n.lower() == label for n in _labels(issue))


def _is_pull_request(issue: Mapping[str, Any]) -> bool:
    """The issues API lists pull requests too, with `pull_request` links. Older issues carry
    `pull_request` with every link null: those are plain issues."""
    links = issue.get("pull_request") or {}
    return any(links.get(key) for key in ("url", "html_url", "diff_url", "patch_url"))


def incident_events(
    repo: str, issue: Mapping[str, Any], mapping: GitHubMapping
) -> list[dict[str, Any]]:
    """An issue carrying the incident label -> one incident per service of the repository.

    opened_at is the issue's creation, resolved_at its closing (absent while open or after a
    reopen). A label naming a service of the repository (`service:<name>` or the bare name)
    narrows it to that service; a `sev1`/`severity:2` label gives the severity.
    """
    if not issue_is_incident(issue, mapping):
        return []
    labels = _labels(issue)
    configured = mapping.services_for(repo)
    named = [
        s
        for s in configured
        if any(n.lower() in (s.lower(), f"service:{s}".lower()) for n in labels)
    ]
    severity = next(
        (f"sev{m.group(1)}" for n in labels if (m := _SEVERITY_LABEL.match(n.strip()))), None
    )
    return [
        _clean(
            {
                "type": "incident",
                "source": mapping.source,
                "id": f"{repo}:issue:{issue['number']}@{service}",
                "service": service,
                "title": issue.get("title"),
                "severity": severity,
                "opened_at": issue["created_at"],
                "resolved_at": issue.get("closed_at") if issue.get("state") == "closed" else None,
                "updated_at": issue.get("updated_at"),
            }
        )
        for service in (named or configured)
    ]
