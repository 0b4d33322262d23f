"""A History as the CONTRACT §1 events a user would send for it (the `import_events` path).

Ids and sources are the GitHub adapter's (ingest/sources/github_map.py), so that records and
facts can be compared one to one with the GitHub paths: source `github`, commit
`<repo>@<sha>`, change `<repo>#<number>`, pipeline_run `<repo>:run:<id>`, deployment
`<repo>:deployment:<id>@<service>`, incident `<repo>:issue:<number>@<service>`. Written from the
history, not through github_map: what this sends is what the contract asks of a user.

A change carries its branch commits (`commits`), the shas merging it created on the base branch
(`landed_commits`), and merge_sha / squash_sha as github_map sets them: a merge commit is the
merge sha; a squash commit, and the last rebased copy of a rebase merge (GitHub's
merge_commit_sha), is the squash sha.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.history.scenario import GitCommit, History, PullRequest, _iso

SOURCE = "github"


def _commit(history: History, c: GitCommit) -> dict[str, Any]:
    return {
        "type": "commit",
        "source": SOURCE,
        "id": f"{history.repo}@{c.sha}",
        "repo": history.repo,
        "sha": c.sha,
        "parents": list(c.parents),
        "authored_at": _iso(c.authored_at),
        "committed_at": _iso(c.committed_at),
        "author": c.author,
        "message": c.message,
    }


def _change(history: History, pr: PullRequest) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "change",
        "source": SOURCE,
        "id": f"{history.repo}#{pr.number}",
        "repo": history.repo,
        "number": pr.number,
        "title": pr.title,
        "author": pr.author,
        "created_at": _iso(pr.created_at),
        "ready_at": _iso(pr.created_at),  # never a draft
        "first_review_at": _iso(pr.first_review_at),
        "approved_at": _iso(pr.approved_at),
        "merged_at": _iso(pr.merged_at),
        "closed_at": _iso(pr.merged_at),
        "base": history.default_branch,
        "head": pr.head,
        "labels": list(pr.labels),
        "commits": [c.sha for c in pr.branch],
        "landed_commits": [c.sha for c in pr.landed],
        "updated_at": _iso(pr.merged_at),
    }
    event["merge_sha" if pr.style == "merge" else "squash_sha"] = pr.merge_commit_sha
    return event


def history_events(history: History) -> list[dict[str, Any]]:
    """Every event of the history, GitHub's part only (automation runs are fed separately)."""
    repo, service = history.repo, history.service
    events = [_commit(history, c) for c in history.commits]
    events += [_change(history, pr) for pr in history.pulls]
    for run in history.runs:
        events.append(
            {
                "type": "pipeline_run",
                "source": SOURCE,
                "id": f"{repo}:run:{run.id}",
                "repo": repo,
                "sha": run.sha,
                "name": "build",
                "branch": history.default_branch,
                "status": run.conclusion,
                "trigger": "push",
                "created_at": _iso(run.created_at),
                "started_at": _iso(run.created_at),
                "finished_at": _iso(run.finished_at),
                "jobs": [
                    {
                        "name": "test",
                        "started_at": _iso(run.job_started_at),
                        "finished_at": _iso(run.job_finished_at),
                        "status": run.conclusion,
                    }
                ],
            }
        )
    for d in history.deployments:
        event = {
            "type": "deployment",
            "source": SOURCE,
            "id": f"{repo}:deployment:{d.id}@{service}",
            "service": service,
            "repo": repo,
            "environment": d.environment,
            "sha": d.sha,
            "status": d.state,
            "started_at": _iso(d.created_at),
            "finished_at": _iso(d.finished_at),
        }
        if d.target:
            event["target"] = d.target
        events.append(event)
    for i in history.incidents:
        events.append(
            {
                "type": "incident",
                "source": SOURCE,
                "id": f"{repo}:issue:{i.number}@{service}",
                "service": service,
                "title": i.title,
                "severity": f"sev{i.severity}",
                "opened_at": _iso(i.opened_at),
                "resolved_at": _iso(i.resolved_at),
                "updated_at": _iso(i.resolved_at),
            }
        )
    return events


def jsonl_write(events: list[dict[str, Any]], path: Path) -> Path:
    path.write_text("".join(json.dumps(e, sort_keys=True) + "\n" for e in events))
    return path
