"""A deterministic, streamed feed of normalized events (CONTRACT §1) for the intake benchmark.

`feed_write(path, events=N, seed=S)` simulates an estate of ~50 services in 6 repositories (one of
them a monorepo whose services own path globs) with a small discrete-event loop, and writes exactly
N events as JSON Lines in the order a CI feed would send them: each event when its source would
report it (a commit when pushed, a pull request when opened and when merged, a pipeline run or a
deployment when it finishes, an incident when it opens and when it resolves). Nothing is held per
event: the loop keeps only the estate's state and the events already scheduled but not yet due (a
few hours ahead), so memory does not grow with N. The first K events for seed S are the same
whatever N is, so a smaller scale is a prefix of a larger one.

`config_yaml()` is the matching configuration (teams, services with repos and paths, the two
environments) for `manage.py apply_config`.
"""

from __future__ import annotations

import heapq
import itertools
import json
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

START = datetime(2025, 1, 6, tzinfo=UTC).timestamp()  # a Monday
MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0

# repo -> (team, services); the first is a monorepo: each service owns services/<name>/**.
MONOREPO = "acme/mono"
REPOS: dict[str, tuple[str, tuple[str, ...]]] = {
    MONOREPO: (
        "discovery",
        (
            "search",
            "recs",
            "catalog",
            "pricing",
            "inventory",
            "reviews",
            "wishlist",
            "media",
            "sitemap",
            "feeds",
            "ads",
            "promotions",
            "coupons",
            "loyalty",
            "ratings",
            "taxonomy",
            "merchandising",
            "experiments",
            "personalization",
            "seo",
        ),
    ),
    "acme/web": ("storefront", ("web", "web-ssr", "web-assets", "web-edge")),
    "acme/payments": (
        "payments",
        ("checkout", "payments-api", "ledger", "refunds", "fraud", "invoicing"),
    ),
    "acme/platform": (
        "platform-apps",
        (
            "auth",
            "accounts",
            "notifications",
            "email",
            "sms",
            "gateway",
            "config-svc",
            "audit",
        ),
    ),
    "acme/data": (
        "data",
        ("ingest", "etl", "warehouse-sync", "reporting", "exports", "events-api", "ml-scoring"),
    ),
    "acme/mobile": ("mobile", ("mobile-bff", "push", "deeplinks", "app-config", "mobile-auth")),
}
SHARED_GLOB = "libs/common/**"  # every monorepo service also owns the shared library
# Infrastructure stacks (kind infra) that only send automation runs.
STACKS = ("network-stack", "k8s-cluster", "iam-stack", "databases-stack")
STAGING_TARGETS = ("stg-a", "stg-b", "stg-c")
PRODUCTION_TARGETS = ("eu-west-1", "us-east-1", "ap-south-1")
AUTHORS = tuple(
    f"{first}.{last}"
    for first in ("ana", "ben", "chen", "dev", "eva", "femi", "gus", "hana", "ivo", "jo")
    for last in ("smith", "kim", "rossi", "ng", "okafor", "berg", "silva", "tan")
)
WORDS = (
    "cache",
    "retry",
    "timeout",
    "schema",
    "index",
    "pagination",
    "logging",
    "metrics",
    "auth",
    "client",
    "handler",
    "parser",
    "queue",
    "worker",
    "migration",
    "config",
    "feature-flag",
    "validation",
    "serializer",
    "tests",
    "docs",
    "deps",
    "rate-limit",
    "search",
    "cleanup",
)
LABELS = ("feature", "bug", "chore", "dependencies", "refactor", "performance", "security")

# Rates, tuned so the mix is about 45% commits, 12% changes, 15% pipeline runs, 20% deployments,
# 2% incidents and 6% automation runs (feed_write returns the actual mix).
PRS_PER_WORKDAY = {
    MONOREPO: 48.0,
    "acme/web": 14.0,
    "acme/payments": 16.0,
    "acme/platform": 16.0,
    "acme/data": 12.0,
    "acme/mobile": 10.0,
}
DIRECT_PUSHES_PER_DAY = 1.5  # per repo: commits pushed straight to main
RELEASE_EVERY_HOURS = (4.0, 36.0)  # per service, uniform over the estate
BAD_RELEASE = 0.07  # production releases that cause a linked incident
UNLINKED_INCIDENTS_PER_DAY = 9.0
PLAN_EVERY_HOURS = 11.0  # per stack, environment and target


def iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


def _work_time(ts: float, rng: random.Random) -> float:
    """The same moment if it is in working hours (Mon-Fri 07-19 UTC), else the next morning."""
    while True:
        day = time.gmtime(ts)
        if day.tm_wday < 5 and 7 <= day.tm_hour < 19:
            return ts
        midnight = ts - (day.tm_hour * HOUR + day.tm_min * MINUTE + day.tm_sec)
        next_day = midnight + (DAY if day.tm_hour >= 7 else 0)
        ts = next_day + 7 * HOUR + rng.uniform(0, 90) * MINUTE


@dataclass
class Release:
    sha: str
    version: str
    run_id: str
    staged_at: float = 0.0
    production_deployments: list[str] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)  # "repo#n" merged since the previous


@dataclass
class Service:
    name: str
    repo: Repo
    staging: tuple[str, ...]
    production: tuple[str, ...]
    release_every: float
    releases: int = 0
    deployments: int = 0
    shipped_sha: str = ""
    dirty: bool = True
    config_version: int = 1
    history: deque[Release] = field(default_factory=lambda: deque(maxlen=4))
    pending_changes: list[str] = field(default_factory=list)


@dataclass
class Repo:
    name: str
    mono: bool
    prs_per_workday: float
    head: str = ""
    green: str = ""
    green_run: str = ""
    green_seq: int = 0
    trunk_seq: int = 0  # position of the head on main, so a slow CI run never moves green back
    numbers: int = 0
    runs: int = 0
    services: list[Service] = field(default_factory=list)
    merged: deque[str] = field(default_factory=lambda: deque(maxlen=50))  # recent "repo#n"


