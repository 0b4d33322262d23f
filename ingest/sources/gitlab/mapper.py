"""GitLab REST objects and webhook payloads -> CONTRACT §1 events: pure functions, no I/O.

Mirrors `ingest.sources.github_map` (same ids, same choices) for GitLab's shapes (REST:
docs.gitlab.com/api/rest; webhooks: docs.gitlab.com/user/project/integrations/webhook_events).
A project's path (`group/sub/project`, GitLab's `path_with_namespace`) is the event's `repo`;
REST objects do not carry it, so the caller passes it.

Ids (namespaced by the source name, e.g. `gitlab`, through the event's `source`):
  commit        `<repo>@<sha>`
  change        `<repo>#<iid>` (as GitHub's, so `caused_by: {"change": "repo#number"}` reads
                the same; the number is the MR's iid, its number within the project)
  pipeline_run  `<repo>:pipeline:<pipeline id>` (a retried job updates the same pipeline)
  deployment    `<repo>:deployment:<deployment id>@<service>` (Deployments API and Deployment
                Hook share it), `<repo>:release:<tag>@<service>`, `<repo>:tag:<name>@<service>`
  incident      `<repo>:issue:<iid>@<service>`

Times: GitLab writes REST times as ISO 8601 (`2019-03-13T14:14:24.109Z`) but many webhook
times as `2016-08-12 15:23:28 UTC` or `2021-04-28 21:50:00 +0200`; every time is rewritten
as ISO 8601 in UTC (`gitlab_time`).

Service mapping: as GitHub's (a project maps to the services whose `repos` list it, else to a
service named after its last path segment).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ingest.sources.github_map import PARENTS_GUESSED
from ingest.sources.mapping import clean as _clean
from ingest.sources.mapping import earliest as _earliest
from ingest.sources.mapping import latest as _latest

DEPLOYMENT_ORIGINS = ("deployments_api", "releases", "tags")
_ZERO_SHA = "0" * 40
_FULL_SHA = re.compile(r"[0-9a-fA-F]{40}")
# GitLab's merge commit message ("Merge branch 'x' into 'main'") and git's own ones: a push
# holding one has a history whose second parents the payload does not give.
_MERGE_MESSAGE = re.compile(r"^Merge (branch|remote-tracking branch|tag|commit|pull request) ")
# GitLab's default merge commit template (docs.gitlab.com/user/project/merge_requests/
# commit_templates): "Merge branch '<source>' into '<target>'", ..., "See merge request <ref>".
_MR_MERGE_MESSAGE = re.compile(r"^Merge branch '[^']+' into '[^']+'")
_MR_REFERENCE = "See merge request "
# Not a CONTRACT field: kept with a commit event, the branch whose creating push listed it first.
BRANCH_START = "branch_start"
_SEVERITY_LABEL = re.compile(r"^(?:sev(?:erity)?)[\s:_-]*(\d)$", re.IGNORECASE)
# The system note GitLab writes when someone approves a merge request.
_APPROVAL_NOTE = "approved this merge request"
# The system notes of leaving and entering draft: "marked this merge request as **ready**"
# and "... as **draft**".
_DRAFT_NOTE = "marked this merge request as"
# A Push Hook lists at most 20 commits (docs.gitlab.com/user/project/integrations/
# webhook_events#push-events); `total_commits_count` says how many there were.

# GitLab environment tiers (docs.gitlab.com/ci/environments/#deployment-tier-of-environments)
# -> ours (CONTRACT §2). `other` has no counterpart: the tier is then inferred from the name.
ENVIRONMENT_TIERS = {
    "production": "production",
    "staging": "staging",
    "testing": "test",
    "development": "development",
}

# GitLab deployment statuses (Deployments API `status`, Deployment Hook `status`;
# docs.gitlab.com/api/deployments) -> ours:
#   success               -> success
#   failed                -> failure
#   canceled              -> cancelled
#   skipped               -> cancelled (superseded by a newer deployment before it ran: like
#                            GitHub's `inactive` before a success; it never went live)
#   created, running,     -> running (not finished: created is waiting to start, blocked is
#   blocked                  waiting for a manual approval of a protected environment)
# Any other word (the fixtures hold `completed` and `undeployed`, which GitLab does not
# document) gives no event: a status we cannot read must not move a record.
DEPLOYMENT_STATUSES = {
    "success": "success",
    "failed": "failure",
    "canceled": "cancelled",
    "skipped": "cancelled",
    "created": "running",
    "running": "running",
    "blocked": "running",
}

# GitLab pipeline and job statuses (docs.gitlab.com/api/pipelines, docs.gitlab.com/api/jobs)
# -> ours. `skipped` did not run: no event (GitHub's choice). `manual` waits for someone to
# press play: a pipeline stopped there is still running; a job waiting there has not run.
_PIPELINE_STATUSES = {
    "success": "success",
    "failed": "failure",
    "canceled": "cancelled",
    "canceling": "cancelled",
    "created": "running",
    "waiting_for_resource": "running",
    "preparing": "running",
    "pending": "running",
    "running": "running",
    "scheduled": "running",
    "waiting_for_callback": "running",
    "manual": "running",
}
_FINISHED = ("success", "failure", "cancelled")

# GitLab incident severities (issue `severity`) -> ours, as GitHub's sevN labels.
_SEVERITIES = {"critical": "sev1", "high": "sev2", "medium": "sev3", "low": "sev4"}


@dataclass(frozen=True)
class GitLabMapping:
    """How one GitLab source's objects become events (see GitHubMapping for each field).

    deployments_from: any of deployments_api (Deployments API and Deployment Hook), releases,
        tags (CONTRACT §2 `deployments.from`).
    """

    source: str = "gitlab"
    services: Mapping[str, Sequence[str]] = field(default_factory=dict)
    deployments_from: tuple[str, ...] = ("deployments_api",)
    tag_pattern: str | None = None
    environments: Mapping[str, str] = field(default_factory=dict)
    release_environment: str = "production"
    incident_label: str = "incident"

    def services_for(self, repo: str, named: str | None = None) -> list[str]:
        configured = list(self.services.get(repo, ()))
        if named:
            return [named]
        return configured or [repo.rsplit("/", 1)[-1]]

    def environment_for(self, name: str) -> str:
        lowered = {k.lower(): v for k, v in self.environments.items()}
        return lowered.get(name.lower(), name)

    def environment_and_target(self, name: str) -> tuple[str, str | None]:
        """A GitLab environment name -> (environment, target). GitLab groups environments in
        folders by the part before the first `/` (docs.gitlab.com/ci/environments/#group-
        similar-environments): `production/eu-west` is environment `production` (through the
        map), target `eu-west`, a multi-target rollout's region. A name the map lists whole
        (`review/app: review`) is one environment, no target."""
        lowered = {k.lower() for k in self.environments}
        if "/" in name and name.lower() not in lowered:
            folder, target = name.split("/", 1)
            return self.environment_for(folder), target or None
        return self.environment_for(name), None

    def tag_matches(self, name: str) -> bool:
        return bool(self.tag_pattern and re.search(self.tag_pattern, name))


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def gitlab_time(value: str | None) -> str | None:
    """A GitLab time in any of its spellings -> ISO 8601 in UTC (`...Z`); None stays None."""
    if not value:
        return None
    text = value.strip()
    if text.endswith(" UTC"):
        text = text[: -len(" UTC")] + "+00:00"
    parsed = datetime.fromisoformat(text.replace(" +", "+").replace(" -", "-"))
    if parsed.tzinfo is None:
        raise ValueError(f"GitLab time without a zone: {value!r}")
    parsed = parsed.astimezone(UTC)
    spec = "milliseconds" if parsed.microsecond else "seconds"
    return parsed.isoformat(timespec=spec).replace("+00:00", "Z")


def _username(user: Mapping[str, Any] | None) -> str | None:
    return (user or {}).get("username") or None


def _labels(labels: Sequence[Any] | None) -> list[str]:
    """REST labels are names; webhook labels are objects with a `title`."""
    return [lab["title"] if isinstance(lab, dict) else str(lab) for lab in labels or []]


def pipeline_status(status: str | None) -> str | None:
    """A pipeline's (or job's) status -> ours; None for skipped and unknown words."""
    return _PIPELINE_STATUSES.get(status or "")


def deployment_status(status: str | None) -> str | None:
    """A deployment's status -> ours (DEPLOYMENT_STATUSES); None for words GitLab does not use."""
    return DEPLOYMENT_STATUSES.get(status or "")


