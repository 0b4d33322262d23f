"""The demo estate's history: a deterministic stream of normalized events (CONTRACT §1).

`demo_events(now=..., weeks=26, seed=7)` simulates acme's repositories one at a time with a small
discrete-event loop: pull requests merge onto a linear trunk, CI runs on each trunk commit, releases
roll through staging and then each production region, some releases go bad (an incident, then a
rollback, a hotfix, a revert or a config change), and the platform team's stacks are planned and
applied per environment and region. The estate (teams, services, environments) is dora/demo.yml; how
each team works is `TEAM_PROFILES` (dora.demo_history.profiles). Everything comes from one
`random.Random(seed)` and `now`. The simulation's parts, by estate part (git, releases and
incidents, infrastructure), are mixins in dora.demo_history.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from dora.demo_history.git import _Git
from dora.demo_history.infra import _Infrastructure
from dora.demo_history.profiles import (
    _MAJOR,
    _SCRIPTED_FAILURES,
    PRODUCTION_REGIONS,
    REGIONAL_SERVICES,
    SOURCE,
    TEAM_PROFILES,
    Hours,
)
from dora.demo_history.releases import _Incidents, _Releases
from dora.demo_history.state import _Instance, _Repo, _serialise, _Service

DEMO_CONFIG_PATH = Path(__file__).with_name("demo.yml")


def demo_config() -> dict[str, Any]:
    """dora/demo.yml, parsed."""
    return yaml.safe_load(DEMO_CONFIG_PATH.read_text())


def demo_events(*, now: datetime, weeks: int = 26, seed: int = 7) -> Iterator[dict[str, Any]]:
    """Yield the demo estate's normalized events for the `weeks` before `now`, oldest first.

    Deterministic for the same arguments. Every timestamp is aware UTC, at or before `now`; a few
    objects start just before the window (each repository's first commit, the versions live then).
    """
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    if weeks < 1:
        raise ValueError("weeks must be at least 1")
    sim = _Simulation(now=now.astimezone(UTC).replace(microsecond=0), weeks=weeks, seed=seed)
    yield from sim.run()


class _Simulation(_Git, _Releases, _Incidents, _Infrastructure):
    def __init__(self, *, now: datetime, weeks: int, seed: int) -> None:
        self.now = now
        self.start = now - timedelta(weeks=weeks)
        self.rng = random.Random(seed)
        self.events: list[dict[str, Any]] = []
        self.queue: list[tuple[datetime, int, str, tuple[Any, ...]]] = []
        self.ticket = itertools.count()
        self.next_incident = 1
        # The infrastructure stack being simulated: its instances, and when its staging broke.
        self.instances: dict[tuple[str, str], _Instance] = {}
        self.broken_at: datetime | None = None
        config = demo_config()
        self.repos: dict[str, _Repo] = {}
        for entry in config["services"]:
            team = entry["team"]
            infra = entry.get("kind") == "infra"
            service = _Service(
                name=entry["name"],
                team=team,
                kind=entry.get("kind", "app"),
                repo=entry["repos"][0],
                profile=TEAM_PROFILES[team],
                targets=PRODUCTION_REGIONS
                if infra or entry["name"] in REGIONAL_SERVICES
                else ("",),
                major=_MAJOR.get(entry["name"], 1),
                minor=self.rng.randint(8, 60),
            )
            repo = self.repos.setdefault(service.repo, _Repo(name=service.repo, services=[]))
            repo.services.append(service)
        self.services = {s.name: s for r in self.repos.values() for s in r.services}
        for name, days, remedy, link, severity, remediates in _SCRIPTED_FAILURES:
            if name in self.services:
                self.services[name].forced.append(
                    (now - timedelta(days=days), remedy, link, severity, remediates)
                )

    # -- small helpers ------------------------------------------------------------------------

    def hours(self, span: Hours) -> timedelta:
        """A duration in [low, high] hours, most often near low (a long tail, like real waits)."""
        low, high = span
        return timedelta(seconds=round((low + (high - low) * self.rng.random() ** 2) * 3600))

    def minutes(self, low: float, high: float) -> timedelta:
        return timedelta(seconds=round(self.rng.uniform(low, high) * 60))

    def sha(self) -> str:
        return f"{self.rng.getrandbits(160):040x}"

    def poisson(self, mean: float) -> int:
        limit, k, p = math.exp(-mean), 0, 1.0
        while True:
            p *= self.rng.random()
            if p <= limit:
                return k
            k += 1

    def pick(self, weighted: tuple[tuple[str, float], ...]) -> str:
        names = [name for name, _ in weighted]
        return self.rng.choices(names, weights=[w for _, w in weighted])[0]

    def working(self, t: datetime, team: str) -> datetime:
        """`t`, or the next moment of the team's working week (Mon-Fri, 9 hours a day)."""
        start = TEAM_PROFILES[team].work_start_utc
        moved = False
        while True:
            day = t.replace(hour=0, minute=0, second=0)
            if t.weekday() < 5 and start <= t.hour < start + 9:
                break
            if t.weekday() < 5 and t.hour < start:
                t = day + timedelta(hours=start)
            else:
                t = day + timedelta(days=1, hours=start)
            moved = True
        return t + self.minutes(0, 50) if moved else t

    def at(self, t: datetime, kind: str, *args: Any) -> None:
        heapq.heappush(self.queue, (t, next(self.ticket), kind, args))

    def emit(self, event: dict[str, Any]) -> dict[str, Any]:
        event.setdefault("source", SOURCE)
        self.events.append(event)
        return event

    # -- the run --------------------------------------------------------------------------------

    def run(self) -> Iterator[dict[str, Any]]:
        for repo in self.repos.values():
            self.queue = []
            if repo.services[0].kind == "infra":
                self.plan_infra(repo)
            else:
                self.plan_repo(repo)
            while self.queue:
                t, _, kind, args = heapq.heappop(self.queue)
                if t > self.now and kind != "merge":
                    continue
                getattr(self, f"on_{kind}")(t, *args)
        self.plan_incidents()
        self.plan_out_of_band()
        yield from self.finish()

    # Changes made by hand outside the pipeline, as an audit trail reports them (CONTRACT §1
    # out_of_band_change): fixed, drawing nothing from the random stream, so every other demo
    # event stays as it was. Whether a later apply or deployment undid each is the estate's.
    OUT_OF_BAND = (
        (
            timedelta(days=9, hours=3),
            "checkout",
            "production",
            "eu-west-1",
            "arn:aws:sts::210987654321:assumed-role/Admin/marta",
            "ssm:PutParameter",
        ),
        (
            timedelta(days=2, hours=5),
            "network-stack",
            "production",
            "us-east-1",
            "arn:aws:sts::210987654321:assumed-role/Admin/priya",
            "ec2:AuthorizeSecurityGroupIngress",
        ),
        (
            timedelta(hours=5),
            "k8s-platform",
            "staging",
            "",
            "arn:aws:iam::210987654321:user/tomas",
            "eks:UpdateNodegroupConfig",
        ),
    )

    def plan_out_of_band(self) -> None:
        for number, (before, service, environment, target, actor, what) in enumerate(
            self.OUT_OF_BAND, start=1
        ):
            event: dict[str, Any] = {
                "type": "out_of_band_change",
                "id": f"console-{number}",
                "service": service,
                "environment": environment,
                "changed_at": self.now - before,
                "actor": actor,
                "what": what,
            }
            if target:
                event["target"] = target
            self.emit(event)

    # -- output ---------------------------------------------------------------------------------

    def finish(self) -> Iterator[dict[str, Any]]:
        """Clip everything to `now`, then yield in time order with ISO timestamps."""
        now = self.now
        kept: list[tuple[datetime, int, dict[str, Any]]] = []
        commits = {
            (e["repo"], e["sha"])
            for e in self.events
            if e["type"] == "commit" and e["committed_at"] <= now
        }
        for order, event in enumerate(self.events):
            event = {k: v for k, v in event.items() if not k.startswith("_")}
            kind = event["type"]
            if kind == "commit":
                if event["committed_at"] > now:
                    continue
            elif kind == "change":
                if event["created_at"] > now:
                    continue
                for name in (
                    "ready_at",
                    "first_review_at",
                    "approved_at",
                    "merged_at",
                    "closed_at",
                ):
                    if name in event and event[name] > now:
                        del event[name]
                if "merged_at" not in event:
                    event.pop("merge_sha", None)
                    event.pop("squash_sha", None)
                event["commits"] = [s for s in event["commits"] if (event["repo"], s) in commits]
            elif kind == "pipeline_run":
                if event["started_at"] > now:
                    continue
                jobs = []
                for job in event["jobs"]:
                    if job["started_at"] > now:
                        continue
                    job = dict(job)
                    if job["finished_at"] > now:
                        job["status"] = "running"
                        del job["finished_at"]
                    jobs.append(job)
                event["jobs"] = jobs
                if event["finished_at"] > now:
                    event["status"] = "running"
                    del event["finished_at"]
            elif kind == "deployment":
                if event["started_at"] > now:
                    continue
                if event["finished_at"] > now:
                    event["status"] = "running"
                    del event["finished_at"]
            elif kind == "incident":
                if event["opened_at"] > now:
                    continue
                for name in ("mitigated_at", "resolved_at"):
                    if name in event and event[name] > now:
                        del event[name]
            elif kind == "automation_run" and event["finished_at"] > now:
                continue
            stamps = [v for v in event.values() if isinstance(v, datetime)]
            kept.append((max(stamps), order, event))
        kept.sort(key=lambda item: (item[0], item[1]))
        for _, _, event in kept:
            yield _serialise(event)
