"""The REST client and the GitHub mappers on PyGithub's recorded exchanges of the real API.

The recordings (PyGithub's tests/ReplayData, fetched at test time: tests/pygithub_replay.py)
are served with `responses` by path; RestClient reads them (Link pages, rate-limit headers) and
github_map turns them into events. Expected values are read by hand from the recorded JSON.

What PyGithub did not record: a deployment status in state `success` (its deployment
recordings hold only `queued` ones), the merge commits of the recorded merged PRs, and the
commits the recorded tags point to (so a tag's time cannot be replayed). Where a test needs a
case the recording lacks, it derives a variant from the recorded objects and says what changed.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import responses

from dora.intake.schema import event_validate
from ingest.http import Page, RestClient
from ingest.sources import github_map as gm
from tests.fake_github import FakeClock
from tests.pygithub_replay import replay_load, replay_parse, replay_serve

API = "https://api.github.com"
REPO = "PyGithub/PyGithub"
# The one recording whose url line holds a newline (a legacy search URL with a space).
MALFORMED = {"Github.testSearchRepos"}

Serve = Callable[..., RestClient]


@pytest.fixture
def replay(pygithub_replay_dir: Path) -> Iterator[Serve]:
    """serve(*recordings) -> a RestClient on api.github.com answered by those recordings."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:

        def serve(*names: str) -> RestClient:
            replay_serve(
                rsps, [e for name in names for e in replay_load(pygithub_replay_dir, name)]
            )
            return RestClient(API, token="replayed", clock=FakeClock(0.0))

        yield serve


def pages(client: RestClient, path: str, params: dict[str, Any] | None, count: int) -> list[Page]:
    """The first `count` pages of a list, following Link rel=next as the sync does."""
    read = [client.get(path, params)]
    while len(read) < count:
        assert read[-1].next_url, f"the recording has only {len(read)} page(s)"
        read.append(client.get(read[-1].next_url))
    return read


