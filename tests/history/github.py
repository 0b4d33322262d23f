"""A History as GitHub holds it (REST objects for tests/fake_github.py) and as GitHub tells it
(webhook deliveries, in the order GitHub would send them).

Objects start from the shared captured payloads (../shared/fixtures/github) and take the
history's shas, times, numbers and people. Deployments name their region in the deployment
payload (`payload.region`: github_map's target); incidents are issues labelled `incident`
(and `sev<n>`).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tests.fake_github import FakeGitHub, rest_example
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

ZERO_SHA = "0" * 40


def _webhook_example(path: str) -> dict[str, Any]:
    return json.loads(shared_fixture("github", "webhooks", path).read_text())


def _user(login: str) -> dict[str, Any]:
    return {"login": login, "id": sum(map(ord, login)), "type": "User"}


def _repository(history: History) -> dict[str, Any]:
    repo = copy.deepcopy(_webhook_example("push/with-new-branch.payload.json")["repository"])
    owner, name = history.repo.split("/")
    repo.update(
        full_name=history.repo,
        name=name,
        default_branch=history.default_branch,
        master_branch=history.default_branch,
    )
    repo["owner"] = {**repo["owner"], "login": owner, "name": owner}
    return repo


# ---------------------------------------------------------------------------------------------
# REST objects
# ---------------------------------------------------------------------------------------------


def rest_commit(c: GitCommit) -> dict[str, Any]:
    obj = copy.deepcopy(rest_example("repos__list-commits")[0])
    obj["sha"] = c.sha
    obj["commit"]["author"].update(name=c.author, date=iso(c.authored_at))
    obj["commit"]["committer"].update(name=c.author, date=iso(c.committed_at))
    obj["commit"]["message"] = c.message
    obj["author"] = {**obj["author"], **_user(c.author)}
    obj["committer"] = {**obj["committer"], **_user(c.author)}
    obj["parents"] = [{"sha": p} for p in c.parents]
    return obj


def rest_pull(history: History, pr: PullRequest, *, state: str = "closed") -> dict[str, Any]:
    obj = copy.deepcopy(rest_example("pulls__list")[0])
    merged = state == "closed"
    obj.update(
        number=pr.number,
        title=pr.title,
        state=state,
        draft=False,
        created_at=iso(pr.created_at),
        updated_at=iso(pr.merged_at if merged else pr.created_at),
        closed_at=iso(pr.merged_at) if merged else None,
        merged_at=iso(pr.merged_at) if merged else None,
        merge_commit_sha=pr.merge_commit_sha if merged else None,
    )
    obj["user"] = {**obj["user"], **_user(pr.author)}
    obj["labels"] = [{"name": label} for label in pr.labels]
    obj["base"] = {**obj["base"], "ref": history.default_branch}
    obj["head"] = {**obj["head"], "ref": pr.head, "sha": pr.branch[-1].sha}
    return obj


def rest_reviews(pr: PullRequest) -> list[dict[str, Any]]:
    reviews = []
    for i, (state, at) in enumerate(
        (("COMMENTED", pr.first_review_at), ("APPROVED", pr.approved_at))
    ):
        review = copy.deepcopy(rest_example("pulls__list-reviews")[0])
        review.update(id=pr.number * 10 + i, state=state, submitted_at=iso(at))
        review["user"] = {**review["user"], **_user(pr.reviewer)}
        reviews.append(review)
    return reviews


def rest_run(history: History, run: CiRun, *, done: bool = True) -> dict[str, Any]:
    obj = copy.deepcopy(rest_example("actions__list-workflow-runs-for-repo")["workflow_runs"][0])
    obj.update(
        id=run.id,
        name="build",
        head_sha=run.sha,
        head_branch=history.default_branch,
        event="push",
        status="completed" if done else "queued",
        conclusion=run.conclusion if done else None,
        created_at=iso(run.created_at),
        run_started_at=iso(run.created_at),
        updated_at=iso(run.finished_at if done else run.created_at),
        run_attempt=1,
    )
    return obj


def rest_job(history: History, run: CiRun) -> dict[str, Any]:
    obj = copy.deepcopy(rest_example("actions__list-jobs-for-workflow-run")["jobs"][0])
    obj.update(
        id=run.id * 10,
        run_id=run.id,
        run_attempt=1,
        name="test",
        head_sha=run.sha,
        head_branch=history.default_branch,
        status="completed",
        conclusion=run.conclusion,
        created_at=iso(run.created_at),
        started_at=iso(run.job_started_at),
        completed_at=iso(run.job_finished_at),
    )
    return obj


def rest_deployment(history: History, d: Deployment) -> dict[str, Any]:
    obj = copy.deepcopy(rest_example("repos__list-deployments")[0])
    obj.update(
        id=d.id,
        sha=d.sha,
        ref=history.default_branch,
        task="deploy",
        environment=d.environment,
        original_environment=d.environment,
        created_at=iso(d.created_at),
        updated_at=iso(d.finished_at),
        payload={"region": d.target} if d.target else {},
        performed_via_github_app=None,
    )
    return obj


def rest_statuses(d: Deployment) -> list[dict[str, Any]]:
    """The deployment's one status, its outcome (the deployer posts no in-progress status)."""
    status = copy.deepcopy(rest_example("repos__list-deployment-statuses")[0])
    status.update(
        id=d.id * 10, state=d.state, environment=d.environment, created_at=iso(d.finished_at)
    )
    return [status]