def environment_tier(tier: str | None) -> str | None:
    """GitLab's environment tier -> ours; None for `other` or none (inferred from the name)."""
    return ENVIRONMENT_TIERS.get((tier or "").lower())


# ---------------------------------------------------------------------------------------------
# Commits
# ---------------------------------------------------------------------------------------------


def commit_event(repo: str, obj: Mapping[str, Any], *, source: str = "gitlab") -> dict[str, Any]:
    """A REST commit (get a commit, list commits, MR commits) -> a commit event.

    parents: `parent_ids`. The MR commits endpoint answers `parent_ids: []` for every commit,
    so an empty list is read as "not given" and left out (a root commit loses nothing).
    """
    parents = list(obj.get("parent_ids") or [])
    return _clean(
        {
            "type": "commit",
            "source": source,
            "id": f"{repo}@{obj['id']}",
            "repo": repo,
            "sha": obj["id"],
            "parents": parents or None,
            "authored_at": gitlab_time(obj.get("authored_date") or obj.get("created_at")),
            "committed_at": gitlab_time(obj.get("committed_date")),
            "author": obj.get("author_name"),
            "message": obj.get("message"),
        }
    )


def push_commit_events(
    payload: Mapping[str, Any],
    *,
    source: str = "gitlab",
    stored_parents: Callable[[str], list[str] | None] = lambda sha: None,
) -> list[dict[str, Any]]:
    """A Push Hook to a branch -> its commits, with the parents the payload can give.

    GitLab lists the pushed commits oldest first, without parents, the newest 20 at most
    (`total_commits_count` has the real number; docs.gitlab.com/user/project/integrations/
    webhook_events#push-events): commits_between(before, after), or, creating a branch, the
    commits the default branch does not have (Git::BranchHooksService#commits).
    - On an update whose every commit is listed, each commit's parent is the one before it
      and the first one's is `before`.
    - A new branch's first commit has its parent on the default branch, which the hook does
      not name; a cut list's first one has a parent not listed: the one stored before, else
      none, marked `parents_guessed` (the sync replaces them). A new branch's first commit
      other than the default branch's is marked `branch_start` (the branch's name): where a
      merge request from that branch starts (webhook.change_landing).
    - A merge request merged with a merge commit (GitLab's template, "Merge branch 'a' into
      'b'" ... "See merge request", the push's last and only merge commit, on an update)
      lists the MR's commits not yet on the target, then the merge commit: its parents are
      `before` (the target's head GitLab merged into) and the commit listed before it (the
      MR's head); the MR's first listed commit keeps the parent stored for it. Its second
      parent could not be told otherwise: any other push holding a merge commit emits nothing
      (the sync reads the parents).
    """
    project = payload["project"]
    repo = project["path_with_namespace"]
    ref = payload.get("ref") or ""
    after = payload.get("after") or _ZERO_SHA
    if not ref.startswith("refs/heads/") or after == _ZERO_SHA:
        return []  # a tag, or a deleted branch
    commits = list(payload.get("commits") or [])
    before = payload.get("before") or _ZERO_SHA
    complete = int(payload.get("total_commits_count") or len(commits)) == len(commits)
    merges = [i for i, c in enumerate(commits) if _MERGE_MESSAGE.match(c.get("message") or "")]
    merge: Mapping[str, Any] | None = None
    if merges:
        message = commits[-1].get("message") or ""
        if not (
            before != _ZERO_SHA
            and len(commits) > 1
            and merges == [len(commits) - 1]
            and _MR_MERGE_MESSAGE.match(message)
            and _MR_REFERENCE in message
        ):
            return []
        merge, commits = commits[-1], commits[:-1]
    parent = before if before != _ZERO_SHA and complete and merge is None else None
    branch = ref.removeprefix("refs/heads/")
    start = before == _ZERO_SHA and complete and branch != project.get("default_branch")
    events = []
    for c in commits:
        guessed = parent is None
        event = _push_commit_event(repo, c, [parent] if parent else stored_parents(c["id"]), source)
        if guessed:
            event[PARENTS_GUESSED] = True
        if start and not events:
            event[BRANCH_START] = branch
        events.append(event)
        parent = c["id"]
    if merge is not None:
        events.append(_push_commit_event(repo, merge, [before, commits[-1]["id"]], source))
    return events


