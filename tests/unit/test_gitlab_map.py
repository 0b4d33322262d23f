"""GitLab REST objects and webhook payloads -> events, replaying ../shared/fixtures/gitlab.

Expected values are read by hand from the fixture JSON and CSV rows and written out here.
Where a fixture lacks a case (notes and approvals, a fast-forward merge, an incident issue, a
linear push) the test derives a variant from the real object and says what it changed.
"""

from __future__ import annotations

import copy
import csv
import json
from typing import Any

import pytest

from dora.intake.schema import event_validate
from ingest.sources.github_map import PARENTS_GUESSED
from ingest.sources.gitlab import mapper as gl
from ingest.sources.gitlab.webhook import (
    HANDLED_EVENTS,
    gitlab_token_valid,
    gitlab_webhook_events,
)
from tests.shared import shared_fixture

csv.field_size_limit(10**8)
VDEV = "merico-dev/ee/vdev.co"  # the project of the devlake deployments
SPEND = "gitlab-data/snowflake_spend"  # the project of the devlake merge requests
ALL_SIGNALS = gl.GitLabMapping(deployments_from=gl.DEPLOYMENT_ORIGINS, tag_pattern=r"^v?\d")


def rest(name: str) -> Any:
    return json.loads(shared_fixture("gitlab", "rest", f"{name}.json").read_text())


def hook(name: str) -> dict[str, Any]:
    return json.loads(shared_fixture("gitlab", "webhooks", f"{name}.json").read_text())


