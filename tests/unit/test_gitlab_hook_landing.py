"""GitLab hooks: a merge commit's parents, where a branch starts, a merge request linked to its
branch's pushes (ingest.sources.landing shared with GitHub), and Note Hooks as reviews.

Payloads: the shared GitLab webhook fixtures (tests/fixtures/shared/gitlab/webhooks) and the
Note Hook example of GitLab's docs (tests/fixtures/gitlab/README.md), with the variants each
test names. No database: the stored events are a dict.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ingest.sources.github_map import PARENTS_GUESSED
from ingest.sources.gitlab import mapper as gl
from ingest.sources.gitlab.webhook import gitlab_webhook_events
from tests.shared import shared_fixture

ZERO = "0" * 40
BEFORE = "95790bf891e76fee5e1747ab589903a6a1f80f22"  # push.json's `before`
MERGE = "b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327"  # push.json's merge commit
README = "da1560886d4f094c3e6c9ef40349f7d38b5d27d7"  # push.json's "fixed readme"
NOTE = Path(__file__).parents[1] / "fixtures" / "gitlab" / "webhooks" / "note_merge_request.json"
PROJECT = "mike/diaspora"


def hook(name: str) -> dict[str, Any]:
    return json.loads(shared_fixture("gitlab", "webhooks", f"{name}.json").read_text())


class Store:
    """Stored events by (type, id), and the lookups the handlers take."""

    def __init__(self) -> None:
        self.events: dict[tuple[str, str], dict[str, Any]] = {}

    def prior(self, etype: str, event_id: str) -> dict[str, Any] | None:
        event = self.events.get((etype, event_id))
        return copy.deepcopy(event) if event else None

    def changes(self, repo: str, *, head: str, shas: Sequence[str]) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(e)
            for (etype, _), e in self.events.items()
            if etype == "change"
            and e["repo"] == repo
            and (e.get("head") == head or {e.get("merge_sha"), e.get("squash_sha")} & set(shas))
        ]

    def deliver(self, event: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
        out = gitlab_webhook_events(event, payload, gl.GitLabMapping(), self.prior, self.changes)
        for e in out or []:
            self.events[(e["type"], e["id"])] = e
        return out or []


def commit(sha: str, message: str, at: str) -> dict[str, Any]:
    return {
        "id": sha,
        "message": message,
        "title": message.splitlines()[0],
        "timestamp": at,
        "url": f"http://example.com/mike/diaspora/commit/{sha}",
        "author": {"name": "GitLab dev user", "email": "gitlabdev@example.com"},
        "added": [],
        "modified": ["README.md"],
        "removed": [],
    }


def push(ref: str, before: str, commits: list[dict[str, Any]]) -> dict[str, Any]:
    payload = hook("push")
    payload.update(
        ref=f"refs/heads/{ref}",
        before=before,
        after=commits[-1]["id"],
        checkout_sha=commits[-1]["id"],
        commits=commits,
        total_commits_count=len(commits),
    )
    return payload


def merge_request(action: str, head: str, **attrs: Any) -> dict[str, Any]:
    """merge_request.json (MR !1 of gitlabhq/gitlab-test, from `ms-viewport`) moved to
    mike/diaspora, with `action`, its last commit `head` and the attributes given."""
    payload = hook("merge_request")
    payload["project"] = hook("push")["project"]
    a = payload["object_attributes"]
    a.update(action=action, updated_at="2013-12-04T10:00:00Z", **attrs)
    a["last_commit"] = {**a["last_commit"], "id": head}
    if action == "merge":
        a["state"] = "merged"
    return payload


def test_merge_requests_merge_commit_takes_before_and_the_commit_listed_before_it() -> None:
    # Variant of push.json: "fixed readme" then the merge commit (GitLab's template, with "See
    # merge request jsmith/example!1"), both listed (total_commits_count 2).
    payload = hook("push")
    merge, readme = payload["commits"]
    payload.update(commits=[readme, merge], total_commits_count=2, after=MERGE)
    first, second = gl.push_commit_events(payload)
    assert first["sha"] == README and "parents" not in first and first[PARENTS_GUESSED]
    assert second["sha"] == MERGE and second["parents"] == [BEFORE, README]
    assert PARENTS_GUESSED not in second


def test_a_merge_commit_not_of_a_merge_request_emits_nothing() -> None:
    # The same, the "See merge request" line taken out: a merge made elsewhere, whose second
    # parent the hook cannot give.
    payload = hook("push")
    merge, readme = payload["commits"]
    merge["message"] = "Merge branch 'some-feature' into 'master'\n"
    payload.update(commits=[readme, merge], total_commits_count=2)
    assert gl.push_commit_events(payload) == []
    # The merge commit first (push.json as it is): not the last one, nothing either.
    assert gl.push_commit_events(hook("push")) == []


def test_a_new_branch_marks_its_first_commit_and_the_default_branch_does_not() -> None:
    a = commit("a" * 40, "part 1", "2013-12-03T10:00:00Z")
    b = commit("b" * 40, "part 2", "2013-12-03T11:00:00Z")
    first, second = gl.push_commit_events(push("ms-viewport", ZERO, [a, b]))
    assert first[gl.BRANCH_START] == "ms-viewport" and first[PARENTS_GUESSED]
    assert second["parents"] == ["a" * 40] and gl.BRANCH_START not in second
    (root,) = gl.push_commit_events(push("master", ZERO, [a]))
    assert gl.BRANCH_START not in root
    # A cut list (4 commits, 2 listed) does not start at the branch's first commit.
    cut = push("ms-viewport", ZERO, [a, b])
    cut["total_commits_count"] = 4
    assert gl.BRANCH_START not in gl.push_commit_events(cut)[0]


def test_a_merge_requests_commits_come_from_its_branchs_pushes_in_either_order() -> None:
    a = commit("a" * 40, "part 1", "2013-12-03T10:00:00Z")
    b = commit("b" * 40, "part 2", "2013-12-03T11:00:00Z")
    c = commit("c" * 40, "part 3", "2013-12-03T12:00:00Z")
    for hook_first in (False, True):
        store = Store()
        store.deliver(
            "Push Hook", push("master", ZERO, [commit(BEFORE, "root", "2013-12-01T00:00:00Z")])
        )
        if hook_first:
            store.deliver("Merge Request Hook", merge_request("open", "b" * 40))
        store.deliver("Push Hook", push("ms-viewport", ZERO, [a, b]))
        if not hook_first:
            store.deliver("Merge Request Hook", merge_request("open", "b" * 40))
        change = store.events[("change", f"{PROJECT}#1")]
        assert change["commits"] == ["a" * 40, "b" * 40] and change["commit_count"] == 2
        # One more commit pushed to the branch (an update from b), then the hook's `update`
        # naming it as the last commit: the count is walked again.
        store.deliver("Push Hook", push("ms-viewport", "b" * 40, [c]))
        assert store.events[("change", f"{PROJECT}#1")]["commits"] == ["a" * 40, "b" * 40]
        store.deliver("Merge Request Hook", merge_request("update", "c" * 40, oldrev="b" * 40))
        change = store.events[("change", f"{PROJECT}#1")]
        assert change["commits"] == ["a" * 40, "b" * 40, "c" * 40], hook_first


def test_fast_forward_with_rebase_lands_the_rebased_copies() -> None:
    # The branch a, b; GitLab rebases it onto master and fast-forwards master to the copies
    # a2, b2 (no merge commit, no squash): the MR's commits are the copies, and they landed.
    a = commit("a" * 40, "part 1", "2013-12-03T10:00:00Z")
    b = commit("b" * 40, "part 2", "2013-12-03T11:00:00Z")
    a2 = {**a, "id": "1" * 40}
    b2 = {**b, "id": "2" * 40}
    store = Store()
    store.deliver("Push Hook", push("ms-viewport", ZERO, [a, b]))
    store.deliver("Merge Request Hook", merge_request("open", "b" * 40))
    store.deliver("Merge Request Hook", merge_request("merge", "2" * 40))
    (change,) = [e for e in store.deliver("Push Hook", push("master", BEFORE, [a2, b2]))][2:]
    assert change["commits"] == ["1" * 40, "2" * 40]
    assert change["landed_commits"] == ["1" * 40, "2" * 40]
    assert change["squash_sha"] == "2" * 40 and "merge_sha" not in change


def test_rebased_copies_found_when_the_branch_push_comes_last() -> None:
    # The same merge, the deliveries in another order: the MR's hooks (open on b, merge on the
    # copy b2) and master's push before the push creating the branch. The count is walked
    # from b, the head the open hook named, once the branch's commits are known.
    a = commit("a" * 40, "part 1", "2013-12-03T10:00:00Z")
    b = commit("b" * 40, "part 2", "2013-12-03T11:00:00Z")
    a2, b2 = {**a, "id": "1" * 40}, {**b, "id": "2" * 40}
    store = Store()
    store.deliver("Merge Request Hook", merge_request("open", "b" * 40))
    store.deliver("Merge Request Hook", merge_request("merge", "2" * 40))
    store.deliver("Push Hook", push("master", BEFORE, [a2, b2]))
    change = store.events[("change", f"{PROJECT}#1")]
    assert "commits" not in change and "landed_commits" not in change
    assert change["head_shas"] == ["b" * 40, "2" * 40]
    store.deliver("Push Hook", push("ms-viewport", ZERO, [a, b]))
    change = store.events[("change", f"{PROJECT}#1")]
    assert change["commit_count"] == 2
    assert change["commits"] == change["landed_commits"] == ["1" * 40, "2" * 40]


def test_a_merge_commit_lands_itself_and_keeps_the_branch_commits() -> None:
    a = commit("a" * 40, "part 1", "2013-12-03T10:00:00Z")
    b = commit("b" * 40, "part 2", "2013-12-03T11:00:00Z")
    m = commit(
        "e" * 40,
        "Merge branch 'ms-viewport' into 'master'\n\nMS-Viewport\n\n"
        "See merge request mike/diaspora!1",
        "2013-12-04T10:00:00Z",
    )
    store = Store()
    store.deliver("Push Hook", push("ms-viewport", ZERO, [a, b]))
    store.deliver("Merge Request Hook", merge_request("open", "b" * 40))
    store.deliver("Merge Request Hook", merge_request("merge", "b" * 40, merge_commit_sha="e" * 40))
    events = store.deliver("Push Hook", push("master", BEFORE, [a, b, m]))
    assert [e["sha"] for e in events if e["type"] == "commit"] == ["a" * 40, "b" * 40, "e" * 40]
    assert store.events[("commit", f"{PROJECT}@{'e' * 40}")]["parents"] == [BEFORE, "b" * 40]
    # The branch's start survives the merge push (its parent still not known).
    assert store.events[("commit", f"{PROJECT}@{'a' * 40}")][gl.BRANCH_START] == "ms-viewport"
    change = store.events[("change", f"{PROJECT}#1")]
    assert change["commits"] == ["a" * 40, "b" * 40]
    assert change["merge_sha"] == "e" * 40 and change["landed_commits"] == ["e" * 40]


def note() -> dict[str, Any]:
    return json.loads(NOTE.read_text())


def test_a_comment_on_a_merge_request_by_another_user_is_its_first_review() -> None:
    # The docs' example: user 1 comments "This MR needs work." on MR !1 (author 8) of
    # gitlab-org/gitlab-test at 2015-05-17 18:21:36 UTC.
    (change,) = Store().deliver("Note Hook", note())
    assert change["id"] == "gitlab-org/gitlab-test#1"
    assert change["first_review_at"] == "2015-05-17T18:21:36Z"
    assert change["created_at"] == "2015-03-01T20:12:53Z"
    assert (change["base"], change["head"]) == ("markdown", "master")


def test_an_earlier_review_stays_and_a_later_comment_does_not_move_it() -> None:
    store = Store()
    early = note()
    early["object_attributes"]["created_at"] = "2015-05-17 09:00:00 UTC"
    store.deliver("Note Hook", early)
    (change,) = store.deliver("Note Hook", note())
    assert change["first_review_at"] == "2015-05-17T09:00:00Z"


def test_comments_that_are_no_review_record_nothing() -> None:
    by_author = note()
    by_author["object_attributes"]["author_id"] = 8  # the MR's author
    system = note()
    system["object_attributes"]["system"] = True
    on_commit = note()
    on_commit["object_attributes"]["noteable_type"] = "Commit"
    on_commit.pop("merge_request")
    for payload in (by_author, system, on_commit):
        assert Store().deliver("Note Hook", payload) == []