def _push_commit_event(
    repo: str, c: Mapping[str, Any], parents: list[str] | None, source: str
) -> dict[str, Any]:
    return _clean(
        {
            "type": "commit",
            "source": source,
            "id": f"{repo}@{c['id']}",
            "repo": repo,
            "sha": c["id"],
            "parents": parents,
            "authored_at": gitlab_time(c["timestamp"]),
            "author": (c.get("author") or {}).get("name"),
            "message": c.get("message"),
            "files": [*c.get("added", []), *c.get("modified", []), *c.get("removed", [])],
        }
    )


# ---------------------------------------------------------------------------------------------
# Merge requests
# ---------------------------------------------------------------------------------------------


def landed_commits(mr: Mapping[str, Any], commits: Sequence[str] | None) -> list[str] | None:
    """The shas merging the MR created on its target branch, oldest first (CONTRACT §1).

    GitLab's merge methods (docs.gitlab.com/user/project/merge_requests/methods):
    - merge commit (and semi-linear): `merge_commit_sha`, preceded by `squash_commit_sha`
      when squashed (the merge commit's second parent is then the squash commit);
    - fast-forward with squash: `squash_commit_sha` only;
    - fast-forward without squash: no new commit at all (`merge_commit_sha` is null or the
      MR's head `sha`): the MR's own commits land, given only when `commits` is.
    None when not merged or not derivable.
    """
    if not mr.get("merged_at") and mr.get("state") != "merged":
        return None
    squash, merge = mr.get("squash_commit_sha"), mr.get("merge_commit_sha")
    if merge == mr.get("sha") and mr.get("sha"):
        merge = None  # fast-forward: GitLab names the MR's head
    landed = [sha for sha in (squash, merge) if sha]
    if landed:
        return list(dict.fromkeys(landed))
    return list(commits) if commits else None


