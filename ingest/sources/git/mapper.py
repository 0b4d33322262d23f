"""Pure: git commits and tags -> CONTRACT §1 events (no I/O)."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from ingest.sources.git.reader import GitCommit, GitTag

AUTHOR_LIMIT = 200  # CONTRACT §1: names of people at most 200 characters


def source_name(repo: str) -> str:
    return f"git:{repo}"


def commit_event(repo: str, commit: GitCommit) -> dict[str, Any]:
    """One commit event; its id (`repo@sha`) is stable, so reading it again changes nothing."""
    event: dict[str, Any] = {
        "type": "commit",
        "source": source_name(repo),
        "id": f"{repo}@{commit.sha}",
        "repo": repo,
        "sha": commit.sha,
        "parents": list(commit.parents),
        "authored_at": commit.authored_at,
        "committed_at": commit.committed_at,
        "author": commit.author[:AUTHOR_LIMIT],
        "message": commit.message,
    }
    if commit.files is not None:
        event["files"] = list(commit.files)
    return event


def tag_matches(pattern: re.Pattern[str], tag: GitTag) -> bool:
    return pattern.search(tag.name) is not None


def tag_deployment_event(repo: str, tag: GitTag, *, service: str, environment: str) -> dict:
    """A tag read as a successful deployment of `service` to `environment`, at the tag's time."""
    return {
        "type": "deployment",
        "source": source_name(repo),
        "id": f"{repo}@tag:{tag.name}->{service}/{environment}",
        "service": service,
        "environment": environment,
        "repo": repo,
        "sha": tag.sha,
        "version": tag.name,
        "status": "success",
        "finished_at": tag.tagged_at,
    }


def parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text)
