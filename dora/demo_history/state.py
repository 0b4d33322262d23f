"""The simulation's state: services, pull requests, repositories and stack instances."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dora.demo_history.profiles import TeamProfile

# ---------------------------------------------------------------------------------------------
# Simulation state
# ---------------------------------------------------------------------------------------------


@dataclass
class _Service:
    name: str
    team: str
    kind: str
    repo: str
    profile: TeamProfile
    targets: tuple[str, ...]
    major: int
    minor: int
    patch: int = 0
    config_version: int = 1
    released_index: int = 0  # trunk index of the newest commit sent towards production
    hold_until: datetime = datetime.min.replace(tzinfo=UTC)
    deferred: bool = False
    live: dict[str, tuple[str, str]] = field(default_factory=dict)  # target -> (sha, version)
    staging: tuple[str, str] | None = None  # (sha, version) live in staging
    last_good: tuple[str, str] | None = None  # the newest release a rollback returns to
    promoted: tuple[str, str] | None = None  # infra: newest (sha, version) sent out
    pending_fix: _PullRequest | None = None  # the hotfix or revert a bad release just got
    deployments: int = 0
    forced: list[tuple[datetime, str, str, str, bool]] = field(default_factory=list)

    def version(self) -> str:
        return f"v{self.major}.{self.minor}.{self.patch}"


@dataclass
class _PullRequest:
    service: _Service
    number: int
    author: str
    title: str
    labels: list[str]
    branch_start: datetime
    commit_times: list[datetime]
    created_at: datetime
    ready_at: datetime | None
    first_review_at: datetime | None
    approved_at: datetime | None
    merged_at: datetime | None
    closed_at: datetime | None
    squash: bool
    revert_of: tuple[str, str] | None = None  # (sha, subject) of the commit this PR reverts
    expedite: bool = False  # ship on its own as soon as CI is green (hotfix, revert)
    remediates: str | None = None  # incident id its production deployments remediate
    incident: dict[str, Any] | None = None  # the incident it mitigates once live
    files: set[str] = field(default_factory=set)  # monorepo paths its commits touch


@dataclass
class _Repo:
    name: str
    services: list[_Service]
    times: list[datetime] = field(default_factory=list)  # trunk, oldest first
    shas: list[str] = field(default_factory=list)
    touches: list[str | None] = field(default_factory=list)  # service a trunk commit touches
    green: dict[str, datetime] = field(default_factory=dict)  # sha -> CI success finished
    subjects: dict[str, str] = field(default_factory=dict)
    pipelines: dict[str, dict[str, Any]] = field(default_factory=dict)  # sha -> CI run
    files: dict[str, list[str] | None] = field(default_factory=dict)  # trunk sha -> paths
    merged: list[tuple[int, _PullRequest]] = field(default_factory=list)  # (trunk index, PR)
    next_number: int = 1
    next_pipeline: int = 1

    @property
    def monorepo(self) -> bool:
        return len(self.services) > 1


@dataclass
class _Instance:
    """An infrastructure stack in one environment and target."""

    stack: _Service
    environment: str
    target: str
    last_run: datetime | None = None
    version: tuple[str, str] | None = None  # (sha, version) applied
    runs: int = 0


def _branch_name(pr: _PullRequest) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", pr.title.lower()).strip("-")
    return f"{pr.author}/{slug[:40]}"


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.lstrip("v").split("."))


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _serialise(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, dict):
        return {k: _serialise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_serialise(v) for v in value]
    return value
