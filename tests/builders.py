"""Build normalized events (CONTRACT §1) for tests, with readable times and fake shas."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday


def at(hours: float = 0, *, days: float = 0) -> str:
    """An ISO timestamp `days` and `hours` after T0."""
    return (T0 + timedelta(days=days, hours=hours)).isoformat().replace("+00:00", "Z")


def when(hours: float = 0, *, days: float = 0) -> datetime:
    return T0 + timedelta(days=days, hours=hours)


def sha(name: str) -> str:
    """A stable 40-hex sha for a readable name."""
    return hashlib.sha1(name.encode()).hexdigest()  # noqa: S324 - a test id, not security


def commit(
    name: str, parents: list[str] = (), *, hours: float = 0, repo: str = "acme/shop", **extra: Any
) -> dict[str, Any]:
    return {
        "type": "commit",
        "id": f"{repo}@{name}",
        "repo": repo,
        "sha": sha(name),
        "parents": [sha(p) for p in parents],
        "authored_at": at(hours),
        **extra,
    }


def change(
    number: int,
    commits: list[str],
    *,
    created: float,
    merged: float | None,
    merge: str | None = None,
    squash: str | None = None,
    repo: str = "acme/shop",
    **extra: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "change",
        "id": f"{repo}#{number}",
        "repo": repo,
        "number": number,
        "created_at": at(created),
        "commits": [sha(c) for c in commits],
        **extra,
    }
    if merged is not None:
        event["merged_at"] = at(merged)
    if merge:
        event["merge_sha"] = sha(merge)
    if squash:
        event["squash_sha"] = sha(squash)
    return event


def pipeline_run(
    ident: str,
    commit_name: str,
    *,
    started: float,
    finished: float | None,
    status: str = "success",
    repo: str = "acme/shop",
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "pipeline_run",
        "id": ident,
        "repo": repo,
        "sha": sha(commit_name),
        "status": status,
        "started_at": at(started),
    }
    if finished is not None:
        event["finished_at"] = at(finished)
    return event


def deployment(
    ident: str,
    commit_name: str | None,
    *,
    hours: float,
    service: str = "shop",
    environment: str = "production",
    target: str | None = None,
    status: str = "success",
    **extra: Any,
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "deployment",
        "id": ident,
        "service": service,
        "environment": environment,
        "status": status,
        "finished_at": at(hours),
        **extra,
    }
    if commit_name is not None:
        event["sha"] = sha(commit_name)
    if target is not None:
        event["target"] = target
    return event


def incident(ident: str, *, hours: float, service: str = "shop", **extra: Any) -> dict[str, Any]:
    return {"type": "incident", "id": ident, "service": service, "opened_at": at(hours), **extra}