def raw(table: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(input, data) of each row of a devlake raw table."""
    path = shared_fixture("gitlab", "devlake-raw", f"_raw_gitlab_api_{table}.csv")
    with path.open(newline="") as f:
        return [
            (json.loads(r["input"] or "null") or {}, json.loads(r["data"]))
            for r in csv.DictReader(f)
        ]


def raw_by(table: str, key: str, value: Any) -> dict[str, Any]:
    return next(data for _, data in raw(table) if data[key] == value)


def valid(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for event in events:
        event_validate(event)
    return events


# ---------------------------------------------------------------------------------------------
# Times
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2016-08-12 15:23:28 UTC", "2016-08-12T15:23:28Z"),  # pipeline hook
        ("2021-04-28 21:50:00 +0200", "2021-04-28T19:50:00Z"),  # deployment hook
        ("2019-03-13T14:14:24.109Z", "2019-03-13T14:14:24.109Z"),  # REST
        ("2019-03-13T14:14:23.000+00:00", "2019-03-13T14:14:23Z"),  # REST commit
        ("2012-01-03T23:36:29+02:00", "2012-01-03T21:36:29Z"),  # push hook
    ],
)
def test_gitlab_time_every_spelling_is_iso_utc(value: str, expected: str) -> None:
    assert gl.gitlab_time(value) == expected


def test_gitlab_time_without_a_zone_is_refused() -> None:
    with pytest.raises(ValueError, match="without a zone"):
        gl.gitlab_time("2016-08-12 15:23:28")


# ---------------------------------------------------------------------------------------------
# Commits
# ---------------------------------------------------------------------------------------------


def test_commit_event_from_rest_has_parents_and_both_times() -> None:
    # The full REST commit of deployment 13426753's job (a merge commit: two parents).
    obj = raw_by("deployments", "id", 13426753)["deployable"]["commit"]
    (event,) = valid([gl.commit_event(VDEV, obj)])
    assert event == {
        "type": "commit",
        "source": "gitlab",
        "id": "merico-dev/ee/vdev.co@add237f6852e6108ee8e0246780a54ce909c6087",
        "repo": VDEV,
        "sha": "add237f6852e6108ee8e0246780a54ce909c6087",
        "parents": [
            "3ad303fb1202c3908ca7345d115caf1ddce5e787",
            "3d70bb99d0f49d2c61e699119466f2d8bad599c9",
        ],
        "authored_at": "2019-03-13T14:14:23Z",
        "committed_at": "2019-03-13T14:14:23Z",
        "author": "文宇祥",
        "message": "Merge branch 'update-gitlab-ci' into 'master'\n\nUpdate CI\n\n"
        "See merge request meri.co/vdev.co!175",
    }


def test_commit_from_the_mr_commits_list_leaves_parents_out() -> None:
    # GitLab's MR commits endpoint answers parent_ids: [] for every commit: unknown, not none.
    obj = next(d for i, d in raw("merge_request_commits") if d["id"].startswith("ad25fcda"))
    event = gl.commit_event(SPEND, obj)
    assert "parents" not in event
    assert event["authored_at"] == "2019-06-28T11:03:52Z"
    assert event["author"] == "emilie"


def test_push_with_a_merge_commit_emits_nothing() -> None:
    # The fixture's first commit is GitLab's "Merge branch 'some-feature' into 'master'".
    assert gitlab_webhook_events("Push Hook", hook("push"), gl.GitLabMapping()) == []


def test_push_fast_forward_chains_parents_from_before() -> None:
    # Variant: the merge commit dropped, the count set to the one commit left.
    payload = hook("push")
    payload["commits"] = payload["commits"][1:]
    payload["total_commits_count"] = 1
    (event,) = valid(gitlab_webhook_events("Push Hook", payload, gl.GitLabMapping()) or [])
    assert event == {
        "type": "commit",
        "source": "gitlab",
        "id": "mike/diaspora@da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "repo": "mike/diaspora",
        "sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "parents": ["95790bf891e76fee5e1747ab589903a6a1f80f22"],
        "authored_at": "2012-01-03T21:36:29Z",
        "author": "GitLab dev user",
        "message": "fixed readme\n",
        "files": ["CHANGELOG", "app/controller/application.rb"],
    }


def test_push_whose_list_was_cut_guesses_the_first_parent_only() -> None:
    # Variant: the first commit's message is no merge's; total_commits_count stays 4 (two listed).
    payload = hook("push")
    payload["commits"][0]["message"] = "Release v1.0.0\n"
    first, second = gitlab_webhook_events("Push Hook", payload, gl.GitLabMapping()) or []
    assert "parents" not in first and first[PARENTS_GUESSED] is True
    assert second["parents"] == ["b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"]
    assert PARENTS_GUESSED not in second


# ---------------------------------------------------------------------------------------------
# Merge requests
# ---------------------------------------------------------------------------------------------


def mr_commits(iid: int) -> list[dict[str, Any]]:
    return [data for inp, data in raw("merge_request_commits") if inp["Iid"] == iid]


def test_merge_commit_mr_with_its_commits() -> None:
    # MR !1 of snowflake_spend: merged with a merge commit; `squash: true` but from before
    # GitLab recorded squash_commit_sha (null), so only the merge commit is known to have landed.
    mr = raw_by("merge_requests", "iid", 1)
    (event,) = valid([gl.change_event(SPEND, mr, commits=mr_commits(1))])
    assert event == {
        "type": "change",
        "source": "gitlab",
        "id": "gitlab-data/snowflake_spend#1",
        "repo": SPEND,
        "number": 1,
        "title": 'Resolve "Add documentation to snowflake spend package"',
        "url": "https://gitlab.com/gitlab-data/snowflake_spend/-/merge_requests/1",
        "author": "emilie",
        "created_at": "2019-06-28T05:21:43.743Z",
        "merged_at": "2019-06-28T14:32:06.192Z",
        "base": "master",
        "head": "1-add-documentation-to-snowflake-spend-package",
        "labels": [],
        "updated_at": "2019-06-28T14:32:05.270Z",
        "merge_sha": "da1d6dea48f5972ffc683da6cff30934e7d6c52c",
        "landed_commits": ["da1d6dea48f5972ffc683da6cff30934e7d6c52c"],
        # GitLab lists them newest first; the event oldest first.
        "commits": [
            "abbe0ab2c7bb1dc2cfaa3ef3062f378fb908ba71",
            "e01d4f03811cd0da9949848731236e0aa261cf54",
            "3f04e0a61d0c4d2dd736a6bcaa3a06826269a533",
            "382084b42697577d3a6adf71ce73d4b5ddd22977",
            "ad25fcda15e310a7eb34b3e38ff9b962b54f0e03",
        ],
    }


def test_merge_commit_mr_without_squash_and_its_labels() -> None:
    mr = raw_by("merge_requests", "iid", 4)
    event = valid([gl.change_event(SPEND, mr)])[0]
    assert event["merge_sha"] == "e95b5db25e15a38e21d11cb45cc21bf17d5c407c"
    assert "squash_sha" not in event
    assert event["landed_commits"] == ["e95b5db25e15a38e21d11cb45cc21bf17d5c407c"]
    assert event["labels"] == ["Analytics", "Data Team", "Refactor", "dbt"]
    assert event["merged_at"] == "2019-08-26T15:37:50.105Z"
    assert "commits" not in event  # not read: left out, not emptied


def test_squash_mr_with_a_merge_commit_lands_both() -> None:
    # MR !14: squash_commit_sha is the MR's own head (one commit: squashing it made no new
    # commit) and merge_commit_sha the merge commit whose second parent it is.
    mr = raw_by("merge_requests", "iid", 14)
    event = valid([gl.change_event(SPEND, mr)])[0]
    assert event["squash_sha"] == "7f928f936c58b2e001f86d07b1f7b9411413e439"
    assert event["merge_sha"] == "21840a7eadb58babe8aeae2960da851a3ed00ddc"
    assert event["landed_commits"] == [
        "7f928f936c58b2e001f86d07b1f7b9411413e439",
        "21840a7eadb58babe8aeae2960da851a3ed00ddc",
    ]


def test_fast_forward_squash_lands_the_squash_commit() -> None:
    # Variant of !14: a fast-forward project makes no merge commit (merge_commit_sha null).
    mr = {**raw_by("merge_requests", "iid", 14), "merge_commit_sha": None}
    event = valid([gl.change_event(SPEND, mr)])[0]
    assert "merge_sha" not in event
    assert event["landed_commits"] == ["7f928f936c58b2e001f86d07b1f7b9411413e439"]


def test_fast_forward_without_squash_lands_the_mrs_own_commits() -> None:
    # Variant of !1: fast-forward, no squash: merge_commit_sha names the MR's head (`sha`).
    mr = raw_by("merge_requests", "iid", 1)
    mr = {**mr, "merge_commit_sha": mr["sha"], "squash_commit_sha": None}
    event = valid([gl.change_event(SPEND, mr, commits=mr_commits(1))])[0]
    assert "merge_sha" not in event
    # The target branch now points at the MR's head: the sha a squash commit would have been.
    assert event["squash_sha"] == mr["sha"] == "ad25fcda15e310a7eb34b3e38ff9b962b54f0e03"
    assert event["landed_commits"] == event["commits"]
    assert event["landed_commits"][-1] == "ad25fcda15e310a7eb34b3e38ff9b962b54f0e03"
    # Without its commits nothing can be said of what landed.
    assert "landed_commits" not in gl.change_event(SPEND, mr)


def test_closed_mr_has_closed_at_and_nothing_landed() -> None:
    event = valid([gl.change_event(SPEND, raw_by("merge_requests", "iid", 13))])[0]
    assert event["closed_at"] == "2020-08-27T20:20:08.150Z"
    assert not {"merged_at", "merge_sha", "squash_sha", "landed_commits"} & set(event)


def test_open_draft_mr_from_rest_is_not_ready() -> None:
    mr = rest("get_merge_request")
    event = valid([gl.change_event("gitlab-org/gitlab-ee", mr)])[0]
    assert event["number"] == 14656
    assert event["url"] == "https://gitlab.com/gitlab-org/gitlab-ee/merge_requests/14656"
    assert event["created_at"] == "2019-07-11T22:34:43.500Z"
    assert event["head"] == "delete-designs-v2"
    assert len(event["labels"]) == 9 and event["labels"][0] == "GitLab Enterprise Edition"
    assert "ready_at" not in event and "merge_sha" not in event


def test_mr_list_titles_and_drafts() -> None:
    first, second = rest("get_merge_requests")[:2]
    events = [gl.change_event("gitlab-org/gitlab-ee", mr, notes=[]) for mr in (first, second)]
    assert [e["number"] for e in valid(events)] == [15442, 15441]
    assert all("ready_at" not in e for e in events)  # work_in_progress: drafts


def test_ready_at_from_the_notes_only() -> None:
    # Variant notes on MR !1 (never a draft by its flags): without notes nothing is said.
    mr = raw_by("merge_requests", "iid", 1)
    assert "ready_at" not in gl.change_event(SPEND, mr)
    assert gl.change_event(SPEND, mr, notes=[])["ready_at"] == "2019-06-28T05:21:43.743Z"
    emilie = {"username": "emilie"}
    draft = {
        "author": emilie,
        "system": True,
        "created_at": "2019-06-28T05:30:00Z",
        "body": "marked this merge request as **draft**",
    }
    assert "ready_at" not in gl.change_event(SPEND, mr, notes=[draft])
    ready = {
        **draft,
        "created_at": "2019-06-28T10:00:00Z",
        "body": "marked this merge request as **ready**",
    }
    event = gl.change_event(SPEND, mr, notes=[draft, ready])
    assert event["ready_at"] == "2019-06-28T10:00:00Z"
    assert "first_review_at" not in event  # the author's own notes


def test_first_non_author_note_and_last_approval() -> None:
    # Variant: no notes fixture exists; these are shaped as GET .../merge_requests/1/notes.
    mr = raw_by("merge_requests", "iid", 1)
    emilie, taylor, bot = {"username": "emilie"}, {"username": "tayloramurphy"}, {"username": "b"}
    notes = [
        {"author": emilie, "body": "ready?", "system": False, "created_at": "2019-06-28T06:00:00Z"},
        {
            "author": bot,
            "body": "added 1 commit",
            "system": True,
            "created_at": "2019-06-28T06:30:00Z",
        },
        {"author": taylor, "body": "nit", "system": False, "created_at": "2019-06-28T07:00:00Z"},
        {
            "author": taylor,
            "body": "approved this merge request",
            "system": True,
            "created_at": "2019-06-28T09:00:00Z",
        },
        {
            "author": emilie,
            "body": "approved this merge request",
            "system": True,
            "created_at": "2019-06-28T12:00:00Z",
        },
    ]
    event = valid([gl.change_event(SPEND, mr, notes=notes)])[0]
    assert event["first_review_at"] == "2019-06-28T07:00:00Z"
    assert event["approved_at"] == "2019-06-28T09:00:00Z"  # the author's own approval ignored
    approvals = {"approved_by": [{"user": taylor, "approved_at": "2019-06-28T14:00:00Z"}]}
    event = gl.change_event(SPEND, mr, notes=notes, approvals=approvals)
    assert event["approved_at"] == "2019-06-28T14:00:00Z"
    assert event["first_review_at"] == "2019-06-28T07:00:00Z"


def test_merge_request_hook_open() -> None:
    (event,) = valid(
        gitlab_webhook_events("Merge Request Hook", hook("merge_request"), gl.GitLabMapping()) or []
    )
    assert event == {
        "type": "change",
        "source": "gitlab",
        "id": "gitlabhq/gitlab-test#1",
        "repo": "gitlabhq/gitlab-test",
        "number": 1,
        "title": "MS-Viewport",
        "url": "http://example.com/diaspora/merge_requests/1",
        "author": "user1",
        "created_at": "2013-12-03T17:23:34Z",
        "ready_at": "2013-12-03T17:23:34Z",
        "base": "master",
        "head": "ms-viewport",
        "labels": ["API"],
        "updated_at": "2013-12-03T17:23:34Z",
        # Not CONTRACT fields: the last commit (and every one named), kept to link the
        # branch's pushes later.
        "head_sha": "da1560886d4f094c3e6c9ef40349f7d38b5d27d7",
        "head_shas": ["da1560886d4f094c3e6c9ef40349f7d38b5d27d7"],
    }


def test_merge_request_hook_merge_keeps_what_was_stored() -> None:
    # Variant: action merge, state merged, a merge_commit_sha (newer hooks carry it), a later
    # updated_at; the stored change has the author and commits the sync read.
    payload = hook("merge_request")
    attrs = payload["object_attributes"]
    attrs.update(
        action="merge",
        state="merged",
        updated_at="2013-12-04T10:00:00Z",
        merge_commit_sha="1111111111111111111111111111111111111111",
    )
    stored = {
        "type": "change",
        "source": "gitlab",
        "id": "gitlabhq/gitlab-test#1",
        "repo": "gitlabhq/gitlab-test",
        "number": 1,
        "created_at": "2013-12-03T17:23:34Z",
        "author": "alice",
        "commits": ["da1560886d4f094c3e6c9ef40349f7d38b5d27d7"],
        "ready_at": "2013-12-03T17:23:34Z",
    }

    def prior(etype: str, event_id: str) -> dict[str, Any] | None:
        return dict(stored) if (etype, event_id) == ("change", stored["id"]) else None

    (event,) = valid(
        gitlab_webhook_events("Merge Request Hook", payload, gl.GitLabMapping(), prior) or []
    )
    assert event["merged_at"] == "2013-12-04T10:00:00Z"
    assert event["merge_sha"] == "1111111111111111111111111111111111111111"
    assert event["landed_commits"] == ["1111111111111111111111111111111111111111"]
    assert event["author"] == "alice"
    assert event["commits"] == ["da1560886d4f094c3e6c9ef40349f7d38b5d27d7"]
    assert event["ready_at"] == "2013-12-03T17:23:34Z"


def test_merge_request_hook_approval_by_another_user() -> None:
    # Variant: action approved by user 1; the author is author_id 51.
    payload = hook("merge_request")
    payload["object_attributes"].update(action="approved", updated_at="2013-12-05T08:00:00Z")
    (event,) = gitlab_webhook_events("Merge Request Hook", payload, gl.GitLabMapping()) or []
    assert event["first_review_at"] == event["approved_at"] == "2013-12-05T08:00:00Z"
    payload["user"]["id"] = 51  # the author approving their own MR counts for nothing
    (event,) = gitlab_webhook_events("Merge Request Hook", payload, gl.GitLabMapping()) or []
    assert "approved_at" not in event and "first_review_at" not in event


# ---------------------------------------------------------------------------------------------
# Pipelines and jobs
# ---------------------------------------------------------------------------------------------

# Every pipeline status in the devlake list (pipeline id -> ours; None: no event).
PIPELINE_STATUSES = {
    485932871: "running",  # scheduled
    485932863: "success",
    485811050: "failure",  # failed
    485932864: "cancelled",  # canceled
    485932865: "running",  # created
    485932866: "running",  # waiting_for_resource
    485932867: "running",  # preparing
    485932868: "running",  # pending
    485932869: "running",  # running
    485932870: "running",  # manual: stopped at a manual job, not finished
    485932872: None,  # skipped
}


@pytest.mark.parametrize(("pipeline_id", "expected"), sorted(PIPELINE_STATUSES.items()))
def test_every_pipeline_status_in_the_fixtures(pipeline_id: int, expected: str | None) -> None:
    event = gl.pipeline_run_event(VDEV, raw_by("pipeline", "id", pipeline_id))
    if expected is None:
        assert event is None
        return
    assert event is not None
    valid([event])
    assert event["status"] == expected
    if expected in ("success", "cancelled"):
        # The list has no finished_at: updated_at is the finish.
        assert event["finished_at"] == "2022-03-07T09:41:36.267Z"
    elif expected == "failure":
        assert event["finished_at"] == "2022-03-07T06:26:42.109Z"
    else:
        assert "finished_at" not in event


def test_pipeline_from_the_list_running_with_no_update() -> None:
    event = gl.pipeline_run_event("merico-dev/ee/charts", raw_by("pipeline", "id", 457474837))
    assert event == {
        "type": "pipeline_run",
        "source": "gitlab",
        "id": "merico-dev/ee/charts:pipeline:457474837",
        "repo": "merico-dev/ee/charts",
        "sha": "b1b82852d48b516a18e56c5bab0ebf54b8f4ccfd",
        "branch": "renovate/pin-dependencies",
        "status": "running",
        "trigger": "external",
        "created_at": "2022-01-27T10:07:09.429Z",
        "started_at": "2022-01-27T10:07:09.429Z",
    }


def test_pipeline_detail_has_its_own_start_and_finish() -> None:
    event = gl.pipeline_run_event(VDEV, raw_by("pipeline_details", "id", 1078343570))
    assert event is not None
    assert event["started_at"] == "2023-11-20T07:17:10.123Z"
    assert event["finished_at"] == "2023-11-21T01:54:29.748Z"  # not updated_at (…757Z)
    assert event["created_at"] == "2023-11-20T07:17:08.753Z"
    assert event["branch"] == "refs/merge-requests/5394/head"
    assert event["trigger"] == "merge_request_event"
    assert "name" not in event  # name: null


def test_pipeline_hook_with_its_jobs() -> None:
    (event,) = valid(
        gitlab_webhook_events("Pipeline Hook", hook("pipeline"), gl.GitLabMapping()) or []
    )
    assert event == {
        "type": "pipeline_run",
        "source": "gitlab",
        "id": "gitlab-org/gitlab-test:pipeline:31",
        "repo": "gitlab-org/gitlab-test",
        "sha": "bcbb5ec396a2c0f828686f14fac9b80b780504f2",
        "branch": "master",
        "status": "success",
        "trigger": "merge_request_event",
        "created_at": "2016-08-12T15:23:28Z",
        "started_at": "2016-08-12T15:23:28Z",
        "finished_at": "2016-08-12T15:26:29Z",
        # production (skipped) did not run; test-image says success without a finish.
        "jobs": [
            {"name": "test-image", "started_at": "2016-08-12T15:26:12Z", "status": "success"},
            {
                "name": "test-build",
                "started_at": "2016-08-12T15:26:12Z",
                "finished_at": "2016-08-12T15:26:29Z",
                "status": "success",
            },
            {
                "name": "build-image",
                "started_at": "2016-08-12T15:24:56Z",
                "finished_at": "2016-08-12T15:25:26Z",
                "status": "success",
            },
            {"name": "staging", "status": "running"},
        ],
    }


def test_job_hook_updates_its_stored_pipeline() -> None:
    repo = "jsmithy2/release-tools-fake"  # the hook's repository.homepage path
    stored = {
        "type": "pipeline_run",
        "source": "gitlab",
        "id": f"{repo}:pipeline:743121198",
        "repo": repo,
        "sha": "95d49d1efbd941908580e79d65e4b5ecaf4a8305",
        "status": "running",
        "started_at": "2023-01-10T13:50:05Z",
        "jobs": [{"name": "auto_deploy:start", "status": "running"}],
    }

    def prior(etype: str, event_id: str) -> dict[str, Any] | None:
        return dict(stored) if event_id == stored["id"] else None

    (event,) = valid(
        gitlab_webhook_events("Job Hook", hook("job"), gl.GitLabMapping(), prior) or []
    )
    assert event["jobs"] == [
        {
            "name": "auto_deploy:start",
            "started_at": "2023-01-10T13:50:05Z",
            "finished_at": "2023-01-10T13:50:54Z",
            "status": "success",
        }
    ]
    assert gitlab_webhook_events("Job Hook", hook("job"), gl.GitLabMapping()) == []


# ---------------------------------------------------------------------------------------------
# Deployments
# ---------------------------------------------------------------------------------------------

# Every deployment of the devlake fixture (id -> status, started_at, finished_at, environment);
# None: a status GitLab does not document (`completed`, `undeployed`), no event.
DEPLOYMENTS = {
    13426753: ("success", "2019-03-13T14:17:33.559Z", "2019-03-13T14:17:47.640Z", "staging"),
    13432654: None,  # completed
    # failed: its job was skipped (no start, no finish): created_at and updated_at.
    13432768: ("failure", "2019-03-13T14:55:21.182Z", "2019-03-13T15:02:23.332Z", "staging"),
    13436532: ("cancelled", "2019-03-13T15:21:07.335Z", "2019-03-13T15:21:27.825Z", "production"),
    13436763: ("running", "2019-03-13T15:23:40.064Z", None, "production"),  # created
    13436778: ("running", "2019-03-13T15:23:52.979Z", None, "staging"),  # running, job unstarted
    13436986: ("running", "2019-03-13T15:26:19.170Z", None, "production"),  # blocked
    13436915: None,  # undeployed
}


@pytest.mark.parametrize(("deployment_id", "expected"), sorted(DEPLOYMENTS.items()))
def test_every_deployment_status_in_the_fixtures(
    deployment_id: int, expected: tuple[str, str, str | None, str] | None
) -> None:
    events = gl.deployment_events(
        VDEV, raw_by("deployments", "id", deployment_id), gl.GitLabMapping()
    )
    if expected is None:
        assert events == []
        return
    (event,) = valid(events)
    status, started, finished, environment = expected
    assert event["status"] == status
    assert event["started_at"] == started
    assert event.get("finished_at") == finished
    assert event["environment"] == environment
    assert event["service"] == "vdev.co"
    assert event["id"] == f"{VDEV}:deployment:{deployment_id}@vdev.co"


def test_deployment_from_rest_field_by_field() -> None:
    (event,) = gl.deployment_events(VDEV, raw_by("deployments", "id", 13426753), ALL_SIGNALS)
    assert event == {
        "type": "deployment",
        "source": "gitlab",
        "id": "merico-dev/ee/vdev.co:deployment:13426753@vdev.co",
        "service": "vdev.co",
        "repo": VDEV,
        "environment": "staging",
        "sha": "add237f6852e6108ee8e0246780a54ce909c6087",
        "status": "success",
        "started_at": "2019-03-13T14:17:33.559Z",
        "finished_at": "2019-03-13T14:17:47.640Z",
        "pipeline_run": "merico-dev/ee/vdev.co:pipeline:51653436",
        "updated_at": "2019-03-13T14:17:47.647Z",
    }  # ref master is no tag: no version


def test_skipped_deployment_is_cancelled() -> None:
    # Variant: GitLab's `skipped` (superseded before it ran) is absent from the fixture.
    obj = {**raw_by("deployments", "id", 13432768), "status": "skipped"}
    (event,) = valid(gl.deployment_events(VDEV, obj, gl.GitLabMapping()))
    assert event["status"] == "cancelled"
    assert event["finished_at"] == "2019-03-13T15:02:23.332Z"


@pytest.mark.parametrize(
    ("tier", "expected"),
    [
        ("production", "production"),
        ("staging", "staging"),
        ("testing", "test"),
        ("development", "development"),
        ("other", None),
        (None, None),
    ],
)
def test_environment_tier_from_gitlabs_tier(tier: str | None, expected: str | None) -> None:
    # Variant: newer GitLab gives the environment's `tier`; the 2019 fixture has none.
    obj = copy.deepcopy(raw_by("deployments", "id", 13426753))
    obj["environment"]["tier"] = tier
    (event,) = gl.deployment_events(VDEV, obj, gl.GitLabMapping())
    assert event.get("environment_tier") == expected
    assert gl.environment_tier(tier) == expected


def test_deployment_services_and_environment_map() -> None:
    mapping = gl.GitLabMapping(
        services={VDEV: ["api", "web"]}, environments={"STAGING": "stage-eu"}
    )
    events = gl.deployment_events(VDEV, raw_by("deployments", "id", 13426753), mapping)
    assert [(e["service"], e["environment"], e["id"]) for e in events] == [
        ("api", "stage-eu", f"{VDEV}:deployment:13426753@api"),
        ("web", "stage-eu", f"{VDEV}:deployment:13426753@web"),
    ]


def test_deployment_hook_success() -> None:
    (event,) = valid(
        gitlab_webhook_events("Deployment Hook", hook("deployment"), ALL_SIGNALS) or []
    )
    assert event == {
        "type": "deployment",
        "source": "gitlab",
        "id": "root/test-deployment-webhooks:deployment:15@test-deployment-webhooks",
        "service": "test-deployment-webhooks",
        "repo": "root/test-deployment-webhooks",
        "environment": "staging",
        "sha": "279484c09fbe69ededfced8c1bb6e6d24616b468",
        "version": "1.0.0",  # ref 1.0.0 matches ^v?\d
        "status": "success",
        "finished_at": "2021-04-28T19:50:00Z",
    }


def test_deployment_hook_running_then_success_keeps_the_start() -> None:
    running = hook("deployment")
    running.update(status="running", status_changed_at="2021-04-28 21:45:00 +0200")
    (started,) = gitlab_webhook_events("Deployment Hook", running, gl.GitLabMapping()) or []
    assert started["status"] == "running" and started["started_at"] == "2021-04-28T19:45:00Z"
    assert "finished_at" not in started

    def prior(etype: str, event_id: str) -> dict[str, Any] | None:
        return started if event_id == started["id"] else None

    (done,) = valid(
        gitlab_webhook_events("Deployment Hook", hook("deployment"), gl.GitLabMapping(), prior)
        or []
    )
    assert done["started_at"] == "2021-04-28T19:45:00Z"
    assert done["finished_at"] == "2021-04-28T19:50:00Z"
    # A late `running` after the success does not undo it.
    (kept,) = (
        gitlab_webhook_events("Deployment Hook", running, gl.GitLabMapping(), lambda t, i: done)
        or []
    )
    assert kept == done


# ---------------------------------------------------------------------------------------------
# Releases and tags
# ---------------------------------------------------------------------------------------------


def test_release_hook_is_a_deployment_when_configured() -> None:
    payload = hook("release")
    assert gitlab_webhook_events("Release Hook", payload, gl.GitLabMapping()) == []
    (event,) = valid(gitlab_webhook_events("Release Hook", payload, ALL_SIGNALS) or [])
    assert event == {
        "type": "deployment",
        "source": "gitlab",
        "id": "exm-namespace/example-project:release:1.0.0@example-project",
        "service": "example-project",
        "repo": "exm-namespace/example-project",
        "environment": "production",
        "version": "1.0.0",
        "sha": "2626dbdb936782b5c54816b1c6d45b1279303c6d",
        "status": "success",
        "finished_at": "2021-02-25T21:23:34Z",
    }


def test_tag_push_matching_the_pattern_is_a_deployment() -> None:
    (event,) = valid(gitlab_webhook_events("Tag Push Hook", hook("tag_push"), ALL_SIGNALS) or [])
    assert event["id"] == "jsmith/example:tag:v1.0.0@example"
    assert event["version"] == "v1.0.0"
    assert event["sha"] == "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7"
    assert event["finished_at"] == "2012-01-03T21:36:29Z"
    assert gitlab_webhook_events("Tag Push Hook", hook("tag_push"), gl.GitLabMapping()) == []


def test_rest_tag_maps_as_its_tag_push_hook() -> None:
    # The same tag as the tags list gives it (docs.gitlab.com/api/tags): its commit's
    # committed_date is the hook commit's `timestamp`, 2012-01-03T23:36:29+02:00.
    tag = {
        "name": "v1.0.0",
        "target": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
        "commit": {
            **rest("get_commit"),
            "id": "82b3d5ae55f7080f1e6022629cdb57bfae7cccc7",
            "committed_date": "2012-01-03T23:36:29.000+02:00",
        },
    }
    from_rest = gl.rest_tag_deployment_events("jsmith/example", tag, ALL_SIGNALS)
    assert from_rest == gitlab_webhook_events("Tag Push Hook", hook("tag_push"), ALL_SIGNALS)
    assert gl.rest_tag_deployment_events("jsmith/example", tag, gl.GitLabMapping()) == []


def test_environment_folder_is_the_environment_and_its_target() -> None:
    payload = {**hook("deployment"), "environment": "production/eu-west"}
    (event,) = valid(gl.deployment_hook_events(payload, gl.GitLabMapping()))
    assert (event["environment"], event["target"]) == ("production", "eu-west")
    # A name the environments map lists whole is one environment, without a target.
    mapping = gl.GitLabMapping(environments={"Review/App": "review"})
    payload = {**hook("deployment"), "environment": "review/app"}
    (event,) = valid(gl.deployment_hook_events(payload, mapping))
    assert event["environment"] == "review" and "target" not in event


# ---------------------------------------------------------------------------------------------
# Incidents
# ---------------------------------------------------------------------------------------------


def test_plain_issue_is_no_incident() -> None:
    assert gitlab_webhook_events("Issue Hook", hook("issue"), gl.GitLabMapping()) == []


def test_incident_issue_closed_with_gitlabs_severity() -> None:
    # Variant: the issue typed Incident (newer hooks: object_attributes.type) and closed.
    payload = hook("issue")
    payload["object_attributes"].update(
        type="Incident", state="closed", closed_at="2013-12-04T09:00:00Z"
    )
    (event,) = valid(gitlab_webhook_events("Issue Hook", payload, gl.GitLabMapping()) or [])
    assert event == {
        "type": "incident",
        "source": "gitlab",
        "id": "gitlabhq/gitlab-test:issue:23@gitlab-test",
        "service": "gitlab-test",
        "title": "New API: create/update/delete file",
        "severity": "sev2",  # GitLab's "high"
        "opened_at": "2013-12-03T17:15:43Z",
        "resolved_at": "2013-12-04T09:00:00Z",
        "updated_at": "2013-12-03T17:15:43Z",
    }


def test_issue_with_the_incident_label_is_an_incident() -> None:
    mapping = gl.GitLabMapping(incident_label="api")  # the fixture's label is "API"
    (event,) = gitlab_webhook_events("Issue Hook", hook("issue"), mapping) or []
    assert "resolved_at" not in event  # opened
    rest_issue = {
        "iid": 7,
        "title": "down",
        "created_at": "2024-01-02T03:04:05Z",
        "issue_type": "incident",
        "labels": ["sev1"],
        "state": "opened",
    }
    (event,) = valid(gl.incident_events("acme/shop", rest_issue, gl.GitLabMapping()))
    assert event["severity"] == "sev1" and event["id"] == "acme/shop:issue:7@shop"


# ---------------------------------------------------------------------------------------------
# Webhook: token and routing
# ---------------------------------------------------------------------------------------------


def test_gitlab_token_compared_whole() -> None:
    assert gitlab_token_valid("s3cret", "s3cret")
    assert gitlab_token_valid(b"s3cret", "s3cret")
    assert not gitlab_token_valid("s3cret", "s3cre")
    assert not gitlab_token_valid("s3cret", "s3cret ")
    assert not gitlab_token_valid("s3cret", None)
    assert not gitlab_token_valid("", "")
    assert not gitlab_token_valid(None, "anything")


def test_router_knows_the_nine_hooks_and_nothing_else() -> None:
    assert HANDLED_EVENTS == (
        "Push Hook",
        "Tag Push Hook",
        "Merge Request Hook",
        "Note Hook",
        "Pipeline Hook",
        "Job Hook",
        "Deployment Hook",
        "Issue Hook",
        "Release Hook",
    )
    assert gitlab_webhook_events("Wiki Page Hook", {}, gl.GitLabMapping()) is None
    assert gitlab_webhook_events("push", hook("push"), gl.GitLabMapping()) is None
