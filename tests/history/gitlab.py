"""A History as GitLab holds it (REST v4 objects for tests/fake_gitlab.py) and as GitLab tells
it (webhook deliveries, in the order GitLab would send them).

Objects start from the shared captured payloads (tests/fixtures/shared/gitlab: rest/,
webhooks/, devlake-raw/) and take the history's shas, times, numbers and people. A pull
request is a merge request (iid = its number) of a project whose merge method fits its style
(docs.gitlab.com/user/project/merge_requests/methods):
- merge: a merge commit (`merge_commit_sha`);
- squash: fast-forward with squash (`squash_commit_sha` only, no merge commit);
- rebase: fast-forward without squash: GitLab rebases the source branch and moves the target
  to it, so the MR's commits are then the rebased copies (what `/commits` lists), and there is
  no merge commit (`merge_commit_sha` null).
Reviews: a comment by the reviewer at first_review_at (a Note Hook among the deliveries), the
system note "approved this merge request" at approved_at. A merge commit's message is GitLab's
default template ("Merge branch '<head>' into '<base>'" ... "See merge request <repo>!<n>").
A deployment's region is its environment's folder
(`production/eu-west`: GitLab's grouped environments, mapper.environment_and_target).
Incidents are issues labelled `incident` and `sev<n>`.
"""

from __future__ import annotations

import copy
import csv
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tests.fake_gitlab import FakeGitLab
from tests.history.scenario import (
    CiRun,
    Deployment,
    GitCommit,
    History,
    Incident,
    PullRequest,
    Push,
)
from tests.history.scenario import _iso as iso
from tests.shared import shared_fixture

NOTE_HOOK = (
    Path(__file__).parents[1] / "fixtures" / "gitlab" / "webhooks" / "note_merge_request.json"
)

PROJECT_ID = 4242
ZERO_SHA = "0" * 40
# An incident's severity as GitLab names it (sev1 is critical ... sev4 low).
SEVERITIES = {1: "critical", 2: "high", 3: "medium", 4: "low"}
HOOK_EVENTS = {
    "push": "Push Hook",
    "merge_request": "Merge Request Hook",
    "note": "Note Hook",
    "pipeline": "Pipeline Hook",
    "deployment": "Deployment Hook",
    "issue": "Issue Hook",
}


def _fixture(*parts: str) -> Any:
    return json.loads(shared_fixture("gitlab", *parts).read_text())


def _devlake(table: str) -> dict[str, Any]:
    """The first row's object of a DevLake raw table (a real GitLab REST answer)."""
    path = shared_fixture("gitlab", "devlake-raw", f"_raw_gitlab_api_{table}.csv")
    csv.field_size_limit(1 << 26)
    with path.open(newline="") as f:
        return json.loads(next(csv.DictReader(f))["data"])


def _user(username: str) -> dict[str, Any]:
    return {
        "id": sum(map(ord, username)),
        "username": username,
        "name": username,
        "state": "active",
        "web_url": f"https://gitlab.example.com/{username}",
    }


def _hook_time(t: datetime) -> str:
    """GitLab's hook spelling of a time (`2021-04-28 21:50:00 UTC`)."""
    return t.strftime("%Y-%m-%d %H:%M:%S UTC")


def _project(history: History) -> dict[str, Any]:
    project = copy.deepcopy(_fixture("webhooks", "push.json")["project"])
    namespace, name = history.repo.rsplit("/", 1)
    project.update(
        id=PROJECT_ID,
        name=name,
        namespace=namespace,
        path_with_namespace=history.repo,
        default_branch=history.default_branch,
        web_url=f"https://gitlab.example.com/{history.repo}",
    )
    return project


# ---------------------------------------------------------------------------------------------
# REST objects
# ---------------------------------------------------------------------------------------------


def rest_commit(c: GitCommit, *, parents: bool = True) -> dict[str, Any]:
    """A commit as the commits list gives it; the MR commits list gives no parents."""
    obj = copy.deepcopy(_fixture("rest", "get_commit.json"))
    for key in ("last_pipeline", "stats", "status", "project_id"):
        obj.pop(key, None)
    title = c.message.splitlines()[0]
    obj.update(
        id=c.sha,
        short_id=c.sha[:11],
        title=title,
        message=c.message,
        author_name=c.author,
        author_email=f"{c.author}@example.com",
        committer_name=c.author,
        committer_email=f"{c.author}@example.com",
        authored_date=iso(c.authored_at),
        committed_date=iso(c.committed_at),
        created_at=iso(c.committed_at),
        parent_ids=list(c.parents) if parents else [],
    )
    return obj