def change_event(
    repo: str,
    mr: Mapping[str, Any],
    *,
    commits: Sequence[Mapping[str, Any]] | None = None,
    notes: Sequence[Mapping[str, Any]] | None = None,
    approvals: Mapping[str, Any] | None = None,
    source: str = "gitlab",
) -> dict[str, Any]:
    """A REST merge request (single or list) -> a change event.

    commits: the MR's commits (REST, newest first as GitLab lists them; the event lists them
    oldest first). squash_sha: the squash commit, or, merged by fast-forward without squash,
    the MR's head `sha` (what the target branch then points at). notes: the MR's notes.
    approvals: the MR's approvals object. What is not given is left out, never guessed:
    - merge_sha / squash_sha / landed_commits only when merged (see landed_commits);
    - first_review_at: the earliest note by someone other than the author, a user's comment
      or the system note of an approval (GitHub counts an approving review as a review);
    - approved_at: the latest approval by someone other than the author: the approvals'
      `approved_at` where GitLab gives one, and "approved this merge request" system notes;
    - ready_at (only when notes are given, GitLab keeping the draft history there): the last
      "marked this merge request as **ready**" system note; an MR never a draft is ready
      when created.
    """
    author = _username(mr.get("author"))
    merged = bool(mr.get("merged_at")) or mr.get("state") == "merged"
    shas = [c["id"] for c in reversed(commits)] if commits is not None else None
    event: dict[str, Any] = {
        "type": "change",
        "source": source,
        "id": f"{repo}#{mr['iid']}",
        "repo": repo,
        "number": mr["iid"],
        "title": mr.get("title"),
        "url": mr.get("web_url"),
        "author": author,
        "created_at": gitlab_time(mr["created_at"]),
        "merged_at": gitlab_time(mr.get("merged_at")),
        "closed_at": gitlab_time(mr.get("closed_at")),
        "base": mr.get("target_branch"),
        "head": mr.get("source_branch"),
        "labels": _labels(mr["labels"]) if "labels" in mr else None,
        "updated_at": gitlab_time(mr.get("updated_at")),
    }
    if merged:
        merge = mr.get("merge_commit_sha")
        if merge and merge != mr.get("sha"):
            event["merge_sha"] = merge
        # A fast-forward without squash lands the MR's (rebased) commits as they are: the
        # default branch then points at the MR's head, the sha a merge or squash commit would
        # be (as github_map gives a rebase merge's last copy): CI on it is the change's build.
        fast_forward = not event.get("merge_sha") and not mr.get("squash_commit_sha")
        event["squash_sha"] = mr.get("squash_commit_sha") or (
            mr.get("sha") if fast_forward else None
        )
        event["landed_commits"] = landed_commits(mr, shas)
    if shas is not None:
        event["commits"] = shas
    reviews: list[str] = []
    approved: list[str] = []
    ready: list[str] = []
    drafted = False
    for note in notes or ():
        body = (note.get("body") or "").strip().lower()
        if note.get("system") and body.startswith(_DRAFT_NOTE):
            if body.removeprefix(_DRAFT_NOTE).strip("* ") == "ready":
                ready.append(gitlab_time(note["created_at"]))  # type: ignore[arg-type]
            else:
                drafted = True
        if _username(note.get("author")) == author or not note.get("created_at"):
            continue
        at = gitlab_time(note["created_at"])
        if not note.get("system"):
            reviews.append(at)  # type: ignore[arg-type]
        elif body == _APPROVAL_NOTE:
            reviews.append(at)  # type: ignore[arg-type]
            approved.append(at)  # type: ignore[arg-type]
    for approval in (approvals or {}).get("approved_by") or ():
        if _username(approval.get("user")) != author and approval.get("approved_at"):
            at = gitlab_time(approval["approved_at"])
            reviews.append(at)  # type: ignore[arg-type]
            approved.append(at)  # type: ignore[arg-type]
    if notes is not None:
        if ready:
            event["ready_at"] = _latest(ready)
        elif not (drafted or mr.get("draft") or mr.get("work_in_progress")):
            event["ready_at"] = event["created_at"]
    if notes is not None or approvals is not None:
        event["first_review_at"] = _earliest(reviews)
        event["approved_at"] = _latest(approved)
    return _clean(event)


