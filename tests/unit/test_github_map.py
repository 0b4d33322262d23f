"""GitHub REST objects and webhook payloads -> events, replaying ../shared/fixtures/github.

Expected values are read by hand from the fixture JSON and written out here. Where a fixture
lacks a case (a merged PR's merge commit, a reviewer other than the author, a closed incident)
the test derives a variant from the real object and says what it changed.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from dora.intake.schema import event_validate
from ingest.sources import github_map as gm
from ingest.sources.github_webhook import change_merge, github_webhook_events
from tests.shared import shared_fixture

ALL_SIGNALS = gm.GitHubMapping(
    deployments_from=gm.DEPLOYMENT_ORIGINS,
    workflow_pattern=r"^(linters|deploy)",
    tag_pattern=r"^v?\d",
)


def rest(name: str) -> Any:
    return json.loads(shared_fixture("github", "rest", f"{name}.json").read_text())["examples"][
        "default"
    ]["value"]


def hook(path: str) -> dict[str, Any]:
    return json.loads(shared_fixture("github", "webhooks", path).read_text())


def valid(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for event in events:
        event_validate(event)
    return events


# ---------------------------------------------------------------------------------------------
# Commits
# ---------------------------------------------------------------------------------------------


def test_commit_event_from_rest_get_commit_has_parents_times_and_files() -> None:
    event = gm.commit_event("octocat/Hello-World", rest("repos__get-commit"))
    event_validate(event)
    assert event == {
        "type": "commit",
        "source": "github",
        "id": "octocat/Hello-World@6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "repo": "octocat/Hello-World",
        "sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e",
        "parents": ["6dcb09b5b57875f334f61aebed695e2e4193db5e"],
        "authored_at": "2011-04-14T16:00:49Z",
        "committed_at": "2011-04-14T16:00:49Z",
        "author": "octocat",
        "message": "Fix all the bugs",
        "files": ["file1.txt"],
    }


def test_commit_event_from_a_list_leaves_files_out() -> None:
    event = gm.commit_event("octocat/Hello-World", rest("repos__list-commits")[0])
    assert "files" not in event and event["authored_at"] == "2011-04-14T16:00:49Z"


def test_push_creating_the_default_branch_gives_its_commits_first_parent_unknown() -> None:
    """A new branch (a repository's first push): the first commit's parent is not in the
    payload, so it is left out and the commit marked, for the sync's parents to replace."""
    events = valid(
        github_webhook_events("push", hook("push/with-new-branch.payload.json"), ALL_SIGNALS)
    )
    assert [(e["sha"], e.get("parents"), e.get(gm.PARENTS_GUESSED)) for e in events] == [
        ("6113728f27ae82c7b1a177c8d03f9e96e0adf246", None, True)
    ]
    forced = hook("push/with-new-branch.payload.json")
    forced.update(created=False, forced=True, before="a" * 40)
    assert gm.push_commit_events(forced) == []  # a forced push to the default branch: the sync


def test_push_creating_a_pull_request_branch_gives_its_commits() -> None:
    """Variant of with-new-branch pushed as the branch `changes`, with a second commit: the
    first commit's parent is unknown (left out, or the one stored before), the second's is the
    first. Their author times start the pull request (METRICS §2)."""
    payload = hook("push/with-new-branch.payload.json")
    payload["ref"] = "refs/heads/changes"
    second = {**copy.deepcopy(payload["commits"][0]), "id": "b" * 40, "message": "Second"}
    payload["commits"].append(second)
    first_sha = "6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    events = valid(gm.push_commit_events(payload))
    assert [(e["sha"], e.get("parents")) for e in events] == [
        (first_sha, None),
        ("b" * 40, [first_sha]),
    ]
    assert events[0]["authored_at"] == "2019-05-15T15:19:25Z"
    known = gm.push_commit_events(payload, stored_parents=lambda sha: ["c" * 40])
    assert known[0]["parents"] == ["c" * 40] and known[1]["parents"] == [first_sha]


def test_push_fast_forward_chains_parents_from_before() -> None:
    # Variant: the same commit pushed onto an existing master (created false, before set),
    # followed by a second commit (a copy with another sha and message).
    payload = hook("push/with-new-branch.payload.json")
    payload["created"] = False
    payload["before"] = "a" * 40
    second = {**copy.deepcopy(payload["commits"][0]), "id": "b" * 40, "message": "Second"}
    payload["commits"].append(second)
    events = valid(github_webhook_events("push", payload, ALL_SIGNALS))
    assert [(e["sha"], e["parents"]) for e in events] == [
        ("6113728f27ae82c7b1a177c8d03f9e96e0adf246", ["a" * 40]),
        ("b" * 40, ["6113728f27ae82c7b1a177c8d03f9e96e0adf246"]),
    ]
    first = events[0]
    assert first["id"] == "Codertocat/Hello-World@6113728f27ae82c7b1a177c8d03f9e96e0adf246"
    assert first["authored_at"] == "2019-05-15T15:19:25Z"
    assert first["author"] == "Codertocat"
    assert first["message"] == "Initial commit"
    assert first["files"] == ["README.md"]


def test_push_with_a_local_merge_commit_or_a_tag_emits_nothing() -> None:
    payload = hook("push/with-new-branch.payload.json")
    payload.update(created=False, before="a" * 40)
    payload["commits"][0]["message"] = "Merge branch 'changes'"
    assert gm.push_commit_events(payload) == []  # a local merge: its first parent is not sure
    payload["ref"] = "refs/heads/changes"  # on any branch
    assert gm.push_commit_events(payload) == []
    payload["commits"][0]["message"] = "Initial commit"
    payload["ref"] = "refs/tags/v1"
    assert gm.push_commit_events(payload) == []
    # The real tag push fixture: a deleted tag.
    assert gm.push_commit_events(hook("push/payload.json")) == []


def test_push_of_a_pull_request_merge_gives_the_merge_commit_its_parents() -> None:
    """Variant of with-new-branch: GitHub merging PR #2 onto master (before = a...): the PR's
    two commits, then the merge commit. The merge commit's parents are the base head before
    it and the PR's last commit; the PR's commits chain in payload order, the first one's
    parent unknown."""
    payload = hook("push/with-new-branch.payload.json")
    payload.update(created=False, before="a" * 40)
    first = payload["commits"][0]
    second = {**copy.deepcopy(first), "id": "b" * 40, "message": "Second"}
    merge = {**copy.deepcopy(first), "id": "c" * 40}
    merge["message"] = "Merge pull request #2 from Codertocat/changes\n\nChanges"
    payload["commits"] = [first, second, merge]
    events = valid(gm.push_commit_events(payload))
    assert [(e["sha"], e.get("parents"), e.get(gm.PARENTS_GUESSED)) for e in events] == [
        (first["id"], None, True),
        ("b" * 40, [first["id"]], None),
        ("c" * 40, ["a" * 40, "b" * 40], None),
    ]
    payload["commits"] = [merge]  # the second parent is not in the payload: the sync
    assert gm.push_commit_events(payload) == []
    payload["commits"] = [merge, second]  # the merge commit not last: not GitHub's merge push
    assert gm.push_commit_events(payload) == []
    payload.update(commits=[first, second, merge], forced=True)
    assert gm.push_commit_events(payload) == []


def test_commit_parents_settle_keeps_parents_read_from_git() -> None:
    certain = {"sha": "c" * 40, "parents": ["a" * 40, "b" * 40]}
    guess = {"sha": "c" * 40, "parents": ["a" * 40], gm.PARENTS_GUESSED: True}
    assert gm.commit_parents_settle(guess, certain) == {
        "sha": "c" * 40,
        "parents": certain["parents"],
    }
    assert gm.commit_parents_settle(certain, guess) == certain
    assert gm.commit_parents_settle(guess, None) == guess
    fuller = {**guess, "parents": ["a" * 40, "d" * 40]}
    assert gm.commit_parents_settle(guess, fuller)["parents"] == fuller["parents"]
    assert gm.commit_parents_settle(fuller, guess) == fuller


# ---------------------------------------------------------------------------------------------
# Pull requests
# ---------------------------------------------------------------------------------------------


def _landed(sha: str, parents: int, message: str, date: str) -> dict[str, Any]:
    """A variant of repos__get-commit as the commit at merge_commit_sha."""
    commit = copy.deepcopy(rest("repos__get-commit"))
    commit["sha"] = sha
    commit["parents"] = [{"sha": f"{i}" * 40} for i in range(1, parents + 1)]
    commit["commit"]["message"] = message
    commit["commit"]["author"]["date"] = date
    return commit


MERGE_SHA = "e5bd3914e2e596debea16f433f57875b5b90bcd6"  # pulls__get merge_commit_sha


def test_change_event_from_rest_with_commits_and_reviews() -> None:
    pr = rest("pulls__get")
    reviews = rest("pulls__list-reviews")  # one APPROVED review by octocat, the PR's author
    event = gm.change_event(
        "octocat/Hello-World", pr, commits=rest("pulls__list-commits"), reviews=reviews
    )
    event_validate(event)
    assert event == {
        "type": "change",
        "source": "github",
        "id": "octocat/Hello-World#1347",
        "repo": "octocat/Hello-World",
        "number": 1347,
        "title": "Amazing new feature",
        "url": "https://github.com/octocat/Hello-World/pull/1347",  # html_url, for the link
        "author": "octocat",
        "created_at": "2011-01-26T19:01:12Z",
        "merged_at": "2011-01-26T19:01:12Z",
        "closed_at": "2011-01-26T19:01:12Z",
        "base": "master",
        "head": "new-topic",
        "labels": ["bug"],
        "merge_sha": MERGE_SHA,  # method unknown without the merge commit: merge_sha
        "commits": ["6dcb09b5b57875f334f61aebed695e2e4193db5e"],
        "updated_at": "2011-01-26T19:01:12Z",  # the PR's own, from the fixture
    }  # the author's own review is neither a first review nor an approval


def test_change_first_review_by_a_non_author_and_last_approval() -> None:
    # Variant: the fixture review by hubot, plus a later approval and an earlier comment.
    review = rest("pulls__list-reviews")[0]
    hubot = {**review["user"], "login": "hubot"}
    reviews = [
        {**review, "user": hubot},  # APPROVED 2019-11-17T17:43:43Z
        {**review, "user": hubot, "state": "COMMENTED", "submitted_at": "2019-11-17T10:00:00Z"},
        {**review, "user": hubot, "submitted_at": "2019-11-18T09:00:00Z"},
        {**review, "user": hubot, "state": "PENDING", "submitted_at": None},
        {**review, "submitted_at": "2019-11-17T09:00:00Z"},  # octocat, the author
    ]
    event = gm.change_event("octocat/Hello-World", rest("pulls__get"), reviews=reviews)
    assert event["first_review_at"] == "2019-11-17T10:00:00Z"
    assert event["approved_at"] == "2019-11-18T09:00:00Z"


@pytest.mark.parametrize(
    ("parents", "message", "date", "method", "field"),
    [
        (
            2,
            "Merge pull request #1347 from octocat/new-topic",
            "2011-04-15T00:00:00Z",
            "merge",
            "merge_sha",
        ),
        (1, "Amazing new feature (#1347)", "2011-04-15T00:00:00Z", "squash", "squash_sha"),
        # Rebase keeps the author date and message of the PR's last commit (pulls__list-commits).
        (1, "Fix all the bugs", "2011-04-14T16:00:49Z", "rebase", "squash_sha"),
    ],
)
def test_change_merge_method_from_the_merge_commits_parents(
    parents: int, message: str, date: str, method: str, field: str
) -> None:
    pr, commits = rest("pulls__get"), rest("pulls__list-commits")
    landed = _landed(MERGE_SHA, parents, message, date)
    assert gm.merge_method(pr, commits, landed) == method
    event = gm.change_event("octocat/Hello-World", pr, commits=commits, merge_commit=landed)
    assert event[field] == MERGE_SHA
    assert ({"merge_sha", "squash_sha"} - {field}).isdisjoint(event)


def test_rebase_landed_commits_are_the_copies_matched_one_by_one() -> None:
    """Variant of pulls__list-commits: three PR commits, and the base branch's first-parent
    chain from merge_commit_sha: copies of the last two, then an unrelated commit."""
    original = rest("pulls__list-commits")[0]

    def made(sha: str, date: str, message: str) -> dict[str, Any]:
        commit = copy.deepcopy(original)
        commit["sha"] = sha
        commit["commit"]["author"]["date"] = date
        commit["commit"]["message"] = message
        return commit

    prs = [made(f"{i}" * 40, f"2011-04-1{i}T10:00:00Z", f"step {i}") for i in (1, 2, 3)]
    # The copies' dates are the same moments written with another offset.
    chain = [
        made("c" * 40, "2011-04-13T12:00:00+02:00", "step 3"),
        made("b" * 40, "2011-04-12T12:00:00+02:00", "step 2"),
        made("a" * 40, "2011-04-11T10:00:00Z", "someone else's"),
    ]
    assert gm.merge_method({"merged_at": "x", "merge_commit_sha": "c" * 40}, prs, chain[0]) == (
        "rebase"
    )
    assert gm.landed_commits("rebase", "c" * 40, prs, chain) == ["b" * 40, "c" * 40]
    assert gm.landed_commits("squash", "c" * 40, prs, chain) == ["c" * 40]
    assert gm.landed_commits(None, "c" * 40, prs, chain) is None
    known = {c["sha"]: c for c in chain}
    walked = gm.first_parent_chain("c" * 40, 5, known.get)
    assert [c["sha"] for c in walked] == ["c" * 40]  # its parent is not known


def test_change_fast_forward_merge_is_the_prs_own_commit() -> None:
    # Variant: merge_commit_sha is the PR's only commit (the base fast-forwarded).
    pr = {**rest("pulls__get"), "merge_commit_sha": "6dcb09b5b57875f334f61aebed695e2e4193db5e"}
    assert gm.merge_method(pr, rest("pulls__list-commits"), None) == "merge"


def test_unmerged_pr_never_names_githubs_test_merge_commit() -> None:
    # closed.payload: merged_at null, merge_commit_sha c4295bd7... (refs/pull/2/merge).
    event = valid(
        github_webhook_events("pull_request", hook("pull_request/closed.payload.json"), ALL_SIGNALS)
    )[0]
    assert "merge_sha" not in event and "squash_sha" not in event
    assert event["closed_at"] == "2019-05-15T15:21:18Z" and "merged_at" not in event
    assert event["labels"] == ["bug"] and event["head"] == "changes" and event["base"] == "master"


def test_opened_pr_is_ready_when_created_unless_draft() -> None:
    payload = hook("pull_request/opened.payload.json")
    event = github_webhook_events("pull_request", payload, ALL_SIGNALS)[0]
    assert event["ready_at"] == "2019-05-15T15:20:33Z" == event["created_at"]
    payload["pull_request"]["draft"] = True  # variant: opened as a draft
    assert "ready_at" not in github_webhook_events("pull_request", payload, ALL_SIGNALS)[0]


def test_change_merge_keeps_what_the_webhook_does_not_know() -> None:
    stored = {
        "type": "change",
        "id": "acme/shop#2",
        "title": "old",
        "closed_at": "2019-05-15T15:21:18Z",
        "commits": ["abcd"],
        "first_review_at": "2019-05-15T15:00:00Z",
        "approved_at": "2019-05-15T15:10:00Z",
        "merged_at": "2019-05-15T16:00:00Z",
        "squash_sha": "beef",
    }
    reopened = {
        "type": "change",
        "id": "acme/shop#2",
        "title": "new",
        "first_review_at": "2019-05-15T15:30:00Z",
    }
    merged = change_merge(stored, reopened)
    assert merged["title"] == "new" and "closed_at" not in merged and "merged_at" not in merged
    assert merged["commits"] == ["abcd"]
    assert merged["first_review_at"] == "2019-05-15T15:00:00Z"  # the earliest stays
    assert "squash_sha" not in merged  # not merged (any more): no landed sha
    again = change_merge(stored, {"merged_at": "2019-05-15T16:00:00Z", "merge_sha": "beef"})
    assert again["squash_sha"] == "beef" and "merge_sha" not in again


# ---------------------------------------------------------------------------------------------
# Workflow runs and jobs
# ---------------------------------------------------------------------------------------------


def test_pipeline_run_from_rest_run_and_jobs() -> None:
    event = gm.pipeline_run_event(
        "octocat/Hello-World",
        rest("actions__get-workflow-run"),
        jobs=rest("actions__list-jobs-for-workflow-run")["jobs"],
    )
    event_validate(event)
    assert event == {
        "type": "pipeline_run",
        "source": "github",
        "id": "octocat/Hello-World:run:30433642",
        "repo": "octocat/Hello-World",
        "sha": "acb5820ced9479c074f688cc328bf03f341a511d",
        "name": "Build",
        "branch": "main",
        "status": "running",  # status queued
        "trigger": "push",
        "created_at": "2020-01-22T19:33:08Z",
        "started_at": "2020-01-22T19:33:08Z",
        "jobs": [
            {
                "name": "build",
                "started_at": "2020-01-20T17:42:40Z",
                "finished_at": "2020-01-20T17:44:39Z",
                "status": "success",
            }
        ],
    }


def test_workflow_run_webhook_completed() -> None:
    payload = hook("workflow_run/completed.payload.json")
    (event,) = valid(github_webhook_events("workflow_run", payload, gm.GitHubMapping()))
    assert event["id"] == "octo-org/octo-repo:run:289782451"
    assert event["sha"] == "3484a3fb816e0859fd6e1cea078d76385ff50625"
    assert event["name"] == "test"  # the run's name is empty: the workflow's
    assert event["status"] == "success" and event["trigger"] == "repository_dispatch"
    assert event["started_at"] == "2020-10-05T16:33:49Z"  # run_started_at
    assert event["finished_at"] == "2020-10-05T16:33:49Z"  # updated_at, once completed
    assert event["branch"] == "master"


@pytest.mark.parametrize(
    ("fixture", "status"),
    [
        ("completed.success.with-organization", "success"),
        ("completed.failure.with-organization", "failure"),
    ],
)
def test_deploy_job_is_a_deployment_at_the_jobs_finish(fixture: str, status: str) -> None:
    payload = hook(f"workflow_job/{fixture}.payload.json")
    (event,) = valid(github_webhook_events("workflow_job", payload, ALL_SIGNALS))
    assert event == {
        "type": "deployment",
        "source": "github",
        "id": "Codertocat/Hello-World:job:289782451@Hello-World",
        "service": "Hello-World",
        "repo": "Codertocat/Hello-World",
        "environment": "production",  # no environment: the release environment
        "sha": "3484a3fb816e0859fd6e1cea078d76385ff50625",
        "status": status,
        "started_at": "2021-08-05T10:34:58Z",
        "finished_at": "2021-08-05T10:38:16Z",  # the job's completed_at
        "trigger": "automated",
        "pipeline_run": "Codertocat/Hello-World:run:2202229078",
    }


def test_deploy_job_environment_and_pattern_group() -> None:
    payload = hook("workflow_job/queued.with-deployment.payload.json")  # job "test", env "Test"
    mapping = gm.GitHubMapping(
        deployments_from=("workflow_jobs",), workflow_pattern="^Test$", environments={"test": "qa"}
    )
    (event,) = valid(github_webhook_events("workflow_job", payload, mapping))
    assert event["environment"] == "qa"  # matched on the environment, mapped case-insensitively
    assert event["status"] == "running" and "finished_at" not in event
    job = {
        **payload["workflow_job"],
        "name": "deploy-staging",
        "status": "completed",
        "conclusion": "skipped",
    }
    named = gm.GitHubMapping(
        deployments_from=("workflow_jobs",), workflow_pattern=r"^deploy-(?P<env>\w+)"
    )
    assert gm.job_deployment_events("a/b", job, named) == []  # skipped: no deployment
    job["conclusion"] = "success"
    assert gm.job_deployment_events("a/b", job, named)[0]["environment"] == "staging"
    assert gm.job_deployment_events("a/b", job, gm.GitHubMapping()) == []  # not a signal


# ---------------------------------------------------------------------------------------------
# Deployments API
# ---------------------------------------------------------------------------------------------


def _status(state: str, at: str, ident: int) -> dict[str, Any]:
    return {
        **rest("repos__list-deployment-statuses")[0],
        "state": state,
        "created_at": at,
        "id": ident,
    }


def test_deployment_from_rest_finishes_at_its_success_status() -> None:
    (event,) = valid(
        gm.deployment_events(
            "octocat/Hello-World",
            rest("repos__get-deployment"),
            rest("repos__list-deployment-statuses"),
            gm.GitHubMapping(),
        )
    )
    assert event == {
        "type": "deployment",
        "source": "github",
        "id": "octocat/Hello-World:deployment:1@Hello-World",
        "service": "Hello-World",
        "repo": "octocat/Hello-World",
        "environment": "production",
        "sha": "a84d88e7554fc1fa21bcbc4efae3c782a70d2b9d",
        "status": "success",
        "started_at": "2012-07-20T01:19:13Z",
        "finished_at": "2012-07-20T01:19:13Z",
    }


def test_deployment_outcome_first_success_not_updated_at() -> None:
    statuses = [
        _status("inactive", "2012-07-21T00:00:00Z", 4),
        _status("success", "2012-07-20T02:00:00Z", 3),
        _status("success", "2012-07-20T01:30:00Z", 2),
        _status("in_progress", "2012-07-20T01:20:00Z", 1),
    ]
    assert gm.deployment_outcome(statuses) == ("success", "2012-07-20T01:30:00Z")
    failed = [
        _status("error", "2012-07-20T01:30:00Z", 1),
        _status("inactive", "2012-07-21T00:00:00Z", 2),
    ]
    assert gm.deployment_outcome(failed) == ("failure", "2012-07-20T01:30:00Z")
    superseded = [
        _status("pending", "2012-07-20T01:30:00Z", 1),
        _status("inactive", "2012-07-21T00:00:00Z", 2),
    ]
    assert gm.deployment_outcome(superseded) == ("cancelled", "2012-07-21T00:00:00Z")
    assert gm.deployment_outcome([]) == ("running", None)


def test_deployment_services_environment_map_and_target() -> None:
    deployment = rest("repos__get-deployment")
    repo = "octocat/Hello-World"
    mapping = gm.GitHubMapping(
        services={repo: ["web", "api"]}, environments={"Production": "prod-eu"}
    )
    statuses = rest("repos__list-deployment-statuses")
    events = valid(gm.deployment_events(repo, deployment, statuses, mapping))
    assert [(e["id"], e["service"], e["environment"]) for e in events] == [
        (f"{repo}:deployment:1@web", "web", "prod-eu"),
        (f"{repo}:deployment:1@api", "api", "prod-eu"),
    ]
    # Variant: the deployment's payload names its service and target.
    named = {**deployment, "payload": {"service": "api", "target": "eu-west-1"}}
    (event,) = gm.deployment_events(repo, named, statuses, mapping)
    assert (event["service"], event["target"]) == ("api", "eu-west-1")


def test_deployment_status_webhook_success() -> None:
    (event,) = valid(
        github_webhook_events(
            "deployment_status", hook("deployment_status/payload.json"), gm.GitHubMapping()
        )
    )
    assert event["id"] == "Codertocat/Hello-World:deployment:145988746@Hello-World"
    assert event["status"] == "success"
    assert event["finished_at"] == "2019-05-15T15:20:55Z"  # the status's created_at
    assert event["started_at"] == "2019-05-15T15:20:53Z"  # the deployment's created_at
    assert event["sha"] == "f95f852bd8fca8fcc58a9a2d6c842781e32a215e"
    assert event["environment"] == "production"


def test_deployment_status_webhook_keeps_the_first_success() -> None:
    payload = hook("deployment_status/payload.json")
    stored = github_webhook_events("deployment_status", payload, gm.GitHubMapping())[0]
    # Variant: later statuses of the same deployment, after the stored success.
    for state, at in (("success", "2019-05-15T16:00:00Z"), ("inactive", "2019-05-16T00:00:00Z")):
        later = copy.deepcopy(payload)
        later["deployment_status"].update(state=state, created_at=at)
        (event,) = github_webhook_events(
            "deployment_status", later, gm.GitHubMapping(), lambda t, i: stored
        )
        assert (event["status"], event["finished_at"]) == ("success", "2019-05-15T15:20:55Z")
    # A late `deployment` created delivery does not put it back to running.
    (event,) = github_webhook_events(
        "deployment", hook("deployment/payload.json"), gm.GitHubMapping(), lambda t, i: stored
    )
    assert (event["status"], event["finished_at"]) == ("success", "2019-05-15T15:20:55Z")


def test_deployment_created_webhook_is_running() -> None:
    (event,) = valid(
        github_webhook_events("deployment", hook("deployment/payload.json"), gm.GitHubMapping())
    )
    assert event["status"] == "running" and "finished_at" not in event
    assert (
        github_webhook_events(
            "deployment",
            hook("deployment/payload.json"),
            gm.GitHubMapping(deployments_from=("releases",)),
        )
        == []
    )


# ---------------------------------------------------------------------------------------------
# Releases, tags, incidents
# ---------------------------------------------------------------------------------------------


def test_release_published_is_a_deployment_when_configured() -> None:
    payload = hook("release/published.payload.json")
    assert github_webhook_events("release", payload, gm.GitHubMapping()) == []
    mapping = gm.GitHubMapping(deployments_from=("releases",), tag_pattern=r"^\d+\.\d+")
    (event,) = valid(github_webhook_events("release", payload, mapping))
    assert event == {
        "type": "deployment",
        "source": "github",
        "id": "Codertocat/Hello-World:release:17372790@Hello-World",
        "service": "Hello-World",
        "repo": "Codertocat/Hello-World",
        "environment": "production",
        "version": "0.0.1",
        "status": "success",
        "finished_at": "2019-05-15T15:20:53Z",  # published_at; target_commitish "master" is no sha
    }
    payload["release"]["prerelease"] = True  # variant
    assert github_webhook_events("release", payload, mapping) == []


def test_tag_matching_the_pattern_is_a_deployment() -> None:
    mapping = gm.GitHubMapping(deployments_from=("tags",), tag_pattern=r"^v")
    (event,) = valid(
        gm.tag_deployment_events(
            "octocat/Hello-World", rest("repos__list-tags")[0], "2011-04-14T16:00:49Z", mapping
        )
    )
    assert (event["id"], event["version"], event["sha"], event["finished_at"]) == (
        "octocat/Hello-World:tag:v0.1@Hello-World",
        "v0.1",
        "c5b97d5ae6c19d5c5df71a34c7fbeeda2479ccbc",
        "2011-04-14T16:00:49Z",
    )


def test_tag_deployment_ids_are_the_ids_of_the_tag_events() -> None:
    mapping = gm.GitHubMapping(
        deployments_from=("tags",),
        tag_pattern=r"^v",
        services={"octocat/Hello-World": ["web", "api"]},
    )
    tag = rest("repos__list-tags")[0]
    events = gm.tag_deployment_events("octocat/Hello-World", tag, "2011-04-14T16:00:49Z", mapping)
    assert [e["id"] for e in events] == gm.tag_deployment_ids(
        "octocat/Hello-World", "v0.1", mapping
    )
    assert gm.tag_deployment_ids("octocat/Hello-World", "v0.1", mapping) == [
        "octocat/Hello-World:tag:v0.1@web",
        "octocat/Hello-World:tag:v0.1@api",
    ]


def test_issue_with_the_incident_label_is_an_incident() -> None:
    payload = hook("issues/labeled.payload.json")  # label "bug"
    assert github_webhook_events("issues", payload, gm.GitHubMapping()) == []
    mapping = gm.GitHubMapping(incident_label="BUG")
    (event,) = valid(github_webhook_events("issues", payload, mapping))
    assert event == {
        "type": "incident",
        "source": "github",
        "id": "Codertocat/Hello-World:issue:1@Hello-World",
        "service": "Hello-World",
        "title": "Spelling error in the README file",
        "opened_at": "2019-05-15T15:20:18Z",
        "updated_at": payload["issue"]["updated_at"],
    }
    # Variant: closed, with a severity label and two services of which a label names one.
    issue = payload["issue"]
    issue.update(state="closed", closed_at="2019-05-16T10:00:00Z")
    issue["labels"] += [{"name": "sev2"}, {"name": "service:api"}]
    two = gm.GitHubMapping(
        incident_label="bug", services={"Codertocat/Hello-World": ["web", "api"]}
    )
    (event,) = valid(gm.incident_events("Codertocat/Hello-World", issue, two))
    assert (event["service"], event["severity"], event["resolved_at"]) == (
        "api",
        "sev2",
        "2019-05-16T10:00:00Z",
    )


def test_pull_requests_in_the_issues_list_are_not_incidents() -> None:
    issue = {**rest("issues__get"), "pull_request": {"url": "x"}, "labels": [{"name": "incident"}]}
    assert gm.incident_events("octocat/Hello-World", issue, gm.GitHubMapping()) == []


def test_unhandled_event_type_is_none() -> None:
    assert (
        github_webhook_events("check_run", hook("check_run/completed.payload.json"), ALL_SIGNALS)
        is None
    )