def mr_commits(pr: PullRequest) -> tuple[GitCommit, ...]:
    """The MR's commits once merged, oldest first: a rebase merge rebased the branch itself."""
    return pr.landed if pr.style == "rebase" else pr.branch


def rest_merge_request(history: History, pr: PullRequest, *, merged: bool = True) -> dict:
    obj = copy.deepcopy(_fixture("rest", "get_merge_request.json"))
    head = mr_commits(pr)[-1].sha if merged else pr.branch[-1].sha
    obj.update(
        id=900000 + pr.number,
        iid=pr.number,
        project_id=PROJECT_ID,
        source_project_id=PROJECT_ID,
        target_project_id=PROJECT_ID,
        title=pr.title,
        description="",
        state="merged" if merged else "opened",
        created_at=iso(pr.created_at),
        updated_at=iso(pr.merged_at if merged else pr.created_at),
        merged_at=iso(pr.merged_at) if merged else None,
        merged_by=_user(pr.reviewer) if merged else None,
        closed_at=None,
        closed_by=None,
        target_branch=history.default_branch,
        source_branch=pr.head,
        author=_user(pr.author),
        labels=list(pr.labels),
        draft=False,
        work_in_progress=False,
        sha=head,
        squash=pr.style == "squash",
        merge_commit_sha=pr.landed[-1].sha if merged and pr.style == "merge" else None,
        squash_commit_sha=pr.landed[-1].sha if merged and pr.style == "squash" else None,
        web_url=f"https://gitlab.example.com/{history.repo}/-/merge_requests/{pr.number}",
        reference=f"!{pr.number}",
    )
    for key in ("assignee", "assignees", "reviewers", "pipeline", "head_pipeline", "user"):
        obj.pop(key, None)
    return obj


def rest_notes(pr: PullRequest) -> list[dict[str, Any]]:
    """The reviewer's comment, then GitLab's system note of the approval, oldest first."""
    notes = []
    for i, (body, system, at) in enumerate(
        (
            ("Looks good, one question inline.", False, pr.first_review_at),
            ("approved this merge request", True, pr.approved_at),
        )
    ):
        notes.append(
            {
                "id": pr.number * 10 + i,
                "type": None,
                "body": body,
                "author": _user(pr.reviewer),
                "created_at": iso(at),
                "updated_at": iso(at),
                "system": system,
                "noteable_id": 900000 + pr.number,
                "noteable_type": "MergeRequest",
                "noteable_iid": pr.number,
                "resolvable": False,
            }
        )
    return notes


def rest_approvals(pr: PullRequest) -> dict[str, Any]:
    return {
        "id": 900000 + pr.number,
        "iid": pr.number,
        "project_id": PROJECT_ID,
        "state": "merged",
        "approved": True,
        "approvals_required": 1,
        "approvals_left": 0,
        "approved_by": [{"user": _user(pr.reviewer)}],
    }


def rest_pipeline(history: History, run: CiRun) -> dict[str, Any]:
    """A pipeline's detail (the fake's list answers it too)."""
    obj = copy.deepcopy(_devlake("pipeline_details"))
    obj.update(
        id=run.id,
        iid=run.id - 4999,
        project_id=PROJECT_ID,
        name="build",
        sha=run.sha,
        before_sha=ZERO_SHA,
        ref=history.default_branch,
        status=run.conclusion,
        source="push",
        created_at=iso(run.created_at),
        started_at=iso(run.created_at),
        updated_at=iso(run.finished_at),
        finished_at=iso(run.finished_at),
        duration=int((run.finished_at - run.created_at).total_seconds()),
        web_url=f"https://gitlab.example.com/{history.repo}/-/pipelines/{run.id}",
    )
    return obj


def rest_job(history: History, run: CiRun) -> dict[str, Any]:
    return {
        "id": run.id * 10,
        "name": "test",
        "stage": "test",
        "status": run.conclusion,
        "ref": history.default_branch,
        "tag": False,
        "allow_failure": False,
        "created_at": iso(run.created_at),
        "started_at": iso(run.job_started_at),
        "finished_at": iso(run.job_finished_at),
        "pipeline": {"id": run.id, "sha": run.sha, "ref": history.default_branch},
    }