# ---------------------------------------------------------------------------------------------
# Pipelines and jobs
# ---------------------------------------------------------------------------------------------


def job_entry(job: Mapping[str, Any]) -> dict[str, Any] | None:
    """A job (REST, or a Pipeline Hook's `builds` item) -> a pipeline_run `jobs` item.

    None for a job that did not run: skipped, or still waiting for a manual start.
    """
    if job.get("status") == "manual":
        return None
    status = pipeline_status(job.get("status"))
    if status is None:
        return None
    return _clean(
        {
            "name": job["name"],
            "started_at": gitlab_time(job.get("started_at")),
            "finished_at": gitlab_time(job.get("finished_at")) if status in _FINISHED else None,
            "status": status,
        }
    )


def pipeline_run_event(
    repo: str,
    pipeline: Mapping[str, Any],
    *,
    jobs: Sequence[Mapping[str, Any]] | None = None,
    source: str = "gitlab",
) -> dict[str, Any] | None:
    """A pipeline (REST list or detail, or a Pipeline Hook's `object_attributes`) -> a
    pipeline_run event (None when skipped).

    started_at: the pipeline's `started_at` (detail), else its creation. finished_at: its
    `finished_at` (detail, hook), else `updated_at` once finished (the list has no other).
    """
    status = pipeline_status(pipeline.get("status"))
    if status is None:
        return None
    finished = pipeline.get("finished_at") or pipeline.get("updated_at")
    event = {
        "type": "pipeline_run",
        "source": source,
        "id": f"{repo}:pipeline:{pipeline['id']}",
        "repo": repo,
        "sha": pipeline["sha"],
        "name": pipeline.get("name") or None,
        "branch": pipeline.get("ref"),
        "status": status,
        "trigger": pipeline.get("source"),
        "created_at": gitlab_time(pipeline.get("created_at")),
        "started_at": gitlab_time(pipeline.get("started_at") or pipeline["created_at"]),
        "finished_at": gitlab_time(finished) if status in _FINISHED else None,
    }
    if jobs is not None:
        event["jobs"] = [entry for job in jobs if (entry := job_entry(job)) is not None]
    return _clean(event)


# ---------------------------------------------------------------------------------------------
# Deployments
# ---------------------------------------------------------------------------------------------


def _deployments(
    mapping: GitLabMapping, repo: str, base_id: str, fields: dict[str, Any]
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
        for service in mapping.services_for(repo)
    ]