def rest_issue(i: Incident, *, closed: bool = True) -> dict[str, Any]:
    obj = copy.deepcopy(rest_example("issues__list-for-repo")[0])
    obj.pop("pull_request", None)
    obj.update(
        number=i.number,
        title=i.title,
        labels=[{"name": "incident"}, {"name": f"sev{i.severity}"}],
        state="closed" if closed else "open",
        created_at=iso(i.opened_at),
        updated_at=iso(i.resolved_at if closed else i.opened_at),
        closed_at=iso(i.resolved_at) if closed else None,
    )
    return obj


def fake_github_load(server: FakeGitHub, history: History) -> None:
    """Put the history's objects in the fake GitHub, each list newest first as GitHub's."""
    repo = server.repo(history.repo, history.since)
    repo.commits = [rest_commit(c) for c in history.reachable()]
    pulls = sorted(history.pulls, key=lambda p: p.merged_at, reverse=True)
    repo.pulls = [rest_pull(history, pr) for pr in pulls]
    for pr in history.pulls:
        repo.pull_commits[pr.number] = [rest_commit(c) for c in pr.branch]
        repo.reviews[pr.number] = rest_reviews(pr)
    for run in reversed(history.runs):
        repo.runs.append(rest_run(history, run))
        repo.jobs[run.id] = [rest_job(history, run)]
    for d in reversed(history.deployments):
        repo.deployments.append(rest_deployment(history, d))
        repo.statuses[d.id] = rest_statuses(d)
    repo.issues = [
        rest_issue(i) for i in sorted(history.incidents, key=lambda i: i.resolved_at, reverse=True)
    ]


# ---------------------------------------------------------------------------------------------
# Webhook deliveries
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    at: datetime
    order: int  # breaks ties between deliveries of one moment, in the order GitHub sends them
    event: str
    payload: dict[str, Any]


def _push(history: History, push: Push, seen: set[str]) -> dict[str, Any]:
    commits = []
    for c in push.commits:
        commits.append(
            {
                "id": c.sha,
                "tree_id": c.sha,
                # A merge push lists the branch's commits too, already known to the repository.
                "distinct": c.sha not in seen,
                "message": c.message,
                "timestamp": iso(c.authored_at),
                "url": f"https://github.com/{history.repo}/commit/{c.sha}",
                "author": {
                    "name": c.author,
                    "email": f"{c.author}@example.com",
                    "username": c.author,
                },
                "committer": {
                    "name": c.author,
                    "email": f"{c.author}@example.com",
                    "username": c.author,
                },
                "added": [],
                "removed": [],
                "modified": ["README.md"],
            }
        )
    payload = {
        "ref": f"refs/heads/{push.branch}",
        "before": push.before or ZERO_SHA,
        "after": push.commits[-1].sha,
        "created": push.before is None,
        "deleted": False,
        "forced": False,
        "base_ref": None,
        "compare": f"https://github.com/{history.repo}/compare/{push.commits[-1].sha}",
        "commits": commits,
        "head_commit": commits[-1],
        "repository": _repository(history),
        "pusher": {"name": push.pusher, "email": f"{push.pusher}@example.com"},
        "sender": _user(push.pusher),
    }
    seen.update(c.sha for c in push.commits)
    return payload