def environment_name(d: Deployment) -> str:
    return f"{d.environment}/{d.target}" if d.target else d.environment


def rest_deployment(history: History, d: Deployment) -> dict[str, Any]:
    obj = copy.deepcopy(_devlake("deployments"))
    status = "success" if d.state == "success" else "failed"
    name = environment_name(d)
    obj.update(
        id=d.id,
        iid=d.id - 799,
        ref=history.default_branch,
        sha=d.sha,
        status=status,
        created_at=iso(d.created_at),
        updated_at=iso(d.finished_at),
        finished_at=iso(d.finished_at),
    )
    obj["environment"] = {
        **obj["environment"],
        "id": 600 + sum(map(ord, name)),
        "name": name,
        "slug": name.replace("/", "-"),
        "tier": d.environment,
    }
    job = obj["deployable"]
    for key in ("pipeline", "when", "commit"):
        job.pop(key, None)
    job.update(
        id=d.id * 10,
        status=status,
        ref=history.default_branch,
        created_at=iso(d.created_at),
        started_at=iso(d.created_at),
        finished_at=iso(d.finished_at),
    )
    return obj


def rest_issue(history: History, i: Incident, *, closed: bool = True) -> dict[str, Any]:
    return {
        "id": 700000 + i.number,
        "iid": i.number,
        "project_id": PROJECT_ID,
        "title": i.title,
        "description": "",
        "state": "closed" if closed else "opened",
        "issue_type": "incident",
        "type": "INCIDENT",
        "labels": ["incident", f"sev{i.severity}"],
        "created_at": iso(i.opened_at),
        "updated_at": iso(i.resolved_at if closed else i.opened_at),
        "closed_at": iso(i.resolved_at) if closed else None,
        "author": _user("oncall"),
        "web_url": f"https://gitlab.example.com/{history.repo}/-/issues/{i.number}",
    }


def fake_gitlab_load(server: FakeGitLab, history: History) -> None:
    """Put the history's objects in the fake GitLab (it orders and pages them itself)."""
    project = server.project(history.repo, PROJECT_ID)
    project.commits = [rest_commit(c) for c in history.reachable()]
    for pr in history.pulls:
        project.mrs.append(rest_merge_request(history, pr))
        project.mr_commits[pr.number] = [
            rest_commit(c, parents=False) for c in reversed(mr_commits(pr))
        ]
        project.notes[pr.number] = rest_notes(pr)
        project.approvals[pr.number] = rest_approvals(pr)
    for run in history.runs:
        project.pipelines.append(rest_pipeline(history, run))
        project.jobs[run.id] = [rest_job(history, run)]
    project.deployments = [rest_deployment(history, d) for d in history.deployments]
    project.issues = [rest_issue(history, i) for i in history.incidents]


# ---------------------------------------------------------------------------------------------
# Webhook deliveries
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    at: datetime
    order: int  # breaks ties between deliveries of one moment, in the order GitLab sends them
    event: str  # X-Gitlab-Event
    payload: dict[str, Any]


def merge_message(history: History, pr: PullRequest) -> str:
    """GitLab's default merge commit message (docs.gitlab.com/user/project/merge_requests/
    commit_templates)."""
    return (
        f"Merge branch '{pr.head}' into '{history.default_branch}'\n\n{pr.title}\n\n"
        f"See merge request {history.repo}!{pr.number}"
    )


def _push(history: History, push: Push) -> dict[str, Any]:
    payload = copy.deepcopy(_fixture("webhooks", "push.json"))
    merges = {
        pr.landed[-1].sha: merge_message(history, pr) for pr in history.pulls if pr.style == "merge"
    }
    commits = [
        {
            "id": c.sha,
            "message": merges.get(c.sha, c.message),
            "title": c.message.splitlines()[0],
            "timestamp": iso(c.authored_at),
            "url": f"https://gitlab.example.com/{history.repo}/-/commit/{c.sha}",
            "author": {"name": c.author, "email": f"{c.author}@example.com"},
            "added": [],
            "modified": ["README.md"],
            "removed": [],
        }
        for c in push.commits
    ]
    payload.update(
        before=push.before or ZERO_SHA,
        after=push.commits[-1].sha,
        checkout_sha=push.commits[-1].sha,
        ref=f"refs/heads/{push.branch}",
        user_username=push.pusher,
        user_name=push.pusher,
        project_id=PROJECT_ID,
        project=_project(history),
        commits=commits[-20:],  # a Push Hook lists at most 20
        total_commits_count=len(commits),
    )
    return payload