def deployment_events(
    repo: str, deployment: Mapping[str, Any], mapping: GitLabMapping
) -> list[dict[str, Any]]:
    """A Deployments API object -> one deployment event per service ([] for an unknown status).

    started_at: its job's (`deployable`) start, else the deployment's creation (a deployment
    is created with its pipeline, possibly long before a manual job runs). finished_at, once
    finished: GitLab's `finished_at` where it gives one, else the job's, else `updated_at`.
    environment and target: the name through `GitLabMapping.environment_and_target` (a folder
    `production/eu-west` is production, target eu-west); `environment_tier` (not a CONTRACT field)
    carries GitLab's tier of it, ours (environment_tier), when GitLab gives one.
    """
    if "deployments_api" not in mapping.deployments_from:
        return []
    status = deployment_status(deployment.get("status"))
    if status is None:
        return []
    job = deployment.get("deployable") or {}
    environment = deployment.get("environment") or {}
    finished = None
    if status in _FINISHED:
        finished = deployment.get("finished_at") or job.get("finished_at")
        finished = finished or deployment.get("updated_at")
    ref = deployment.get("ref") or ""
    pipeline = job.get("pipeline") or {}
    name, target = mapping.environment_and_target(environment["name"])
    return _deployments(
        mapping,
        repo,
        f"{repo}:deployment:{deployment['id']}",
        {
            "environment": name,
            "target": target,
            "environment_tier": environment_tier(environment.get("tier")),
            "sha": deployment["sha"],
            "version": ref if ref and mapping.tag_matches(ref) else None,
            "status": status,
            "started_at": gitlab_time(job.get("started_at") or deployment.get("created_at")),
            "finished_at": gitlab_time(finished),
            "trigger": "manual" if job.get("when") == "manual" else None,
            "pipeline_run": f"{repo}:pipeline:{pipeline['id']}" if pipeline.get("id") else None,
            "updated_at": gitlab_time(deployment.get("updated_at")),
        },
    )


def deployment_hook_events(
    payload: Mapping[str, Any], mapping: GitLabMapping
) -> list[dict[str, Any]]:
    """A Deployment Hook -> one deployment event per service ([] for an unknown status).

    The hook gives the status and when it changed (`status_changed_at`): the finish of a
    finished deployment, the start of a running one. The sha is the end of `commit_url` (the
    hook has `short_sha` only).
    """
    if "deployments_api" not in mapping.deployments_from:
        return []
    status = deployment_status(payload.get("status"))
    if status is None:
        return []
    repo = payload["project"]["path_with_namespace"]
    at = gitlab_time(payload.get("status_changed_at"))
    tail = (payload.get("commit_url") or "").rstrip("/").rsplit("/", 1)[-1]
    ref = payload.get("ref") or ""
    name, target = mapping.environment_and_target(payload["environment"])
    return _deployments(
        mapping,
        repo,
        f"{repo}:deployment:{payload['deployment_id']}",
        {
            "environment": name,
            "target": target,
            "environment_tier": environment_tier(payload.get("environment_tier")),
            "sha": tail if _FULL_SHA.fullmatch(tail) else None,
            "version": ref if ref and mapping.tag_matches(ref) else None,
            "status": status,
            "started_at": at if status == "running" else None,
            "finished_at": at if status in _FINISHED else None,
        },
    )


def release_deployment_events(
    repo: str, release: Mapping[str, Any], mapping: GitLabMapping
) -> list[dict[str, Any]]:
    """A release (REST, or a Release Hook) whose tag matches `tag_pattern` -> deployments at
    its `released_at` (a release dated in the future, GitLab's "upcoming release", is not one
    yet: the caller passes only released ones)."""
    tag = release.get("tag_name") or release.get("tag") or ""
    if "releases" not in mapping.deployments_from or not mapping.tag_matches(tag):
        return []
    released = release.get("released_at") or release.get("created_at")
    if not released:
        return []
    commit = release.get("commit") or {}
    sha = commit.get("id") or ""
    return _deployments(
        mapping,
        repo,
        f"{repo}:release:{tag}",
        {
            "environment": mapping.environment_for(mapping.release_environment),
            "version": tag,
            "sha": sha if _FULL_SHA.fullmatch(sha) else None,
            "status": "success",
            "finished_at": gitlab_time(released),
        },
    )