class Feed:
    """The simulation: actions run in time order and emit events when their source would."""

    def __init__(self, seed: int, *, running: bool = True) -> None:
        self.rng = random.Random(seed)
        self.running = running  # report some deployments when they start, as status running
        self.order = itertools.count()
        self.actions: list[tuple[float, int, Callable[..., None], tuple[Any, ...]]] = []
        self.pending: list[tuple[float, int, dict[str, Any]]] = []
        self.incidents = 0
        self.automation_runs = 0
        self.repos: list[Repo] = []
        self.services: list[Service] = []
        rng = self.rng
        for name, (_team, names) in REPOS.items():
            repo = Repo(name=name, mono=name == MONOREPO, prs_per_workday=PRS_PER_WORKDAY[name])
            for service_name in names:
                repo.services.append(
                    Service(
                        name=service_name,
                        repo=repo,
                        staging=STAGING_TARGETS[: rng.choice((1, 1, 2))],
                        production=PRODUCTION_TARGETS[: rng.choice((1, 2, 3, 3))],
                        release_every=rng.uniform(*RELEASE_EVERY_HOURS) * HOUR,
                    )
                )
            self.repos.append(repo)
            self.services += repo.services
        for repo in self.repos:
            root = self.sha()
            self.emit(
                START - 30 * DAY,
                self.commit_event(
                    repo, root, START - 30 * DAY, [], "Initial commit", ["README.md"]
                ),
            )
            repo.head = repo.green = root
            self.at(_work_time(START + rng.uniform(0, 2) * HOUR, rng), self.pr_open, repo)
            self.at(START + rng.uniform(0, DAY), self.direct_push, repo)
        for service in self.services:
            self.at(START + rng.uniform(2, 10) * HOUR, self.release, service)
        for stack in STACKS:
            for env, targets in (
                ("staging", STAGING_TARGETS[:2]),
                ("production", PRODUCTION_TARGETS),
            ):
                for target in targets:
                    self.at(
                        START + rng.uniform(0, PLAN_EVERY_HOURS) * HOUR,
                        self.plan,
                        stack,
                        env,
                        target,
                    )
        self.at(START + rng.expovariate(UNLINKED_INCIDENTS_PER_DAY / DAY), self.incident_unlinked)

    # -- plumbing ---------------------------------------------------------------------------

    def at(self, ts: float, action: Callable[..., None], *args: Any) -> None:
        heapq.heappush(self.actions, (ts, next(self.order), action, args))

    def emit(self, ts: float, event: dict[str, Any]) -> None:
        heapq.heappush(self.pending, (ts, next(self.order), event))

    def sha(self) -> str:
        return f"{self.rng.getrandbits(160):040x}"

    def events(self) -> Iterator[dict[str, Any]]:
        """Events in the order they are sent; endless (the caller stops)."""
        while self.actions:
            now, _, action, args = heapq.heappop(self.actions)
            # Every action emits events at or after its own time: everything due is final.
            while self.pending and self.pending[0][0] <= now:
                yield heapq.heappop(self.pending)[2]
            action(now, *args)

    # -- commits, pull requests and CI --------------------------------------------------------

    def commit_event(
        self, repo: Repo, sha: str, ts: float, parents: list[str], message: str, files: list[str]
    ) -> dict[str, Any]:
        author = self.rng.choice(AUTHORS)
        return {
            "type": "commit",
            "source": "github",
            "id": f"{repo.name}@{sha}",
            "repo": repo.name,
            "sha": sha,
            "authored_at": iso(ts - self.rng.uniform(0, 20) * MINUTE),
            "committed_at": iso(ts),
            "parents": parents,
            "author": author,
            "message": message,
            "files": files,
        }

    def files(self, repo: Repo, focus: str) -> list[str]:
        rng = self.rng
        count = rng.randint(1, 4)
        if repo.mono:
            if rng.random() < 0.04:
                return [f"libs/common/{rng.choice(WORDS)}.py"]
            return sorted({f"services/{focus}/src/{rng.choice(WORDS)}.py" for _ in range(count)})
        return sorted({f"src/{focus}/{rng.choice(WORDS)}.go" for _ in range(count)})

    def pr_open(self, now: float, repo: Repo, kind: str = "normal", reverts: str = "") -> None:
        """A developer starts a branch; the PR opens, gets reviewed and (mostly) merges."""
        rng = self.rng
        if kind == "normal":
            gap = rng.expovariate(repo.prs_per_workday / (12 * HOUR))
            self.at(_work_time(now + gap, rng), self.pr_open, repo)
        repo.numbers += 1
        number = repo.numbers
        focus = rng.choice(repo.services).name
        topic = rng.choice(WORDS)
        author = rng.choice(AUTHORS)
        urgent = kind != "normal"
        commits = 1 if urgent else rng.choice((1, 1, 2, 2, 3, 3, 4, 4, 5, 6, 7))
        coding = rng.uniform(0.1, 1.0) * HOUR if urgent else rng.uniform(0.3, 10) * HOUR
        parent, shas, files, branch = repo.head, [], set(), []
        for i in range(commits):
            sha = self.sha()
            ts = now + coding * (i + 1) / (commits + 1)
            if kind == "revert":
                message = f'Revert "{topic}"\n\nThis reverts commit {reverts}.'
                changed = self.files(repo, focus)
            else:
                message = f"{topic}: {rng.choice(WORDS)} ({i + 1}/{commits})"
                changed = self.files(repo, focus)
            files.update(changed)
            event = self.commit_event(repo, sha, ts, [parent], message, changed)
            branch.append(event)
            # A webhook now and then is lost and the commit is backfilled hours later.
            late = rng.uniform(2, 12) * HOUR if rng.random() < 0.01 else 0.0
            self.emit(ts + late, event)
            shas.append(sha)
            parent = sha
        created = now + coding
        ready = created + (rng.uniform(0.2, 4) * HOUR if rng.random() < 0.25 else 0)
        review = ready + (rng.uniform(0.02, 0.3) if urgent else rng.uniform(0.1, 20)) * HOUR
        approved = review + (rng.uniform(0.01, 0.2) if urgent else rng.uniform(0.05, 8)) * HOUR
        merged = approved + rng.uniform(0.01, 2) * HOUR
        labels = sorted({rng.choice(LABELS) for _ in range(rng.randint(0, 2))})
        if kind == "hotfix" or (kind == "normal" and rng.random() < 0.003):
            labels = sorted({*labels, "hotfix"})
        if kind == "revert":
            labels = sorted({*labels, "revert"})
        pr = {
            "type": "change",
            "source": "github",
            "id": f"{repo.name}#{number}",
            "repo": repo.name,
            "number": number,
            "title": f"{focus}: {topic}" if not urgent else f"{kind}: {focus} {topic}",
            "author": author,
            "created_at": iso(created),
            "ready_at": iso(ready),
            "base": "main",
            "head": f"{author.split('.')[0]}/{topic}-{number}",
            "commits": shas,
            "labels": labels,
        }
        if rng.random() < 0.12:  # some feeds send the PR when it opens, then again when merged
            self.emit(created, dict(pr))
        if rng.random() < 0.4:  # CI on the branch
            self.pipeline_run(repo, shas[-1], created + 30, pr["head"], "pull_request")
        pr["first_review_at"] = iso(review)
        if kind == "normal" and rng.random() < 0.05:  # abandoned
            pr["closed_at"] = iso(approved)
            self.emit(approved, pr)
            return
        pr["approved_at"] = iso(approved)
        self.at(merged, self.pr_merge, repo, pr, branch, sorted(files), focus)

    def pr_merge(
        self,
        now: float,
        repo: Repo,
        pr: dict[str, Any],
        branch: list[dict[str, Any]],
        files: list[str],
        focus: str,
    ) -> None:
        rng = self.rng
        tip = branch[-1]["sha"]
        sha = self.sha()
        style = rng.random()
        if style < 0.15:
            # Rebase and merge: every branch commit is copied onto main (new sha, same author
            # and authored_at, committed now); the PR names the copies as `landed_commits`.
            copies, parent = [], repo.head
            for original in branch:
                copy = dict(original)
                copy_sha = self.sha()
                copy.update(
                    id=f"{repo.name}@{copy_sha}",
                    sha=copy_sha,
                    committed_at=iso(now),
                    parents=[parent],
                )
                self.emit(now, copy)
                copies.append(copy_sha)
                parent = copy_sha
            sha = copies[-1]
            pr["landed_commits"] = copies
        elif style < 0.5:
            message = f"{pr['title']} (#{pr['number']})"
            self.emit(now, self.commit_event(repo, sha, now, [repo.head], message, files))
            pr["squash_sha"] = sha
        else:
            message = f"Merge pull request #{pr['number']} from {pr['head']}"
            self.emit(now, self.commit_event(repo, sha, now, [repo.head, tip], message, files))
            pr["merge_sha"] = sha
        repo.head = sha
        repo.trunk_seq += 1
        pr["merged_at"] = pr["closed_at"] = iso(now)
        self.emit(now + 5, pr)
        key = pr["id"]
        repo.merged.append(key)
        self._touch(repo, files, key)
        self.pipeline_run(repo, sha, now + 20, "main", "push")

    def _touch(self, repo: Repo, files: list[str], change: str) -> None:
        for service in repo.services:
            if not repo.mono or any(
                f.startswith((f"services/{service.name}/", "libs/common/")) for f in files
            ):
                service.dirty = True
                if change:
                    service.pending_changes.append(change)
                    del service.pending_changes[:-20]

    def direct_push(self, now: float, repo: Repo) -> None:
        rng = self.rng
        self.at(now + rng.expovariate(DIRECT_PUSHES_PER_DAY / DAY), self.direct_push, repo)
        sha = self.sha()
        focus = rng.choice(repo.services).name
        files = self.files(repo, focus)
        message = f"{rng.choice(('fix', 'bump', 'tweak'))} {rng.choice(WORDS)}"
        self.emit(now, self.commit_event(repo, sha, now, [repo.head], message, files))
        repo.head = sha
        repo.trunk_seq += 1
        self._touch(repo, files, "")
        self.pipeline_run(repo, sha, now + 20, "main", "push")

    def pipeline_run(self, repo: Repo, sha: str, start: float, branch: str, trigger: str) -> None:
        rng = self.rng
        repo.runs += 1
        run_id = f"{repo.name}/actions/{repo.runs}"
        failed = rng.random() < 0.07
        jobs, ts = [], start
        for name in ("lint", "test", "build", "image")[: rng.randint(2, 4)]:
            took = rng.uniform(1, 9) * MINUTE
            jobs.append(
                {
                    "name": name,
                    "started_at": iso(ts),
                    "finished_at": iso(ts + took),
                    "status": "success",
                }
            )
            ts += took
        if failed:
            jobs[-1]["status"] = "failure"
        status = "failure" if failed else "success"
        event = {
            "type": "pipeline_run",
            "source": "github",
            "id": run_id,
            "repo": repo.name,
            "sha": sha,
            "name": "ci",
            "branch": branch,
            "status": status,
            "trigger": trigger,
            "created_at": iso(start - 10),
            "started_at": iso(start),
            "finished_at": iso(ts),
            "jobs": jobs,
        }
        self.emit(ts, event)
        if branch == "main" and not failed:
            self.at(ts, self.ci_green, repo, sha, run_id, repo.trunk_seq)

    def ci_green(self, now: float, repo: Repo, sha: str, run_id: str, seq: int) -> None:
        del now
        if seq > repo.green_seq:
            repo.green, repo.green_run, repo.green_seq = sha, run_id, seq

    # -- deployments -----------------------------------------------------------------------

    def deploy(
        self,
        ts: float,
        service: Service,
        env: str,
        target: str,
        release: Release,
        *,
        trigger: str = "automated",
        remediates: str = "",
    ) -> tuple[str, float]:
        """One target deployment (a failed attempt is retried); returns its id and end."""
        rng = self.rng
        while True:
            service.deployments += 1
            dep_id = f"{service.name}/{env}/{target}/{service.deployments}"
            took = rng.uniform(1, 6) * MINUTE
            failed = rng.random() < 0.04
            event = {
                "type": "deployment",
                "source": "argocd",
                "id": dep_id,
                "service": service.name,
                "environment": env,
                "target": target,
                "sha": release.sha,
                "version": release.version,
                "repo": service.repo.name,
                "status": "failure" if failed else "success",
                "started_at": iso(ts),
                "finished_at": iso(ts + took),
                "trigger": trigger,
                "config_version": f"cfg-{service.config_version}",
                "pipeline_run": release.run_id,
            }
            if remediates:
                event["remediates"] = remediates
            if rng.random() < 0.05 and self.running:  # some tools report the start too
                running = {k: v for k, v in event.items() if k != "finished_at"}
                running["status"] = "running"
                self.emit(ts, running)
            self.emit(ts + took, event)
            ts += took
            if not failed:
                return dep_id, ts
            ts += rng.uniform(2, 10) * MINUTE

    def release(self, now: float, service: Service) -> None:
        """The service's pipeline ships the newest green build to staging."""
        rng = self.rng
        self.at(
            _work_time(now + rng.expovariate(1 / service.release_every), rng),
            self.release,
            service,
        )
        repo = service.repo
        config_only = service.releases > 0 and rng.random() < 0.03
        if not config_only and (not service.dirty or repo.green == service.shipped_sha):
            return
        if config_only:
            service.config_version += 1
            release = service.history[-1] if service.history else None
            if release is None:
                return
        else:
            service.releases += 1
            release = Release(
                sha=repo.green,
                version=f"v1.{service.releases}.0",
                run_id=repo.green_run,
                changes=service.pending_changes,
            )
            service.pending_changes = []
            service.dirty = False
            service.shipped_sha = repo.green
        ts = now
        for target in service.staging:
            _, ts = self.deploy(ts, service, "staging", target, release)
        soak = rng.uniform(0.5, 6) * HOUR
        self.at(_work_time(ts + soak, rng), self.promote, service, release, config_only)

    def promote(self, now: float, service: Service, release: Release, config_only: bool) -> None:
        rng = self.rng
        previous = service.history[-1] if service.history else None
        ts = now
        release.production_deployments = []
        for target in service.production:
            trigger = "manual" if rng.random() < 0.1 else "automated"
            dep_id, ts = self.deploy(ts, service, "production", target, release, trigger=trigger)
            release.production_deployments.append(dep_id)
            ts += rng.uniform(2, 45) * MINUTE
        if config_only:
            previous = None  # a bad configuration is fixed forward
        else:
            service.history.append(release)
        if rng.random() < BAD_RELEASE:
            detect = now + rng.uniform(0.1, 3) * HOUR
            self.at(detect, self.incident_linked, service, release, previous)

    # -- incidents -------------------------------------------------------------------------

    def incident_event(
        self, service: Service, opened: float, mitigated: float, resolved: float
    ) -> dict[str, Any]:
        rng = self.rng
        self.incidents += 1
        return {
            "type": "incident",
            "source": "pagerduty",
            "id": f"PD{self.incidents:06d}",
            "service": service.name,
            "environment": "production",
            "title": f"{service.name}: {rng.choice(('errors', 'latency', 'timeouts', 'crashes'))}",
            "severity": rng.choice(("sev1", "sev2", "sev2", "sev3", "sev3", "sev4")),
            "opened_at": iso(opened),
            "impact_started_at": iso(opened - rng.uniform(1, 20) * MINUTE),
            "mitigated_at": iso(mitigated),
            "resolved_at": iso(resolved),
        }

    def incident_send(self, event: dict[str, Any], opened: float, resolved: float) -> None:
        if self.rng.random() < 0.3:  # sent when it opens, then again when resolved
            self.emit(
                opened, {k: v for k, v in event.items() if k not in ("mitigated_at", "resolved_at")}
            )
        self.emit(resolved, event)

    def incident_linked(
        self, now: float, service: Service, release: Release, previous: Release | None
    ) -> None:
        """A bad release: an incident that names it, then a rollback, a hotfix or a revert."""
        rng = self.rng
        remedy = rng.choices(("rollback", "hotfix", "revert", "none"), (50, 25, 15, 10))[0]
        if remedy == "rollback" and previous is None:
            remedy = "hotfix"
        mitigated = now + rng.uniform(10, 90) * MINUTE
        event = self.incident_event(service, now, mitigated, mitigated + rng.uniform(0.5, 6) * HOUR)
        how = rng.choices(("deployment", "version", "sha", "change"), (60, 15, 15, 10))[0]
        if how == "change" and not release.changes:
            how = "deployment"
        if how == "deployment" and not release.production_deployments:
            how = "version"
        caused_by = {
            "deployment": lambda: rng.choice(release.production_deployments),
            "version": lambda: release.version,
            "sha": lambda: release.sha,
            "change": lambda: rng.choice(release.changes),
        }[how]()
        event["caused_by"] = {how: caused_by}
        event["cause"] = "change"
        if rng.random() < 0.3:
            del event["environment"]  # the service's production tier
        self.incident_send(event, now, parse_ts(event["resolved_at"]))
        if remedy == "rollback" and previous is not None:
            ts = mitigated - rng.uniform(5, 10) * MINUTE
            for target in service.production:
                _, ts = self.deploy(
                    ts,
                    service,
                    "production",
                    target,
                    previous,
                    trigger="manual",
                    remediates=event["id"],
                )
        elif remedy in ("hotfix", "revert"):
            self.at(
                now + rng.uniform(5, 30) * MINUTE, self.pr_open, service.repo, remedy, release.sha
            )

    def incident_unlinked(self, now: float) -> None:
        rng = self.rng
        self.at(now + rng.expovariate(UNLINKED_INCIDENTS_PER_DAY / DAY), self.incident_unlinked)
        service = rng.choice(self.services)
        mitigated = now + rng.uniform(5, 120) * MINUTE
        event = self.incident_event(service, now, mitigated, mitigated + rng.uniform(0.2, 8) * HOUR)
        cause = rng.choice(("unknown", "external", ""))
        if cause:
            event["cause"] = cause
        if rng.random() < 0.1:
            event["environment"] = "staging"
        self.incident_send(event, now, parse_ts(event["resolved_at"]))

    # -- infrastructure automation ----------------------------------------------------------

    def plan(self, now: float, stack: str, env: str, target: str) -> None:
        """A scheduled plan; drift or a pending change leads to an apply."""
        rng = self.rng
        self.at(
            now + rng.uniform(0.8, 1.2) * PLAN_EVERY_HOURS * HOUR, self.plan, stack, env, target
        )
        finished = now + rng.uniform(1, 6) * MINUTE
        drift = rng.random() < 0.06
        self.automation_runs += 1
        self.emit(
            finished,
            {
                "type": "automation_run",
                "source": "terraform",
                "id": f"{stack}/{env}/{target}/{self.automation_runs}",
                "service": stack,
                "environment": env,
                "target": target,
                "action": "plan",
                "status": "failure" if rng.random() < 0.03 else "success",
                "started_at": iso(now),
                "finished_at": iso(finished),
                "trigger": "schedule",
                "drift_detected": drift,
            },
        )
        if drift or rng.random() < 0.12:
            start = finished + rng.uniform(10, 90) * MINUTE
            end = start + rng.uniform(2, 15) * MINUTE
            self.automation_runs += 1
            self.emit(
                end,
                {
                    "type": "automation_run",
                    "source": "terraform",
                    "id": f"{stack}/{env}/{target}/{self.automation_runs}",
                    "service": stack,
                    "environment": env,
                    "target": target,
                    "action": "apply",
                    "status": "failure" if rng.random() < 0.05 else "success",
                    "started_at": iso(start),
                    "finished_at": iso(end),
                    "trigger": "manual" if drift else "change",
                    "version": f"{stack}@{self.automation_runs}",
                },
            )