def _merge_request_hook(
    history: History, pr: PullRequest, action: str, user: str, at: datetime
) -> dict[str, Any]:
    payload = copy.deepcopy(_fixture("webhooks", "merge_request.json"))
    merged = action == "merge"
    head = mr_commits(pr)[-1] if merged else pr.branch[-1]
    attrs = payload["object_attributes"]
    attrs.update(
        id=900000 + pr.number,
        iid=pr.number,
        title=pr.title,
        author_id=_user(pr.author)["id"],
        created_at=_hook_time(pr.created_at),
        updated_at=_hook_time(at),
        state="merged" if merged else "opened",
        target_branch=history.default_branch,
        source_branch=pr.head,
        source_project_id=PROJECT_ID,
        target_project_id=PROJECT_ID,
        work_in_progress=False,
        draft=False,
        url=f"https://gitlab.example.com/{history.repo}/-/merge_requests/{pr.number}",
        labels=[{"id": 200 + i, "title": label} for i, label in enumerate(pr.labels)],
        action=action,
        merge_commit_sha=pr.landed[-1].sha if merged and pr.style == "merge" else None,
        squash_commit_sha=pr.landed[-1].sha if merged and pr.style == "squash" else None,
    )
    attrs["last_commit"] = {
        **attrs["last_commit"],
        "id": head.sha,
        "message": head.message,
        "title": head.message.splitlines()[0],
        "timestamp": iso(head.authored_at),
    }
    attrs["source"] = attrs["target"] = _project(history)
    payload.update(user={**payload["user"], **_user(user)}, project=_project(history))
    payload["labels"] = attrs["labels"]
    payload.pop("changes", None)
    return payload


def mr_url(history: History, pr: PullRequest) -> str:
    return f"https://gitlab.example.com/{history.repo}/-/merge_requests/{pr.number}"


def _note_hook(history: History, pr: PullRequest) -> dict[str, Any]:
    """The reviewer's comment on the merge request (GitLab docs' "Comment on a merge request"
    example, tests/fixtures/gitlab/README.md)."""
    payload = json.loads(NOTE_HOOK.read_text())
    reviewer = _user(pr.reviewer)
    payload["user"] = {**payload["user"], **reviewer}
    payload.update(project_id=PROJECT_ID, project=_project(history))
    payload["object_attributes"].update(
        id=pr.number * 10,
        note="Looks good, one question inline.",
        author_id=reviewer["id"],
        created_at=_hook_time(pr.first_review_at),
        updated_at=_hook_time(pr.first_review_at),
        project_id=PROJECT_ID,
        noteable_id=900000 + pr.number,
        url=f"{mr_url(history, pr)}#note_{pr.number * 10}",
    )
    mr = payload["merge_request"]
    mr.update(
        id=900000 + pr.number,
        iid=pr.number,
        title=pr.title,
        author_id=_user(pr.author)["id"],
        target_branch=history.default_branch,
        source_branch=pr.head,
        source_project_id=PROJECT_ID,
        target_project_id=PROJECT_ID,
        created_at=_hook_time(pr.created_at),
        updated_at=_hook_time(pr.first_review_at),
        labels=[{"id": 200 + i, "title": label} for i, label in enumerate(pr.labels)],
        source=_project(history),
        target=_project(history),
    )
    head = pr.branch[-1]
    mr["last_commit"] = {
        **mr["last_commit"],
        "id": head.sha,
        "message": head.message,
        "timestamp": iso(head.authored_at),
        "url": f"https://gitlab.example.com/{history.repo}/-/commit/{head.sha}",
    }
    return payload


