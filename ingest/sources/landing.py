"""A change's commits and what its merge landed, from the commits earlier webhook deliveries stored.

Shared by the GitHub and GitLab webhook handlers. A pull (merge) request's delivery names its
head sha; the pushes bring the commits, with the parents their payload can give. Whichever
arrives second completes the change (`change_landing`): its commits are the `commit_count`
first-parent commits up to `head_sha` (two fields the handlers keep with the stored change
event, not CONTRACT fields), and what its merge landed is the provider's to say (`Landed`):
GitHub infers the merge method from the merge commit, GitLab's hook names it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# A pull request lists at most 250 commits (docs.github.com/rest/pulls/pulls#list-commits-on-a-
# pull-request): a longer walk is not one to trust, on either provider.
MAX_CHANGE_COMMITS = 250

Prior = Callable[[str, str], dict[str, Any] | None]  # (type, id) -> the stored event or None
CommitOf = Callable[[str], Mapping[str, Any] | None]  # sha -> the commit (REST shape) or None


class ChangesOf(Protocol):
    """The stored change events of a repository whose head branch is `head`, or whose merge or
    squash sha is one of `shas`."""

    def __call__(self, repo: str, *, head: str, shas: Sequence[str]) -> list[dict[str, Any]]: ...


def no_prior(etype: str, event_id: str) -> None:
    return None


def no_changes(repo: str, *, head: str, shas: Sequence[str]) -> list[dict[str, Any]]:
    return []


@dataclass(frozen=True)
class Stored:
    """What a handler may look up of the events stored before."""

    event: Prior = no_prior
    changes: ChangesOf = no_changes


def commit_rest(event: Mapping[str, Any]) -> dict[str, Any]:
    """A stored commit event in the REST shape the mappers read (GitHub's: `sha`, `parents`
    as `{"sha": ...}`, `commit.author.date`, `commit.message`)."""
    return {
        "sha": event["sha"],
        "parents": [{"sha": parent} for parent in event.get("parents") or []],
        "commit": {"author": {"date": event["authored_at"]}, "message": event.get("message")},
        "event": event,
    }


def commit_lookup(
    repo: str, lookup: Stored, fresh: Mapping[str, dict[str, Any]] | None = None
) -> CommitOf:
    """sha -> the commit (REST shape) this delivery brings, else the one stored, else None."""

    def commit_of(sha: str) -> dict[str, Any] | None:
        event = (fresh or {}).get(sha) or lookup.event("commit", f"{repo}@{sha}")
        return commit_rest(event) if event and event.get("authored_at") else None

    return commit_of


def first_parent_chain(sha: str, count: int, commit_of: CommitOf) -> list[Mapping[str, Any]]:
    """Up to `count` commits from `sha` back along first parents, newest first (REST shape);
    shorter where a commit is not known or has no parent."""
    chain: list[Mapping[str, Any]] = []
    current: str | None = sha
    while current and len(chain) < count:
        commit = commit_of(current)
        if commit is None:
            break
        chain.append(commit)
        parents = commit.get("parents") or []
        current = parents[0]["sha"] if parents else None
    return chain


def change_commits(change: dict[str, Any], commit_of: CommitOf) -> list[Mapping[str, Any]] | None:
    """The change's commits (REST shape, oldest first), setting change["commits"] when walked.

    The `commit_count` commits from `head_sha` back along first parents, when every one is
    known; else the stored `commits`, when every one is known; else None."""
    head, count = change.get("head_sha"), change.get("commit_count")
    if isinstance(head, str) and isinstance(count, int) and 0 < count <= MAX_CHANGE_COMMITS:
        chain = first_parent_chain(head, count, commit_of)
        if len(chain) == count:
            commits = list(reversed(chain))
            change["commits"] = [c["sha"] for c in commits]
            return commits
    if change.get("commits"):
        known = [commit_of(sha) for sha in change["commits"]]
        if all(c is not None for c in known):
            return [c for c in known if c is not None]
    return None


# (the change, its commits or None, the lookup) -> the change with what its merge landed
Landed = Callable[[dict[str, Any], list[Mapping[str, Any]] | None, CommitOf], dict[str, Any]]


def change_landing(change: Mapping[str, Any], commit_of: CommitOf, landed: Landed) -> dict:
    """A change with its commits (change_commits) and, the provider's `landed` deciding, its
    merge_sha / squash_sha / landed_commits filled from the commits known."""
    change = dict(change)
    return landed(change, change_commits(change, commit_of), commit_of)


def branch_changes_complete(
    repo: str,
    branch: str,
    commits: Sequence[dict[str, Any]],
    lookup: Stored,
    complete: Callable[[dict[str, Any], CommitOf], dict[str, Any]],
) -> list[dict[str, Any]]:
    """A push's part in the changes: the stored changes of its branch, and those whose merge or
    squash sha it carries, completed (`complete`: the provider's change_landing) with its
    `commits` (commit events); only those it changed."""
    if not commits:
        return []
    fresh = {c["sha"]: c for c in commits}
    commit_of = commit_lookup(repo, lookup, fresh)
    out = []
    for change in lookup.changes(repo, head=branch, shas=list(fresh)):
        done = complete(change, commit_of)
        if done != change:
            out.append(done)
    return out