# Bumped whenever the feed a seed produces changes, so a cached feed file is never reused.
# 2: pull requests also merge by rebase (15%), naming their rebased copies in `landed_commits`.
FEED_VERSION = 2


def parse_ts(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def feed_write(path: Path, *, events: int, seed: int, running: bool = True) -> dict[str, Any]:
    """Write the first `events` events of the feed for `seed` to `path`; return what was written.

    running=False leaves out the `running` reports of deployments (the same feed otherwise).
    """
    mix: Counter[str] = Counter()
    first = last = ""
    with path.open("w", encoding="utf-8") as out:
        for event in itertools.islice(Feed(seed, running=running).events(), events):
            out.write(json.dumps(event, separators=(",", ":")))
            out.write("\n")
            mix[event["type"]] += 1
    with path.open(encoding="utf-8") as handle:
        first = json.loads(handle.readline()).get("authored_at", "")
    last = _last_time(path)
    return {
        "events": sum(mix.values()),
        "mix": dict(sorted(mix.items())),
        "bytes": path.stat().st_size,
        "first": first,
        "last": last,
    }


def _last_time(path: Path) -> str:
    with path.open("rb") as handle:
        handle.seek(max(0, path.stat().st_size - 8192))
        tail = handle.read().decode("utf-8", "replace").splitlines()[-1]
    event = json.loads(tail)
    for key in ("finished_at", "merged_at", "resolved_at", "committed_at", "created_at"):
        if key in event:
            return str(event[key])
    return ""


def config_yaml() -> str:
    """The estate as configuration: teams, services (repos, monorepo paths), environments."""
    lines = ["teams:"]
    teams = sorted({team for team, _ in REPOS.values()} | {"platform"})
    lines += [f"  - name: {team}" for team in teams]
    lines.append("services:")
    for repo, (team, names) in REPOS.items():
        for name in names:
            lines += [
                f"  - name: {name}",
                f"    team: {team}",
                "    kind: app",
                f"    repos: [{repo}]",
            ]
            if repo == MONOREPO:
                lines.append(f'    paths: ["services/{name}/**", "{SHARED_GLOB}"]')
    for stack in STACKS:
        lines += [f"  - name: {stack}", "    team: platform", "    kind: infra"]
    lines += [
        "environments:",
        "  - name: staging",
        "    tier: staging",
        "    order: 3",
        "  - name: production",
        "    tier: production",
        "    order: 4",
    ]
    return "\n".join(lines) + "\n"