def tag_deployment_events(
    repo: str, name: str, sha: str, tagged_at: str | None, mapping: GitLabMapping
) -> list[dict[str, Any]]:
    """A tag `name` on commit `sha` that matches `tag_pattern` -> deployments to the release
    environment at `tagged_at` (its commit's time: GitLab gives a tag no time of its own).
    The one mapping of a tag, whether a Tag Push Hook or the tags list told of it."""
    if "tags" not in mapping.deployments_from or not mapping.tag_matches(name):
        return []
    if not tagged_at or not _FULL_SHA.fullmatch(sha or "") or sha == _ZERO_SHA:
        return []
    return _deployments(
        mapping,
        repo,
        f"{repo}:tag:{name}",
        {
            "environment": mapping.environment_for(mapping.release_environment),
            "version": name,
            "sha": sha,
            "status": "success",
            "finished_at": gitlab_time(tagged_at),
        },
    )


def tag_push_deployment_events(
    payload: Mapping[str, Any], mapping: GitLabMapping
) -> list[dict[str, Any]]:
    """A Tag Push Hook creating a tag -> tag_deployment_events at the tagged commit's time (the
    commit is among `commits`; its `timestamp`). A deleted tag gives nothing."""
    name = (payload.get("ref") or "").removeprefix("refs/tags/")
    sha = payload.get("checkout_sha") or payload.get("after") or _ZERO_SHA
    commit = next((c for c in payload.get("commits") or [] if c.get("id") == sha), None)
    if commit is None:
        return []
    repo = payload["project"]["path_with_namespace"]
    return tag_deployment_events(repo, name, sha, commit.get("timestamp"), mapping)


def rest_tag_deployment_events(
    repo: str, tag: Mapping[str, Any], mapping: GitLabMapping
) -> list[dict[str, Any]]:
    """A tag of GET /projects/:id/repository/tags -> tag_deployment_events at its commit's
    `committed_date` (what a Tag Push Hook's commit `timestamp` is)."""
    commit = tag.get("commit") or {}
    return tag_deployment_events(
        repo, tag["name"], commit.get("id") or "", commit.get("committed_date"), mapping
    )


# ---------------------------------------------------------------------------------------------
# Incidents
# ---------------------------------------------------------------------------------------------


def issue_is_incident(issue: Mapping[str, Any], mapping: GitLabMapping) -> bool:
    """GitLab's incident type (`issue_type`/`type`), or the source's incident label."""
    kind = str(issue.get("issue_type") or issue.get("type") or "").lower()
    label = mapping.incident_label.lower()
    return kind == "incident" or any(n.lower() == label for n in _labels(issue.get("labels")))


def incident_events(
    repo: str, issue: Mapping[str, Any], mapping: GitLabMapping
) -> list[dict[str, Any]]:
    """An incident issue (REST, or a Issue Hook's `object_attributes`) -> one incident per
    service of the project.

    opened_at: creation; resolved_at: closing (absent while open). severity: GitLab's
    incident severity (critical/high/medium/low -> sev1..sev4), else a `sevN` label. A label
    naming a service of the project (`service:<name>` or the bare name) narrows it to that one.
    """
    if not issue_is_incident(issue, mapping):
        return []
    labels = _labels(issue.get("labels"))
    configured = mapping.services_for(repo)
    named = [
        s
        for s in configured
        if any(n.lower() in (s.lower(), f"service:{s}".lower()) for n in labels)
    ]
    severity = _SEVERITIES.get(str(issue.get("severity") or "").lower()) or next(
        (f"sev{m.group(1)}" for n in labels if (m := _SEVERITY_LABEL.match(n.strip()))), None
    )
    closed = issue.get("state") == "closed"
    return [
        _clean(
            {
                "type": "incident",
                "source": mapping.source,
                "id": f"{repo}:issue:{issue['iid']}@{service}",
                "service": service,
                "title": issue.get("title"),
                "severity": severity,
                "opened_at": gitlab_time(issue["created_at"]),
                "resolved_at": gitlab_time(issue.get("closed_at")) if closed else None,
                "updated_at": gitlab_time(issue.get("updated_at")),
            }
        )
        for service in (named or configured)
    ]