def _pull_payload(
    history: History, pr: PullRequest, action: str, *, state: str, updated: datetime
) -> dict[str, Any]:
    pull = rest_pull(history, pr, state=state)
    pull["updated_at"] = iso(updated)
    pull["merged"] = state == "closed"
    # A webhook's pull request is the full object (GET /pulls/{n}), which counts its commits;
    # the list's items, which rest_pull starts from, do not.
    pull["commits"] = len(pr.branch)
    return {
        "action": action,
        "number": pr.number,
        "pull_request": pull,
        "repository": _repository(history),
        "sender": _user(pr.author),
    }


def webhook_deliveries(history: History) -> list[Delivery]:
    """Every delivery GitHub sends for the history (push, pull_request, pull_request_review,
    workflow_run, workflow_job, deployment, deployment_status, issues), in time order."""
    out: list[Delivery] = []

    def add(at: datetime, order: int, event: str, payload: dict[str, Any]) -> None:
        out.append(Delivery(at, order, event, payload))

    repository = _repository(history)
    seen: set[str] = set()
    for push in history.pushes:
        add(push.at, 0, "push", _push(history, push, seen))
    for pr in history.pulls:
        add(
            pr.created_at,
            1,
            "pull_request",
            _pull_payload(history, pr, "opened", state="open", updated=pr.created_at),
        )
        for review in rest_reviews(pr):
            at = datetime.fromisoformat(review["submitted_at"])
            payload = _pull_payload(history, pr, "submitted", state="open", updated=at)
            payload["review"] = {**review, "state": review["state"].lower()}
            add(at, 1, "pull_request_review", payload)
        add(
            pr.merged_at,
            1,
            "pull_request",
            _pull_payload(history, pr, "closed", state="closed", updated=pr.merged_at),
        )
    for run in history.runs:
        workflow = {"id": 159038, "name": "build", "path": ".github/workflows/build.yml"}
        add(
            run.created_at,
            0,
            "workflow_run",
            {
                "action": "requested",
                "workflow_run": rest_run(history, run, done=False),
                "workflow": workflow,
                "repository": repository,
            },
        )
        add(
            run.job_finished_at,
            0,
            "workflow_job",
            {
                "action": "completed",
                "workflow_job": rest_job(history, run),
                "repository": repository,
            },
        )
        add(
            run.finished_at,
            0,
            "workflow_run",
            {
                "action": "completed",
                "workflow_run": rest_run(history, run),
                "workflow": workflow,
                "repository": repository,
            },
        )
    for d in history.deployments:
        deployment = rest_deployment(history, d)
        deployment["updated_at"] = deployment["created_at"]
        add(
            d.created_at,
            0,
            "deployment",
            {"action": "created", "deployment": deployment, "repository": repository},
        )
        for status in reversed(rest_statuses(d)):
            add(
                datetime.fromisoformat(status["created_at"]),
                1,
                "deployment_status",
                {
                    "action": "created",
                    "deployment_status": status,
                    "deployment": deployment,
                    "repository": repository,
                },
            )
    for i in history.incidents:
        add(
            i.opened_at,
            0,
            "issues",
            {"action": "opened", "issue": rest_issue(i, closed=False), "repository": repository},
        )
        add(
            i.resolved_at,
            0,
            "issues",
            {"action": "closed", "issue": rest_issue(i), "repository": repository},
        )
    return sorted(out, key=lambda d: (d.at, d.order))