def valid(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for event in events:
        event_validate(event)
    return events


def test_replay_parse_reads_every_recording(pygithub_replay_dir: Path) -> None:
    files = sorted(pygithub_replay_dir.glob("*.txt"))
    assert len(files) > 1000
    exchanges = 0
    for path in files:
        if path.stem in MALFORMED:
            with pytest.raises(ValueError):
                replay_parse(path.read_text(encoding="utf-8"))
            continue
        for exchange in replay_parse(path.read_text(encoding="utf-8")):
            assert exchange.protocol in ("http", "https"), path.name
            assert exchange.verb in ("GET", "POST", "PATCH", "PUT", "DELETE"), path.name
            assert 100 <= exchange.status < 600, path.name
            exchanges += 1
    assert exchanges > len(files)


# ---------------------------------------------------------------------------------------------
# Commits
# ---------------------------------------------------------------------------------------------


def test_commits_list_pages_to_commit_events_with_parents_and_both_times(replay: Serve) -> None:
    client = replay("Repository.testGetCommits")
    read = pages(client, f"/repos/{REPO}/commits", None, 3)
    assert [len(p.data) for p in read] == [30, 30, 30]
    assert read[2].next_url == (
        f"{API}/repos/{REPO}/commits?last_sha=6b89c02872cbcb179d79cb4ceb2436fee02425d0&top=master"
    )
    assert client.stats.calls == 3
    assert client.stats.rate_remaining == 4977  # the third response's X-RateLimit-Remaining
    events = {e["sha"]: e for p in read for e in valid([gm.commit_event(REPO, c) for c in p.data])}
    assert len(events) == 90

    merge = events["ecda065e01876209d2bdf5fe4e91cee8ffaa9ff7"]
    assert merge == {
        "type": "commit",
        "source": "github",
        "id": f"{REPO}@ecda065e01876209d2bdf5fe4e91cee8ffaa9ff7",
        "repo": REPO,
        "sha": "ecda065e01876209d2bdf5fe4e91cee8ffaa9ff7",
        "parents": [
            "4303c5b90e2216d927155e9609436ccb8984c495",
            "0cec0d25e606c023a62a4fc7cdc815309ebf6d16",
        ],
        "authored_at": "2012-05-25T10:14:34-07:00",
        "committed_at": "2012-05-25T10:14:34-07:00",
        "author": "jacquev6",
        "message": "Merge branch 'develop'",
    }
    # Amended after it was written: author and committer times differ.
    amended = events["2f64b625f7e2afc9bef61d0decb459e2ef65c550"]
    assert amended["parents"] == ["590798d349cba7de6e83b43aa5d4f8b0a38e685d"]
    assert amended["authored_at"] == "2012-04-17T10:21:36-07:00"
    assert amended["committed_at"] == "2012-04-17T10:28:18-07:00"
    assert amended["message"] == "Repository.permissions"
    last = events["6b89c02872cbcb179d79cb4ceb2436fee02425d0"]
    assert last["parents"] == ["231ae0778e0bebaac3dc87fa8f602c1560b8164f"]
    assert last["authored_at"] == last["committed_at"] == "2012-03-04T01:21:59-08:00"


# ---------------------------------------------------------------------------------------------
# Pull requests
# ---------------------------------------------------------------------------------------------


def test_pull_request_with_reviews_to_change_with_first_review_and_approval(
    replay: Serve,
) -> None:
    client = replay(
        "PullRequestReview.testDoesNotModifyPullRequest", "PullRequestReview.testAttributes"
    )
    pr = client.get(f"/repos/{REPO}/pulls/538").data
    reviews = client.get(f"/repos/{REPO}/pulls/538/reviews", {"per_page": 100}).data
    assert [(r["user"]["login"], r["state"]) for r in reviews] == [
        ("jzelinskie", "APPROVED"),
        ("electrofelix", "COMMENTED"),
        ("sfdye", "COMMENTED"),
        ("sfdye", "COMMENTED"),
        ("sfdye", "COMMENTED"),
    ]
    event = gm.change_event(REPO, pr, reviews=reviews)
    event_validate(event)
    assert event == {
        "type": "change",
        "source": "github",
        "id": f"{REPO}#538",
        "repo": REPO,
        "number": 538,
        "title": "Add Support for Pull Request Reviews feature",
        "author": "allevin",
        "created_at": "2017-03-20T21:00:37Z",
        "merged_at": "2017-03-25T16:52:49Z",
        "closed_at": "2017-03-25T16:52:49Z",
        "base": "master",
        "head": "Add_Pull_Request_Reviews_Feature",
        "labels": [],
        "url": "https://github.com/PyGithub/PyGithub/pull/538",  # the PR's html_url
        # Its merge commit is not recorded, so the method is unknown: merge_sha.
        "merge_sha": "2525515b094d7425f7018eb5b66171e21c5fbc10",
        # jzelinskie's approval, two days in; the 2018 comments came after the merge.
        "first_review_at": "2017-03-22T19:06:59Z",
        "approved_at": "2017-03-22T19:06:59Z",
        "updated_at": pr["updated_at"],  # GitHub's own: an older state never replaces it
    }


def test_pull_request_with_labels_and_commits_to_change(replay: Serve) -> None:
    client = replay("CompletableGithubObjectWithPaginatedProperty.testPullCommitsFilesDefault")
    pr = client.get(f"/repos/{REPO}/pulls/3370").data
    commits = client.get(f"/repos/{REPO}/pulls/3370/commits", {"per_page": 100}).data
    event = gm.change_event(REPO, pr, commits=commits)
    event_validate(event)
    assert event == {
        "type": "change",
        "source": "github",
        "id": f"{REPO}#3370",
        "repo": REPO,
        "number": 3370,
        "title": "Bump actions/setup-python from 5 to 6",
        "author": "dependabot[bot]",
        "created_at": "2025-09-08T06:01:05Z",
        "merged_at": "2025-11-19T17:43:18Z",
        "closed_at": "2025-11-19T17:43:18Z",
        "base": "main",
        "head": "dependabot/github_actions/actions/setup-python-6",
        "labels": ["dependencies", "github_actions"],
        "url": "https://github.com/PyGithub/PyGithub/pull/3370",
        "merge_sha": "1f5f434b321e963171a27c13c1137cedb54cc4d0",
        "commits": ["3253acaabd86de12b73d0a24c98eb9c13d1987b5"],
        "updated_at": pr["updated_at"],
    }
    commit = gm.commit_event(REPO, commits[0])
    event_validate(commit)
    assert commit["parents"] == ["4a353f7300fe5fea0cce2a50190249c3f332e53d"]
    assert commit["authored_at"] == commit["committed_at"] == "2025-09-08T06:01:04Z"
    assert commit["author"] == "dependabot[bot]"
    assert commit["message"].startswith("Bump actions/setup-python from 5 to 6\n\nBumps ")


# ---------------------------------------------------------------------------------------------
# Deployments
# ---------------------------------------------------------------------------------------------

DEPLOYMENTS = gm.GitHubMapping(
    services={REPO: ["pygithub"]}, environments={"test": "staging"}, tag_pattern=r"^v\d"
)


def test_deployments_with_statuses_to_deployment_events(replay: Serve) -> None:
    client = replay("Repository.testGetDeployments", "DeploymentStatus.testGetStatuses")
    deployments = client.get(f"/repos/{REPO}/deployments", {"per_page": 100}).data
    assert [d["id"] for d in deployments] == [263877258, 262350588]
    # Recorded while the repository was jacquev6/PyGithub; the deployment's statuses_url
    # already names PyGithub/PyGithub.
    statuses = client.get(
        "/repos/jacquev6/PyGithub/deployments/263877258/statuses", {"per_page": 100}
    ).data
    assert [(s["id"], s["state"]) for s in statuses] == [
        (388454671, "queued"),
        (388433743, "queued"),
        (388432880, "queued"),
    ]
    events = valid(gm.deployment_events(REPO, deployments[0], statuses, DEPLOYMENTS))
    assert events == [
        {
            "type": "deployment",
            "source": "github",
            "id": f"{REPO}:deployment:263877258@pygithub",
            "service": "pygithub",
            "repo": REPO,
            "environment": "staging",
            "sha": "743f5a58b0bce91c4eab744ff7e39dfca9e6e8a5",
            "status": "running",  # only queued statuses: not finished
            "started_at": "2020-08-26T11:44:53Z",
        }
    ]
    production = valid(gm.deployment_events(REPO, deployments[1], [], DEPLOYMENTS))
    assert [(e["environment"], e["status"], e["started_at"]) for e in production] == [
        ("production", "running", "2020-08-26T11:40:41Z")
    ]

    # Not recorded: a success. Variant: the middle status (13:56:31) succeeded and the
    # newest (14:32:51) marks it inactive; the finish is the success, not the last update.
    variant = copy.deepcopy(statuses)
    variant[1]["state"] = "success"
    variant[0]["state"] = "inactive"
    (event,) = valid(gm.deployment_events(REPO, deployments[0], variant, DEPLOYMENTS))
    assert (event["status"], event["finished_at"]) == ("success", "2020-08-26T13:56:31Z")


# ---------------------------------------------------------------------------------------------
# Releases and tags
# ---------------------------------------------------------------------------------------------


def test_releases_pages_to_deployments_without_prereleases(replay: Serve) -> None:
    client = replay("RequesterThrottleTestCase.testDeferRequests")
    mapping = gm.GitHubMapping(deployments_from=("releases",), tag_pattern=r"^v\d")
    read = pages(client, f"/repos/{REPO}/releases", {"per_page": 10}, 3)
    assert read[2].next_url is None
    releases = [r for p in read for r in p.data]
    assert len(releases) == 30
    events = valid([e for r in releases for e in gm.release_deployment_events(REPO, r, mapping)])
    # v1.40a1..a4 are pre-releases: not deployments.
    assert len(events) == 26
    assert "v1.40a4" not in {e["version"] for e in events}
    assert events[0] == {
        "type": "deployment",
        "source": "github",
        "id": f"{REPO}:release:41982557@PyGithub",
        "service": "PyGithub",
        "repo": REPO,
        "environment": "production",
        "version": "v1.55",
        # target_commitish is "master", a branch: no sha.
        "status": "success",
        "finished_at": "2021-04-26T04:44:57Z",
    }
    assert (events[-1]["version"], events[-1]["finished_at"]) == ("v1.39", "2018-04-10T09:30:42Z")


def test_tags_list_to_tag_deployments(replay: Serve) -> None:
    client = replay("Tag.setUp")
    page = client.get(f"/repos/{REPO}/tags", {"per_page": 100})
    assert len(page.data) == 30
    assert page.next_url == f"{API}/repositories/3544490/tags?page=2"
    mapping = gm.GitHubMapping(deployments_from=("tags",), tag_pattern=r"^v\d")
    # The tagged commit is not recorded: its committer date is given here, as the sync would
    # read it from the stored commit.
    (event,) = valid(gm.tag_deployment_events(REPO, page.data[0], "2024-11-29T09:00:00Z", mapping))
    assert event == {
        "type": "deployment",
        "source": "github",
        "id": f"{REPO}:tag:v2.5.0@PyGithub",
        "service": "PyGithub",
        "repo": REPO,
        "environment": "production",
        "version": "v2.5.0",
        "sha": "19ddb9f4fd996e99a5010d271b3c2e76dd280fb5",
        "status": "success",
        "finished_at": "2024-11-29T09:00:00Z",
    }


# ---------------------------------------------------------------------------------------------
# Workflow runs and jobs
# ---------------------------------------------------------------------------------------------


def test_workflow_run_with_jobs_to_pipeline_run_and_job_deployment(replay: Serve) -> None:
    client = replay("WorkflowRun.setUp", "WorkflowRun.test_jobs")
    run = client.get(f"/repos/{REPO}/actions/runs/3881497935").data
    assert client.stats.rate_remaining == 19  # below low_budget (50): the next call waits
    jobs = client.get(f"/repos/{REPO}/actions/runs/3881497935/jobs", {"per_page": 100}).data
    assert client.clock.sleeps == [1673619381 - 0.0 + 1.0]  # until X-RateLimit-Reset, + 1 s
    assert jobs["total_count"] == 5
    event = gm.pipeline_run_event(REPO, run, jobs=jobs["jobs"])
    assert event is not None
    event_validate(event)
    assert event == {
        "type": "pipeline_run",
        "source": "github",
        "id": f"{REPO}:run:3881497935",
        "repo": REPO,
        "sha": "c6e5cac67a58a4eb11f1f28567a77a6e2cc8ee98",
        "name": "CI",
        "branch": "feat/workflow-run",
        "status": "success",
        "trigger": "pull_request",
        "created_at": "2023-01-10T08:24:19Z",
        "started_at": "2023-01-10T08:24:19Z",
        "finished_at": "2023-01-10T08:28:20Z",  # updated_at: a run has no completion time
        "jobs": [
            {
                "name": f"test (Python {version})",
                "started_at": started,
                "finished_at": finished,
                "status": "success",
            }
            for version, started, finished in (
                ("3.7", "2023-01-10T08:24:28Z", "2023-01-10T08:25:28Z"),
                ("3.8", "2023-01-10T08:24:30Z", "2023-01-10T08:28:18Z"),
                ("3.9", "2023-01-10T08:24:31Z", "2023-01-10T08:25:30Z"),
                ("3.10", "2023-01-10T08:24:28Z", "2023-01-10T08:25:46Z"),
                ("3.11-dev", "2023-01-10T08:24:31Z", "2023-01-10T08:25:50Z"),
            )
        ],
    }
    mapping = gm.GitHubMapping(
        deployments_from=("workflow_jobs",), workflow_pattern=r"^test \(Python 3\.10\)"
    )
    deployments = valid(
        [e for job in jobs["jobs"] for e in gm.job_deployment_events(REPO, job, mapping)]
    )
    assert deployments == [
        {
            "type": "deployment",
            "source": "github",
            "id": f"{REPO}:job:10545728190@PyGithub",
            "service": "PyGithub",
            "repo": REPO,
            "environment": "production",
            "sha": "c6e5cac67a58a4eb11f1f28567a77a6e2cc8ee98",
            "status": "success",
            "started_at": "2023-01-10T08:24:28Z",
            "finished_at": "2023-01-10T08:25:46Z",  # the job's finish, not the run's
            "trigger": "automated",
            "pipeline_run": f"{REPO}:run:3881497935",
        }
    ]


def test_workflow_runs_list_of_2020_without_name_or_run_started_at(replay: Serve) -> None:
    client = replay("Repository.testGetWorkflowRuns")
    data = client.get(f"/repos/{REPO}/actions/runs", {"per_page": 100}).data
    assert data["total_count"] == 124
    runs = data["workflow_runs"]
    assert [r["id"] for r in runs] == [110932306, 110932159, 110932072, 110286191, 110278769]
    event = gm.pipeline_run_event(REPO, runs[0])
    assert event is not None
    event_validate(event)
    assert event == {
        "type": "pipeline_run",
        "source": "github",
        "id": f"{REPO}:run:110932306",
        "repo": REPO,
        "sha": "7abf600480089550b4224aa97004367c2fa25b38",
        "branch": "master",
        "status": "success",
        "trigger": "push",
        "created_at": "2020-05-20T23:59:37Z",
        "started_at": "2020-05-20T23:59:37Z",  # no run_started_at then: the creation
        "finished_at": "2020-05-21T00:02:14Z",
    }


# ---------------------------------------------------------------------------------------------
# Incidents
# ---------------------------------------------------------------------------------------------

STRANGE_LABEL = "Label with spaces and strange characters (&*#$)"


def test_issues_with_label_exclude_pull_requests(replay: Serve) -> None:
    client = replay("Issue50.testGetIssuesWithLabel")
    issues = client.get(
        "/repos/jacquev6/PyGithub/issues", {"labels": STRANGE_LABEL, "state": "all"}
    ).data
    assert [i["number"] for i in issues] == [52, 50]
    mapping = gm.GitHubMapping(incident_label=STRANGE_LABEL.upper())
    # #50 is a pull request (its pull_request links are set): never an incident.
    assert gm.incident_events("jacquev6/PyGithub", issues[1], mapping) == []


def test_issue_with_null_pull_request_links_is_an_incident(replay: Serve) -> None:
    client = replay("Issue50.testGetIssuesWithLabel")
    issues = client.get("/repos/jacquev6/PyGithub/issues", {"labels": STRANGE_LABEL}).data
    assert issues[0]["pull_request"] == {"diff_url": None, "patch_url": None, "html_url": None}
    mapping = gm.GitHubMapping(incident_label=STRANGE_LABEL)
    assert valid(gm.incident_events("jacquev6/PyGithub", issues[0], mapping)) == [
        {
            "type": "incident",
            "source": "github",
            "id": "jacquev6/PyGithub:issue:52@PyGithub",
            "service": "PyGithub",
            "title": "Issue created by PyGithub to test issue #50",
            "opened_at": "2012-06-28T19:56:21Z",
            "updated_at": issues[0]["updated_at"],
        }
    ]