def _pipeline_hook(history: History, run: CiRun, *, done: bool) -> dict[str, Any]:
    payload = copy.deepcopy(_fixture("webhooks", "pipeline.json"))
    payload.pop("merge_request", None)
    payload.pop("source_pipeline", None)
    payload["object_attributes"].update(
        id=run.id,
        iid=run.id - 4999,
        name="build",
        ref=history.default_branch,
        sha=run.sha,
        before_sha=ZERO_SHA,
        source="push",
        status=run.conclusion if done else "running",
        detailed_status="passed" if done else "running",
        created_at=_hook_time(run.created_at),
        finished_at=_hook_time(run.finished_at) if done else None,
        variables=[],
    )
    job = {
        **copy.deepcopy(payload["builds"][0]),
        "id": run.id * 10,
        "stage": "test",
        "name": "test",
        "status": run.conclusion if done else "running",
        "created_at": _hook_time(run.created_at),
        "started_at": _hook_time(run.job_started_at),
        "finished_at": _hook_time(run.job_finished_at) if done else None,
        "when": "on_success",
        "manual": False,
        "environment": None,
    }
    payload["builds"] = [job]
    payload["commit"] = {**payload["commit"], "id": run.sha}
    payload["project"] = _project(history)
    return payload


def _deployment_hook(history: History, d: Deployment, status: str, at: datetime) -> dict:
    payload = copy.deepcopy(_fixture("webhooks", "deployment.json"))
    name = environment_name(d)
    payload.update(
        status=status,
        status_changed_at=_hook_time(at),
        deployment_id=d.id,
        deployable_id=d.id * 10,
        environment=name,
        environment_slug=name.replace("/", "-"),
        short_sha=d.sha[:8],
        commit_url=f"https://gitlab.example.com/{history.repo}/-/commit/{d.sha}",
        ref=history.default_branch,
        project=_project(history),
    )
    return payload


def _issue_hook(history: History, i: Incident, action: str) -> dict[str, Any]:
    payload = copy.deepcopy(_fixture("webhooks", "issue.json"))
    closed = action == "close"
    rest = rest_issue(history, i, closed=closed)
    labels = [{"id": 300 + n, "title": title} for n, title in enumerate(rest["labels"])]
    payload["object_attributes"].update(
        id=rest["id"],
        iid=i.number,
        title=i.title,
        created_at=_hook_time(i.opened_at),
        updated_at=_hook_time(i.resolved_at if closed else i.opened_at),
        closed_at=_hook_time(i.resolved_at) if closed else None,
        state="closed" if closed else "opened",
        action=action,
        type="Incident",
        issue_type="incident",
        severity=SEVERITIES[i.severity],
        labels=labels,
    )
    payload.update(project=_project(history), labels=labels)
    payload.pop("changes", None)
    return payload


def webhook_deliveries(history: History) -> list[Delivery]:
    """Every delivery GitLab sends for the history (Push, Merge Request, Note, Pipeline,
    Deployment and Issue Hooks), in time order."""
    out: list[Delivery] = []
    for push in history.pushes:
        out.append(Delivery(push.at, 0, HOOK_EVENTS["push"], _push(history, push)))
    for pr in history.pulls:
        for action, user, at in (
            ("open", pr.author, pr.created_at),
            ("approved", pr.reviewer, pr.approved_at),
            ("merge", pr.reviewer, pr.merged_at),
        ):
            payload = _merge_request_hook(history, pr, action, user, at)
            out.append(Delivery(at, 1, HOOK_EVENTS["merge_request"], payload))
        note = _note_hook(history, pr)
        out.append(Delivery(pr.first_review_at, 1, HOOK_EVENTS["note"], note))
    for run in history.runs:
        for done, at in ((False, run.created_at), (True, run.finished_at)):
            out.append(
                Delivery(at, 0, HOOK_EVENTS["pipeline"], _pipeline_hook(history, run, done=done))
            )
    for d in history.deployments:
        final = "success" if d.state == "success" else "failed"
        for status, at in (("running", d.created_at), (final, d.finished_at)):
            payload = _deployment_hook(history, d, status, at)
            out.append(Delivery(at, 0, HOOK_EVENTS["deployment"], payload))
    for i in history.incidents:
        for action, at in (("open", i.opened_at), ("close", i.resolved_at)):
            out.append(Delivery(at, 0, HOOK_EVENTS["issue"], _issue_hook(history, i, action)))
    return sorted(out, key=lambda d: (d.at, d.order))
