"""What a derivation run reads once and shares: the commit graph, the estate's targets, windows."""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from django.db.models import Q, QuerySet

from dora.models import (
    Commit,
    Environment,
    Service,
    Target,
)

Pair = tuple[int, int]


class EstateReads:
    """The services and environments (targets, idle rule) of a group of pairs, read once for
    the group, in its transaction, instead of once per pair."""

    def __init__(self, pairs: Iterable[Pair] = ()) -> None:
        self.services: dict[int, Service] = {}
        self._targets: dict[int, list[int]] = {}
        self._configured: dict[int, set[int]] = {}
        self._idle_after: dict[int, timedelta] = {}
        pairs = list(pairs)
        if pairs:
            self.services.update(Service.objects.in_bulk({s for s, _ in pairs}))
            self._environments_load({e for _, e in pairs})

    def _environments_load(self, envs: set[int]) -> None:
        for env_id in envs:
            self._targets[env_id], self._configured[env_id] = [], set()
        for env_id, target_id, configured in Target.objects.filter(
            environment_id__any=envs
        ).values_list("environment_id", "id", "configured"):
            self._targets[env_id].append(target_id)
            if configured:
                self._configured[env_id].add(target_id)
        self._idle_after.update(
            Environment.objects.filter(id__any=envs).values_list("id", "target_idle_after")
        )

    def service(self, service_id: int) -> Service:
        if service_id not in self.services:
            self.services[service_id] = Service.objects.get(id=service_id)
        return self.services[service_id]

    def targets(self, env_id: int) -> list[int]:
        """The environment's targets, configured or not."""
        if env_id not in self._idle_after:
            self._environments_load({env_id})
        return self._targets[env_id]

    def configured(self, env_id: int) -> set[int]:
        if env_id not in self._idle_after:
            self._environments_load({env_id})
        return self._configured[env_id]

    def idle_after(self, env_id: int) -> timedelta:
        if env_id not in self._idle_after:
            self._environments_load({env_id})
        if env_id not in self._idle_after:
            raise Environment.DoesNotExist(f"no environment {env_id}")
        return self._idle_after[env_id]


class CommitGraph:
    """Stored commits by sha, fetched in batches as the walk needs them."""

    def __init__(self) -> None:
        self.parents: dict[str, list[str]] = {}
        self.files: dict[str, list[str]] = {}
        self.authored: dict[str, datetime] = {}
        self.absent: set[str] = set()
        self.loaded_since: dict[str, datetime] = {}  # repo -> commits loaded from then on
        self._reverts: dict[str, str] | None = None
        self._scope: dict[tuple[str, ...], dict[str, bool]] = {}

    def prefetch(self, repos: list[str], since: datetime) -> None:
        """Load the repos' commits authored from `since` on (once per repo and span)."""
        for repo in repos:
            loaded = self.loaded_since.get(repo)
            if loaded is not None and loaded <= since:
                continue
            commits = Commit.objects.filter(repo=repo, authored_at__gte=since)
            self._load(commits if loaded is None else commits.filter(authored_at__lt=loaded))
            self.loaded_since[repo] = since

    def _load(self, queryset: QuerySet[Commit]) -> None:
        for sha, parents, files, authored in queryset.values_list(
            "sha", "parents", "files", "authored_at"
        ):
            self.parents[sha] = parents
            self.files[sha] = files
            self.authored[sha] = authored

    def scope_test(self, globs: list[str]) -> Callable[[str], bool]:
        """Whether a commit belongs to a service with these globs: it touches one of them, or no
        globs or files are known (a commit not stored yet counts). Remembered per commit: a
        monorepo's commits are walked once per service and environment."""
        key = tuple(globs)
        if not key:
            return lambda sha: True
        known = self._scope.setdefault(key, {})
        match = _scope_pattern(key).match
        files = self.files

        def test(sha: str) -> bool:
            hit = known.get(sha)
            if hit is None:
                paths = files.get(sha)
                hit = known[sha] = not paths or any(match(path) for path in paths)
            return hit

        return test

    def reverts(self) -> dict[str, str]:
        """Every stored revert commit: sha -> the sha it reverts (few; loaded once per graph)."""
        if self._reverts is None:
            self._reverts = dict(
                Commit.objects.exclude(reverts_sha="").values_list("sha", "reverts_sha")
            )
        return self._reverts

    def fetch(self, shas: set[str]) -> None:
        wanted = {s for s in shas if s not in self.parents and s not in self.absent}
        if wanted:
            self._load(Commit.objects.filter(sha__any=wanted))
            self.absent |= {s for s in wanted if s not in self.parents}


@functools.lru_cache(maxsize=256)
def _scope_pattern(globs: tuple[str, ...]) -> re.Pattern[str]:
    """One regex for all of a service's globs, with fnmatchcase's meaning ('*' crosses '/')."""
    return re.compile("|".join(f"(?:{fnmatch.translate(glob)})" for glob in globs))


def _pairs_from(windows: list[tuple[int, int, datetime]]) -> Q:
    """Rollouts of each (service, environment) that went live from its own moment on."""
    condition = Q(pk__in=[])
    for service_id, env_id, since in windows:
        condition |= Q(service_id=service_id, environment_id=env_id, first_live_at__gte=since)
    return condition
