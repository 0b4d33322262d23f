"""The demo estate's history: a deterministic stream of normalized events (CONTRACT §1).

`demo_events(now=..., weeks=26, seed=7)` simulates acme's repositories one at a time with a small
discrete-event loop: pull requests merge onto a linear trunk, CI runs on each trunk commit, releases
roll through staging and then each production region, some releases go bad (an incident, then a
rollback, a hotfix, a revert or a config change), and the platform team's stacks are planned and
applied per environment and region. The estate (teams, services, environments) is dora/demo.yml; how
each team works is `TEAM_PROFILES` here. Everything comes from one `random.Random(seed)` and `now`.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

DEMO_CONFIG_PATH = Path(__file__).with_name("demo.yml")
SOURCE = "demo"
PRODUCTION_REGIONS = ("eu-west-1", "us-east-1", "ap-south-1")
# Services that run in every production region; the others deploy to production as one target.
REGIONAL_SERVICES = frozenset({"checkout", "payments-api", "search", "web", "customer-portal"})
# network-stack's staging pipeline broke this long before `now` and nobody has applied it since:
# the promotion gate blocks the services that run on it (demo.yml's depends_on).
STALE_STACK, STALE_ENVIRONMENT, STALE_FOR = "network-stack", "staging", timedelta(days=35)

Hours = tuple[float, float]


@dataclass(frozen=True)
class TeamProfile:
    """How a team works. Durations are (low, high) hours, sampled with a long tail towards high."""

    prs_per_day: float  # merged pull requests per service per working day
    commits: tuple[int, int]  # feature commits per pull request
    coding: Hours  # first commit -> PR opened
    draft: Hours  # opened as draft -> ready for review (a quarter of PRs)
    pickup: Hours  # ready -> first review
    review: Hours  # first review -> approved
    merge: Hours  # approved -> merged
    squash_share: float
    release_every: Hours | None  # release trains; None: every green merge ships (continuous)
    soak: Hours  # staging live -> first production target
    region_lag: Hours  # between production regions
    detect: Hours  # first live -> a bad release is noticed
    ci_failure: float
    deploy_failure: float  # a target deployment fails and is retried
    bad_release: float  # share of production rollouts that need intervention
    remedies: tuple[tuple[str, float], ...]  # rollback / hotfix / revert / config / none
    incidents_per_week: float  # incidents per service unrelated to a release
    work_start_utc: int  # the team's 9-hour working day, in UTC
    direct_pushes_per_week: float  # commits pushed straight to main


TEAM_PROFILES: dict[str, TeamProfile] = {
    # Elite: trunk-based, every green merge ships in minutes, rolled region by region within hours.
    "payments": TeamProfile(
        prs_per_day=2.8,
        commits=(1, 3),
        coding=(0.5, 6),
        draft=(0.3, 3),
        pickup=(0.1, 1.5),
        review=(0.1, 1.5),
        merge=(0.02, 0.5),
        squash_share=0.7,
        release_every=None,
        soak=(0.3, 1.0),
        region_lag=(0.1, 1.5),
        detect=(0.1, 1.5),
        ci_failure=0.05,
        deploy_failure=0.02,
        bad_release=0.04,
        remedies=(("rollback", 0.55), ("hotfix", 0.2), ("revert", 0.15), ("config", 0.1)),
        incidents_per_week=0.08,
        work_start_utc=7,
        direct_pushes_per_week=0.2,
    ),
    # Average: reviews take a day or so, release trains every one to three days.
    "discovery": TeamProfile(
        prs_per_day=0.9,
        commits=(1, 4),
        coding=(3, 48),
        draft=(2, 24),
        pickup=(2, 30),
        review=(1, 30),
        merge=(0.1, 6),
        squash_share=0.4,
        release_every=(24, 72),
        soak=(2, 24),
        region_lag=(1, 6),
        detect=(0.5, 8),
        ci_failure=0.12,
        deploy_failure=0.06,
        bad_release=0.12,
        remedies=(
            ("rollback", 0.35),
            ("hotfix", 0.25),
            ("revert", 0.2),
            ("config", 0.1),
            ("none", 0.1),
        ),
        incidents_per_week=0.15,
        work_start_utc=13,
        direct_pushes_per_week=0.3,
    ),
    # Struggling: long-lived branches, slow reviews, a release train every week or two; it hurts.
    "legacy-core": TeamProfile(
        prs_per_day=0.45,
        commits=(2, 6),
        coding=(24, 240),
        draft=(4, 48),
        pickup=(24, 120),
        review=(12, 96),
        merge=(2, 48),
        squash_share=0.1,
        release_every=(168, 336),
        soak=(24, 96),
        region_lag=(4, 48),
        detect=(2, 12),
        ci_failure=0.22,
        deploy_failure=0.15,
        bad_release=0.32,
        remedies=(("rollback", 0.3), ("hotfix", 0.35), ("revert", 0.1), ("none", 0.25)),
        incidents_per_week=0.3,
        work_start_utc=4,
        direct_pushes_per_week=0.4,
    ),
    # Platform: infrastructure as code; merges are planned and applied environment by environment.
    "platform": TeamProfile(
        prs_per_day=0.35,
        commits=(1, 3),
        coding=(2, 24),
        draft=(0.5, 4),
        pickup=(0.5, 6),
        review=(0.5, 8),
        merge=(0.1, 2),
        squash_share=0.5,
        release_every=None,
        soak=(1, 3),
        region_lag=(0.5, 3),
        detect=(1, 4),
        ci_failure=0.08,
        deploy_failure=0.0,
        bad_release=0.0,
        remedies=(("none", 1.0),),
        incidents_per_week=0.0,
        work_start_utc=9,
        direct_pushes_per_week=0.1,
    ),
}

# Scripted stories, so that every demo (even a short one) shows each kind of failure and remedy: the
# first production rollout of the service starting at most `days` before now goes bad this way.
# (service, days before now, remedy, incident link, severity, the fix names the incident it fixes)
_SCRIPTED_FAILURES: tuple[tuple[str, float, str, str, str, bool], ...] = (
    ("checkout", 9, "rollback", "deployment", "sev2", False),
    ("web", 13, "hotfix", "version", "sev1", True),
    ("search", 16, "revert", "none", "sev3", False),
    ("payments-api", 6, "config", "deployment", "sev3", False),
    ("billing", 24, "rollback", "version", "sev2", False),
    ("customer-portal", 22, "hotfix", "deployment", "sev2", True),
)
# (service, hours before now, cause, severity, title, resolved after hours or None: still open)
_SCRIPTED_INCIDENTS: tuple[tuple[str, float, str, str, str, float | None], ...] = (
    ("checkout", 118, "external", "sev2", "Card payments failing: upstream PSP outage", 3.5),
    ("customer-portal", 5, "", "sev2", "Portal login intermittently returns 502", None),
)

_MEMBERS = {
    "payments": ("alice", "bob", "carol", "dmitri"),
    "discovery": ("erin", "farid", "grace", "hiro"),
    "legacy-core": ("ivan", "judy", "kemal"),
    "platform": ("lena", "mo", "nadia"),
}
_TOPICS = {
    "payments": (
        "refund idempotency keys",
        "3DS challenge flow",
        "settlement export",
        "currency rounding",
        "webhook retries",
        "ledger reconciliation",
        "card tokenisation",
        "payout batching",
        "fraud score threshold",
        "SEPA mandate handling",
    ),
    "discovery": (
        "typo tolerance",
        "ranking features",
        "embedding cache",
        "facet counts",
        "email digest",
        "push token refresh",
        "image lazy loading",
        "query suggestions",
        "recommendation carousel",
        "A/B bucket assignment",
    ),
    "legacy-core": (
        "invoice PDF layout",
        "SAP export",
        "VAT rules for 2026",
        "nightly batch job",
        "session timeout",
        "customer address form",
        "dunning letters",
        "credit note numbering",
        "EDI parser",
        "account merge",
    ),
    "platform": (
        "NAT gateway",
        "VPC peering",
        "node pool sizes",
        "ingress controller",
        "cert-manager",
        "CIDR ranges",
        "cluster autoscaler",
        "flow logs",
        "private DNS zones",
        "pod security admission",
    ),
}
_FEATURE_VERBS = ("Add", "Support", "Introduce", "Improve", "Speed up", "Refactor", "Migrate")
_BUG_VERBS = ("Fix", "Handle errors in", "Guard against timeouts in", "Correct")
_CHORES = ("Bump dependencies", "Update CODEOWNERS", "Fix typo in README", "Tidy CI cache keys")
_MONOREPO_FILES = {
    "search": (
        "services/search/api/handlers.py",
        "services/search/api/schema.py",
        "services/search/indexer/pipeline.py",
        "services/search/ranking/features.py",
        "services/search/ranking/model.py",
        "services/search/tests/test_ranking.py",
    ),
    "recs": (
        "services/recs/api/views.py",
        "services/recs/model/train.py",
        "services/recs/model/embeddings.py",
        "services/recs/jobs/refresh.py",
        "services/recs/tests/test_model.py",
    ),
}
_INCIDENT_TITLES = (
    "Elevated 5xx rate on {service}",
    "{service} p99 latency above SLO",
    "Errors in {service} after release",
    "{service} consumers lagging",
    "Customer reports: {service} unavailable",
)
_MAJOR = {
    "checkout": 3,
    "payments-api": 2,
    "ledger": 1,
    "search": 4,
    "recs": 0,
    "web": 5,
    "notifications": 1,
    "billing": 7,
    "erp-sync": 2,
    "customer-portal": 1,
    "network-stack": 0,
    "k8s-platform": 0,
}


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


class _Simulation:
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

    def plan_repo(self, repo: _Repo) -> None:
        """The repository's first commit, the versions live as the window opens, and the queue."""
        self.trunk_root(repo)
        for service in repo.services:
            self.baseline(repo, service)
            self.plan_pull_requests(repo, service)
            profile = service.profile
            if profile.release_every is not None:
                t = self.working(
                    self.start + self.hours((0, profile.release_every[0])), service.team
                )
                while t < self.now:
                    self.at(t, "train", repo, service)
                    t = self.working(t + self.hours(profile.release_every), service.team)
            t = self.start + timedelta(days=self.rng.uniform(5, 30))
            while t < self.now:
                self.at(self.working(t, service.team), "config_change", repo, service)
                t += timedelta(days=self.rng.uniform(20, 45))

    def trunk_root(self, repo: _Repo) -> None:
        t = self.start - timedelta(days=3)
        sha = self.sha()
        subject = "Import history from the old build server"
        self.commit(repo, sha, t, t, [], "lena", subject, None)
        self.push_trunk(repo, sha, t, None, subject)
        repo.green[sha] = t

    def baseline(self, repo: _Repo, service: _Service) -> None:
        """The version every environment runs when the window opens."""
        sha, version = repo.shas[0], service.version()
        t = self.start - timedelta(days=2)
        for environment, targets in (("staging", ("",)), ("production", service.targets)):
            for target in targets:
                t += self.minutes(5, 20)
                self.deployment(
                    service, environment, target, sha, version, t, t + self.minutes(3, 8)
                )
                if environment == "production":
                    service.live[target] = (sha, version)
        service.staging = service.last_good = (sha, version)

    def plan_pull_requests(self, repo: _Repo, service: _Service) -> None:
        profile = service.profile
        day = self.start.replace(hour=0, minute=0, second=0)
        while day < self.now:
            rate = profile.prs_per_day * (1.0 if day.weekday() < 5 else 0.05)
            for _ in range(self.poisson(rate)):
                start = day + timedelta(hours=profile.work_start_utc) + self.minutes(0, 9 * 60)
                if start < self.start:
                    continue
                pr = self.new_pull_request(repo, service, start)
                if pr.merged_at is not None:
                    self.at(pr.merged_at, "merge", repo, pr)
                else:
                    self.at(pr.created_at, "abandon", repo, pr)
            if self.rng.random() < profile.direct_pushes_per_week / 5 and day.weekday() < 5:
                self.at(
                    self.working(day + self.minutes(0, 24 * 60), service.team),
                    "push",
                    repo,
                    service,
                )
            day += timedelta(days=1)

    def new_pull_request(
        self,
        repo: _Repo,
        service: _Service,
        start: datetime,
        *,
        labels: list[str] | None = None,
        title: str | None = None,
        urgent: bool = False,
    ) -> _PullRequest:
        profile, team = service.profile, service.team
        author = self.rng.choice(_MEMBERS[team])
        if labels is None:
            labels = ["bug"] if self.rng.random() < 0.3 else ["feature"]
        if title is None:
            topic = self.rng.choice(_TOPICS[team])
            verbs = _BUG_VERBS if "bug" in labels else _FEATURE_VERBS
            title = f"{self.rng.choice(verbs)} {topic}"
        if urgent:
            created = start + self.minutes(15, 90)
            ready = None
            first_review = created + self.minutes(5, 30)
            approved = first_review + self.minutes(5, 30)
            merged = approved + self.minutes(2, 20)
            count = 1
        else:
            count = self.rng.randint(*profile.commits)
            created = self.working(start + self.hours(profile.coding), team)
            ready = (
                self.working(created + self.hours(profile.draft), team)
                if self.rng.random() < 0.25
                else None
            )
            first_review = self.working((ready or created) + self.hours(profile.pickup), team)
            approved = self.working(first_review + self.hours(profile.review), team)
            merged = self.working(approved + self.hours(profile.merge), team)
        # Commits: spread between the branch start and the PR opening; a late fix-up after review.
        span = (created - start).total_seconds()
        times = sorted(
            start + timedelta(seconds=round(span * self.rng.random())) for _ in range(count)
        )
        times[0] = start
        if count > 1 and not urgent and self.rng.random() < 0.4 and approved > first_review:
            times[-1] = first_review + timedelta(
                seconds=(approved - first_review).total_seconds() // 2
            )
        merged_at: datetime | None = merged
        closed_at: datetime | None = merged
        if not urgent and self.rng.random() < 0.04:  # abandoned
            merged_at, closed_at = None, first_review + self.hours((2, 72))
        pr = _PullRequest(
            service=service,
            number=0,  # numbered when opened, so numbers follow creation order
            author=author,
            title=title,
            labels=labels,
            branch_start=start,
            commit_times=times,
            created_at=created,
            ready_at=ready,
            first_review_at=first_review,
            approved_at=approved,
            merged_at=merged_at,
            closed_at=closed_at,
            squash=self.rng.random() < profile.squash_share and not urgent,
        )
        self.at(created, "open", repo, pr)
        return pr

    def on_open(self, t: datetime, repo: _Repo, pr: _PullRequest) -> None:
        pr.number = repo.next_number
        repo.next_number += 1

    # -- git ------------------------------------------------------------------------------------

    def files_for(self, repo: _Repo, service: _Service, k: int | None = None) -> list[str] | None:
        if not repo.monorepo:
            return None
        pool = _MONOREPO_FILES[service.name]
        return sorted(self.rng.sample(pool, k or self.rng.randint(1, 3)))

    def commit(
        self,
        repo: _Repo,
        sha: str,
        authored: datetime,
        committed: datetime,
        parents: list[str],
        author: str,
        message: str,
        files: list[str] | None,
    ) -> None:
        event: dict[str, Any] = {
            "type": "commit",
            "id": f"{repo.name}@{sha}",
            "repo": repo.name,
            "sha": sha,
            "authored_at": authored,
            "committed_at": committed,
            "parents": parents,
            "author": author,
            "message": message,
        }
        if files is not None:
            event["files"] = files
        self.emit(event)

    def push_trunk(
        self, repo: _Repo, sha: str, t: datetime, service: str | None, subject: str
    ) -> int:
        repo.times.append(t)
        repo.shas.append(sha)
        repo.touches.append(service)
        repo.subjects[sha] = subject
        return len(repo.shas) - 1

    def head_at(self, repo: _Repo, t: datetime) -> str:
        return repo.shas[max(bisect_right(repo.times, t) - 1, 0)]

    def feature_commits(self, repo: _Repo, pr: _PullRequest) -> list[str]:
        base = self.head_at(repo, pr.branch_start)
        shas: list[str] = []
        for i, t in enumerate(pr.commit_times):
            sha = self.sha()
            if pr.revert_of is not None:
                reverted_sha, subject = pr.revert_of
                message = f'Revert "{subject}"\n\nThis reverts commit {reverted_sha}.'
                files = repo.files.get(reverted_sha)
            else:
                if i == 0:
                    message = pr.title
                elif t > (pr.first_review_at or t):
                    message = "Address review comments"
                else:
                    message = self.rng.choice(
                        ("Add tests", "Wire it up", "Handle edge cases", "WIP")
                    )
                files = self.files_for(repo, pr.service)
            self.commit(repo, sha, t, t, [shas[-1] if shas else base], pr.author, message, files)
            shas.append(sha)
            pr.files.update(files or ())
        return shas

    def on_abandon(self, t: datetime, repo: _Repo, pr: _PullRequest) -> None:
        self.open_pull_request(repo, pr)

    def open_pull_request(self, repo: _Repo, pr: _PullRequest) -> None:
        """A PR still open (or abandoned): its commits and the change without a merge."""
        shas = self.feature_commits(repo, pr)
        self.change(repo, pr, shas, None)

    def change(self, repo: _Repo, pr: _PullRequest, shas: list[str], merge_sha: str | None) -> None:
        event: dict[str, Any] = {
            "type": "change",
            "id": f"{repo.name}#{pr.number}",
            "repo": repo.name,
            "number": pr.number,
            "title": pr.title,
            "author": pr.author,
            "created_at": pr.created_at,
            "base": "main",
            "head": _branch_name(pr),
            "commits": shas,
            "labels": pr.labels,
            # acme's GitHub Enterprise, under a reserved name (RFC 2606): the explain lists link
            # each change to its pull request, as with a real GitHub source.
            "url": f"https://github.acme.example/{repo.name}/pull/{pr.number}",
        }
        for name in ("ready_at", "first_review_at", "approved_at"):
            if getattr(pr, name) is not None:
                event[name] = getattr(pr, name)
        if merge_sha is not None:
            event["merged_at"] = pr.merged_at
            event["merge_sha"] = merge_sha
            if pr.squash:
                event["squash_sha"] = merge_sha
        if pr.closed_at is not None:
            event["closed_at"] = pr.closed_at
        self.emit(event)

    def on_merge(self, t: datetime, repo: _Repo, pr: _PullRequest) -> None:
        merged = max(t, repo.times[-1] + timedelta(minutes=1))
        if merged > self.now:
            pr.merged_at = pr.closed_at = None
            if pr.created_at <= self.now:
                self.open_pull_request(repo, pr)
            return
        pr.merged_at = pr.closed_at = merged
        shas = self.feature_commits(repo, pr)
        files = sorted(pr.files) or None
        head = repo.shas[-1]
        sha = self.sha()
        if pr.squash:
            subject = f"{pr.title} (#{pr.number})"
            message, parents = subject, [head]
        else:
            subject = f"Merge pull request #{pr.number} from acme/{_branch_name(pr)}"
            message, parents = f"{subject}\n\n{pr.title}", [head, shas[-1]]
        self.commit(repo, sha, merged, merged, parents, pr.author, message, files)
        index = self.push_trunk(repo, sha, merged, pr.service.name, subject)
        repo.merged.append((index, pr))
        self.change(repo, pr, shas, sha)
        self.after_trunk_commit(repo, pr.service, sha, merged, files, pr)

    def on_push(self, t: datetime, repo: _Repo, service: _Service) -> None:
        t = max(t, repo.times[-1] + timedelta(minutes=1))
        sha = self.sha()
        subject = self.rng.choice(_CHORES)
        author = self.rng.choice(_MEMBERS[service.team])
        files = self.files_for(repo, service, 1)
        self.commit(repo, sha, t - self.minutes(1, 30), t, [repo.shas[-1]], author, subject, files)
        self.push_trunk(repo, sha, t, service.name, subject)
        self.after_trunk_commit(repo, service, sha, t, files, None)

    def after_trunk_commit(
        self,
        repo: _Repo,
        service: _Service,
        sha: str,
        t: datetime,
        files: list[str] | None,
        pr: _PullRequest | None,
    ) -> None:
        urgent = pr is not None and pr.expedite
        repo.files[sha] = files
        run = self.ci(repo, sha, t, never_fail=urgent)
        if run["status"] != "success":
            return
        if service.kind == "infra":
            self.at(run["finished_at"], "promote", repo, service, sha)
        elif urgent:
            assert pr is not None
            self.at(run["finished_at"], "expedite", repo, service, sha, pr)
        elif service.profile.release_every is None:
            self.at(run["finished_at"], "candidate", repo, service)

    def ci(self, repo: _Repo, sha: str, t: datetime, *, never_fail: bool = False) -> dict[str, Any]:
        """CI on a trunk commit: build then test."""
        slow = repo.services[0].team == "legacy-core"
        started = t + self.minutes(0.3, 3)
        build_end = started + (self.minutes(6, 18) if slow else self.minutes(2, 6))
        test_end = build_end + (self.minutes(15, 45) if slow else self.minutes(3, 10))
        failed = not never_fail and self.rng.random() < repo.services[0].profile.ci_failure
        status = "failure" if failed else "success"
        run = self.pipeline(
            repo,
            sha,
            "ci",
            "push",
            t,
            [("build", started, build_end, "success"), ("test", build_end, test_end, status)],
        )
        repo.pipelines[sha] = run
        if not failed:
            repo.green[sha] = test_end
        return run

    def pipeline(
        self,
        repo: _Repo,
        sha: str,
        name: str,
        trigger: str,
        created: datetime,
        jobs: list[tuple[str, datetime, datetime, str]],
    ) -> dict[str, Any]:
        number = repo.next_pipeline
        repo.next_pipeline += 1
        event = {
            "type": "pipeline_run",
            "id": f"{repo.name}/pipelines/{number}",
            "repo": repo.name,
            "sha": sha,
            "name": name,
            "branch": "main",
            "trigger": trigger,
            "created_at": created,
            "started_at": jobs[0][1],
            "finished_at": jobs[-1][2],
            "status": jobs[-1][3],
            "jobs": [
                {"name": n, "started_at": s, "finished_at": f, "status": st} for n, s, f, st in jobs
            ],
        }
        return self.emit(event)

    # -- releases -------------------------------------------------------------------------------

    def newest_green(self, repo: _Repo, service: _Service, t: datetime) -> int | None:
        """Trunk index of the newest commit touching the service, green by `t`, not yet shipped."""
        for index in range(len(repo.shas) - 1, service.released_index, -1):
            sha = repo.shas[index]
            touched = repo.touches[index]
            if (touched is None or touched == service.name) and repo.green.get(sha, self.now) <= t:
                return index
        return None

    def on_candidate(
        self, t: datetime, repo: _Repo, service: _Service, requeued: bool = False
    ) -> None:
        """Continuous delivery: ship the newest green commit unless a rollout is under way."""
        if requeued:
            service.deferred = False
        if t < service.hold_until:
            if not service.deferred:
                service.deferred = True
                self.at(service.hold_until, "candidate", repo, service, True)
            return
        index = self.newest_green(repo, service, t)
        if index is None:
            return
        run = repo.pipelines[repo.shas[index]]
        self.rollout(repo, service, index, t, run)

    def on_train(self, t: datetime, repo: _Repo, service: _Service) -> None:
        """A release train: the newest green commit leaves on schedule, unless one is under way."""
        if t < service.hold_until:
            return
        index = self.newest_green(repo, service, t)
        if index is None:
            return
        sha = repo.shas[index]
        build_end = t + self.minutes(4, 15)
        test_end = build_end + self.minutes(5, 25)
        run = self.pipeline(
            repo,
            sha,
            f"release-{service.name}",
            "schedule",
            t,
            [("build", t, build_end, "success"), ("test", build_end, test_end, "success")],
        )
        self.rollout(repo, service, index, test_end, run)

    def on_expedite(
        self, t: datetime, repo: _Repo, service: _Service, sha: str, pr: _PullRequest
    ) -> None:
        """A hotfix or revert ships on its own, straight away."""
        index = repo.shas.index(sha)
        self.rollout(repo, service, index, t, repo.pipelines[sha], pr=pr)

    def deploy_job(self, run: dict[str, Any], start: datetime, end: datetime, status: str) -> None:
        run["jobs"].append(
            {"name": "deploy", "started_at": start, "finished_at": end, "status": status}
        )
        run["finished_at"], run["status"] = end, status

    def deployment(
        self,
        service: _Service,
        environment: str,
        target: str,
        sha: str,
        version: str,
        started: datetime,
        finished: datetime,
        *,
        status: str = "success",
        run: dict[str, Any] | None = None,
        trigger: str = "automated",
        remediates: str | None = None,
    ) -> dict[str, Any]:
        service.deployments += 1
        event: dict[str, Any] = {
            "type": "deployment",
            "id": f"{service.name}/{environment}/{target or 'default'}/{service.deployments}",
            "service": service.name,
            "environment": environment,
            "sha": sha,
            "version": version,
            "repo": service.repo,
            "status": status,
            "started_at": started,
            "finished_at": finished,
            "trigger": trigger,
        }
        if target:
            event["target"] = target
        if service.kind == "app":
            event["config_version"] = f"cfg-{service.config_version}"
        if run is not None:
            event["pipeline_run"] = run["id"]
        if remediates:
            event["remediates"] = remediates
        return self.emit(event)

    def rollout(
        self,
        repo: _Repo,
        service: _Service,
        index: int,
        t: datetime,
        run: dict[str, Any],
        *,
        pr: _PullRequest | None = None,
    ) -> None:
        """Staging, a soak, then each production target in turn; some releases go bad."""
        profile = service.profile
        sha = repo.shas[index]
        urgent = pr is not None  # a hotfix or a revert, shipped on its own
        service.released_index = max(service.released_index, index)
        if pr is not None and "hotfix" in pr.labels:
            service.patch += 1
        else:
            service.minor, service.patch = service.minor + 1, 0
        version = service.version()
        # Staging; a failed deployment there is retried, or the release is dropped.
        end = t + self.minutes(2, 8)
        if not urgent and self.rng.random() < profile.deploy_failure * 0.6:
            self.deployment(service, "staging", "", sha, version, t, end, status="failure", run=run)
            if self.rng.random() < 0.5:
                self.deploy_job(run, t, end, "failure")
                service.hold_until = end + self.minutes(10, 40)
                return
            t = end + self.minutes(10, 40)
            end = t + self.minutes(2, 8)
        self.deployment(service, "staging", "", sha, version, t, end, run=run)
        self.deploy_job(run, t, end, "success")
        service.staging = (sha, version)

        forced = None
        if not urgent and service.forced and service.forced[0][0] <= t:
            forced = service.forced.pop(0)
        bad_share = profile.bad_release * (0.3 if urgent else 1.0)
        bad = forced is not None or self.rng.random() < bad_share
        remedy = forced[1] if forced else self.pick(profile.remedies) if bad else "none"
        halts = remedy in ("rollback", "hotfix", "revert")

        cursor = end + (self.minutes(10, 30) if urgent else self.hours(profile.soak))
        if not urgent and profile.release_every is not None:
            cursor = self.working(cursor, service.team)
        shipped: list[dict[str, Any]] = []
        detect_at: datetime | None = None
        for position, target in enumerate(service.targets):
            if position:
                cursor += self.minutes(3, 15) if urgent else self.hours(profile.region_lag)
            if halts and detect_at is not None and cursor > detect_at:
                break  # the rollout is stopped once the damage shows
            start, finish = cursor, cursor + self.minutes(3, 12)
            if self.rng.random() < profile.deploy_failure:  # never went live; retried
                self.deployment(
                    service, "production", target, sha, version, start, finish, status="failure"
                )
                start = finish + self.minutes(10, 45)
                finish = start + self.minutes(3, 12)
                if halts and detect_at is not None and start > detect_at:
                    break
            remediates = pr.remediates if pr is not None else None
            shipped.append(
                self.deployment(
                    service,
                    "production",
                    target,
                    sha,
                    version,
                    start,
                    finish,
                    run=run,
                    remediates=remediates,
                )  # fmt: skip
            )
            service.live[target] = (sha, version)
            cursor = finish
            if bad and detect_at is None:
                detect_at = finish + self.hours(profile.detect)
        service.hold_until = cursor + self.minutes(5, 20)
        if pr is not None and pr.incident is not None and "mitigated_at" not in pr.incident:
            self.close_incident(pr.incident, shipped[0]["finished_at"])
        if not bad or detect_at is None:
            service.last_good = (sha, version)
            return
        if forced is not None:
            link, severity, remediates_flag = forced[2], forced[3], forced[4]
        else:
            link = self.pick((("deployment", 0.35), ("version", 0.25), ("none", 0.4)))
            severity = self.pick((("sev1", 0.15), ("sev2", 0.45), ("sev3", 0.4)))
            remediates_flag = self.rng.random() < 0.5
        incident = None
        if link != "none" or remedy in ("none", "config") or self.rng.random() < 0.85:
            incident = self.release_incident(service, shipped, detect_at, link, severity)
        self.remediate(repo, service, index, shipped, detect_at, remedy, incident)
        if incident is not None and remediates_flag and service.pending_fix is not None:
            service.pending_fix.remediates = incident["id"]
        service.pending_fix = None

    def release_incident(
        self,
        service: _Service,
        shipped: list[dict[str, Any]],
        detect_at: datetime,
        link: str,
        severity: str,
    ) -> dict[str, Any]:
        """The incident a bad release causes; linked to it explicitly, or only by time."""
        first_live: datetime = shipped[0]["finished_at"]
        lead = (detect_at - first_live).total_seconds()
        incident = self.incident(
            service,
            detect_at + self.minutes(0, 10),
            severity,
            impact_started=first_live + timedelta(seconds=round(lead * self.rng.uniform(0, 0.5))),
        )
        if link == "deployment":
            incident["caused_by"] = {"deployment": shipped[0]["id"]}
            incident["cause"] = "change"
        elif link == "version":
            incident["caused_by"] = {"version": shipped[0]["version"]}
            incident["cause"] = "change"
        return incident

    def remediate(
        self,
        repo: _Repo,
        service: _Service,
        index: int,
        shipped: list[dict[str, Any]],
        detect_at: datetime,
        remedy: str,
        incident: dict[str, Any] | None,
    ) -> None:
        """Roll back, redeploy with a config change, or open a hotfix or revert PR."""
        mitigated: datetime | None = None
        # Remedies start once the deployments under way have finished.
        settled = max(d["finished_at"] for d in shipped) + self.minutes(2, 6)
        if remedy == "rollback":  # every target back to the last good release
            assert service.last_good is not None
            t = max(detect_at + self.minutes(10, 40), settled)
            for target in service.targets:
                if service.live[target] == service.last_good:
                    continue
                mitigated = t + self.minutes(3, 8)
                sha, version = service.last_good
                self.deployment(
                    service, "production", target, sha, version, t, mitigated, trigger="manual"
                )
                service.live[target] = service.last_good
                t = mitigated + self.minutes(1, 5)
            service.hold_until = t + self.hours((1, 24))
        elif remedy == "config":
            service.config_version += 1
            t = max(detect_at + self.minutes(15, 45), settled)
            for event in shipped:
                mitigated = t + self.minutes(2, 5)
                self.deployment(
                    service, "production", event.get("target", ""), event["sha"],
                    event["version"], t, mitigated,
                )  # fmt: skip
                t = mitigated + self.minutes(1, 4)
            service.hold_until = max(service.hold_until, t)
        elif remedy in ("hotfix", "revert"):
            pr = self.remedy_pull_request(repo, service, index, detect_at, remedy)
            if pr is None:  # only direct pushes shipped: nothing to revert, fix forward
                remedy = "none"
            else:
                assert pr.merged_at is not None
                pr.expedite, pr.incident = True, incident
                service.pending_fix = pr
                self.at(pr.merged_at, "merge", repo, pr)
                service.hold_until = pr.merged_at + timedelta(hours=2)
        if remedy in ("none", "config"):  # the release stays
            service.last_good = (shipped[0]["sha"], shipped[0]["version"])
        if remedy == "none":
            mitigated = detect_at + self.hours((1, 8))
        if incident is not None and mitigated is not None:
            self.close_incident(incident, mitigated)

    def remedy_pull_request(
        self, repo: _Repo, service: _Service, index: int, detect_at: datetime, remedy: str
    ) -> _PullRequest | None:
        start = detect_at + self.minutes(5, 45)
        if remedy == "hotfix":
            topic = self.rng.choice(_TOPICS[service.team])
            return self.new_pull_request(
                repo,
                service,
                start,
                labels=["bug", "hotfix"],
                title=f"Hotfix: {topic}",
                urgent=True,
            )
        # Revert the newest PR this release shipped for the service.
        for trunk_index, merged in reversed(repo.merged):
            if trunk_index <= index and merged.service is service and merged.revert_of is None:
                reverted_sha = repo.shas[trunk_index]
                subject = repo.subjects[reverted_sha]
                pr = self.new_pull_request(
                    repo,
                    service,
                    start,
                    labels=["bug"],
                    title=f'Revert "{merged.title}"',
                    urgent=True,
                )
                pr.revert_of = (reverted_sha, subject)
                return pr
        return None

    def on_config_change(self, t: datetime, repo: _Repo, service: _Service) -> None:
        """A configuration-only redeploy: same sha and version, a new config version."""
        mixed = len(set(service.live.values())) > 1
        if t < service.hold_until or service.staging is None or mixed:
            return
        service.config_version += 1
        sha, version = service.staging
        self.deployment(service, "staging", "", sha, version, t, t + self.minutes(2, 5))
        t += self.minutes(30, 90)
        for target in service.targets:
            sha, version = service.live[target]
            self.deployment(service, "production", target, sha, version, t, t + self.minutes(2, 5))
            t += self.minutes(5, 15)
        service.hold_until = t

    # -- incidents ------------------------------------------------------------------------------

    def incident(
        self,
        service: _Service,
        opened: datetime,
        severity: str,
        *,
        impact_started: datetime | None = None,
        title: str | None = None,
    ) -> dict[str, Any]:
        number = self.next_incident
        self.next_incident += 1
        event: dict[str, Any] = {
            "type": "incident",
            "id": f"INC-{number:04d}",
            "service": service.name,
            "environment": "production",
            "title": title or self.rng.choice(_INCIDENT_TITLES).format(service=service.name),
            "severity": severity,
            "opened_at": opened,
            "impact_started_at": impact_started or opened - self.minutes(2, 30),
        }
        return self.emit(event)

    def close_incident(self, incident: dict[str, Any], mitigated: datetime) -> None:
        incident["mitigated_at"] = max(mitigated, incident["opened_at"])
        incident["resolved_at"] = incident["mitigated_at"] + self.hours((0.5, 30))

    def plan_incidents(self) -> None:
        """Incidents unrelated to any release (some land near one anyway), and the scripted ones."""
        for service in self.services.values():
            weeks = (self.now - self.start).days / 7
            for _ in range(self.poisson(service.profile.incidents_per_week * weeks)):
                opened = self.start + (self.now - self.start) * self.rng.random()
                incident = self.incident(service, opened, self.pick((("sev2", 0.3), ("sev3", 0.7))))
                if self.rng.random() < 0.1:
                    incident["cause"] = "external"
                self.close_incident(incident, opened + self.hours((0.3, 6)))
        for name, hours_ago, cause, severity, title, resolved_after in _SCRIPTED_INCIDENTS:
            opened = self.now - timedelta(hours=hours_ago)
            incident = self.incident(self.services[name], opened, severity, title=title)
            if cause:
                incident["cause"] = cause
            if resolved_after is not None:
                incident["mitigated_at"] = opened + timedelta(hours=resolved_after * 0.6)
                incident["resolved_at"] = opened + timedelta(hours=resolved_after)

    # -- infrastructure -------------------------------------------------------------------------

    def plan_infra(self, repo: _Repo) -> None:
        """A stack: its instances, the versions applied as the window opens, and the queue."""
        stack = repo.services[0]
        self.trunk_root(repo)
        self.instances = {
            (environment, target): _Instance(stack, environment, target)
            for environment, targets in (
                ("development", ("",)),
                ("staging", ("",)),
                ("production", PRODUCTION_REGIONS),
            )
            for target in targets
        }
        self.broken_at = self.now - STALE_FOR if stack.name == STALE_STACK else None
        stack.promoted = (repo.shas[0], stack.version())
        for instance in self.instances.values():
            t = self.start - timedelta(days=2) + self.minutes(0, 120)
            if self.broken_at is not None and instance.environment == STALE_ENVIRONMENT:
                t = min(t, self.broken_at - timedelta(days=1))
            self.apply(instance, t, *stack.promoted, "change", forced_status="success")
        self.plan_pull_requests(repo, stack)
        # Nightly plans in staging and production; k8s-platform also reconciles every Sunday.
        day = self.start.replace(hour=2, minute=0, second=0)
        while day < self.now:
            for instance in self.instances.values():
                if instance.environment == "development":
                    continue
                self.at(day + self.minutes(0, 40), "plan", instance)
                if stack.name == "k8s-platform" and day.weekday() == 6:
                    self.at(day + timedelta(hours=1) + self.minutes(0, 30), "reconcile", instance)
            day += timedelta(days=1)
        if stack.name == "k8s-platform":  # the development cluster is applied by hand, now and then
            development = self.instances[("development", "")]
            t = self.start + timedelta(days=self.rng.uniform(0, 5))
            while t < self.now:
                self.at(self.working(t, stack.team), "manual_apply", development)
                t += timedelta(days=self.rng.choice((1, 2, 3, 5, 8, 12, 18, 26, 33, 40)))
        if self.broken_at is not None and self.broken_at > self.start:
            self.at(self.broken_at, "break", self.instances[(STALE_ENVIRONMENT, "")])

    def abandoned(self, instance: _Instance, t: datetime) -> bool:
        """The stale instance: nobody applies it once its pipeline broke."""
        return (
            self.broken_at is not None
            and instance.environment == STALE_ENVIRONMENT
            and t >= self.broken_at
        )

    def gap_failure(self, instance: _Instance, t: datetime) -> float:
        """Longer gaps since the last run fail more often (drift, expired credentials, churn)."""
        gap = t - instance.last_run if instance.last_run else timedelta(0)
        if gap <= timedelta(days=1):
            return 0.03
        if gap <= timedelta(days=7):
            return 0.08
        if gap <= timedelta(days=30):
            return 0.25
        return 0.5

    def automation_run(
        self,
        instance: _Instance,
        action: str,
        started: datetime,
        finished: datetime,
        status: str,
        trigger: str,
        version: str | None,
        drift: bool | None = None,
        sha: str | None = None,
    ) -> None:
        """A run of the stack's automation; an apply naming its sha is also the stack's
        deployment of that sha (dora.intake.records.apply_deployment): no deployment event is
        sent."""
        instance.runs += 1
        target = instance.target or "default"
        event: dict[str, Any] = {
            "type": "automation_run",
            "id": f"{instance.stack.name}/{instance.environment}/{target}/{instance.runs}",
            "service": instance.stack.name,
            "environment": instance.environment,
            "action": action,
            "status": status,
            "started_at": started,
            "finished_at": finished,
            "trigger": trigger,
        }
        if instance.target:
            event["target"] = instance.target
        if version:
            event["version"] = version
        if sha:
            event["sha"] = sha
            event["repo"] = instance.stack.repo
        if drift is not None:
            event["drift_detected"] = drift
        instance.last_run = finished
        self.emit(event)

    def apply(
        self,
        instance: _Instance,
        t: datetime,
        sha: str,
        version: str,
        trigger: str,
        *,
        forced_status: str | None = None,
        attempt: int = 1,
    ) -> None:
        """An apply of a new stack version: an automation run naming its sha, which is the
        stack's deployment of it."""
        failed = self.rng.random() < self.gap_failure(instance, t)
        status = forced_status or ("failure" if failed else "success")
        end = t + self.minutes(4, 25)
        self.automation_run(instance, "apply", t, end, status, trigger, version, sha=sha)
        if status == "success":
            instance.version = (sha, version)
        elif attempt < 3 and forced_status is None:
            self.at(end + self.minutes(30, 120), "retry", instance, sha, version, attempt + 1)

    def on_retry(
        self, t: datetime, instance: _Instance, sha: str, version: str, attempt: int
    ) -> None:
        """Someone re-runs a failed apply by hand, unless a newer version got there first."""
        if self.abandoned(instance, t) or self.superseded(instance, version):
            return
        self.apply(instance, t, sha, version, "manual", attempt=attempt)

    def on_promote(self, t: datetime, repo: _Repo, stack: _Service, sha: str) -> None:
        """A merged stack change: development at once, staging after a plan, production next day."""
        stack.minor += 1
        stack.promoted = (sha, stack.version())
        if stack.name != "k8s-platform":
            development = self.instances[("development", "")]
            self.at(
                t + self.minutes(3, 15), "apply_version", development, *stack.promoted, "change"
            )
        staging = self.instances[("staging", "")]
        staging_at = t + self.hours((1, 3))
        self.at(staging_at - self.minutes(10, 30), "plan", staging, "change")
        self.at(staging_at, "apply_version", staging, *stack.promoted, "change")
        if not stack.deferred:  # one production rollout at a time, of the newest version
            stack.deferred = True
            start = max(self.working(t + timedelta(hours=16), stack.team), stack.hold_until)
            self.at(start, "production", stack)

    def on_production(self, t: datetime, stack: _Service) -> None:
        """The next working morning: plan and apply the newest version region by region."""
        assert stack.promoted is not None
        stack.deferred = False
        # With staging broken, the team applies production by hand.
        trigger = "manual" if self.broken_at is not None and t >= self.broken_at else "change"
        cursor = t
        for region in PRODUCTION_REGIONS:
            instance = self.instances[("production", region)]
            self.at(cursor - self.minutes(5, 20), "plan", instance, trigger)
            self.at(cursor, "apply_version", instance, *stack.promoted, trigger)
            cursor += self.hours(stack.profile.region_lag)
        stack.hold_until = cursor + timedelta(hours=1)

    def on_apply_version(
        self, t: datetime, instance: _Instance, sha: str, version: str, trigger: str
    ) -> None:
        """A scheduled apply of a merged version, unless a newer one got there first."""
        if self.abandoned(instance, t) or self.superseded(instance, version):
            return
        self.apply(instance, t, sha, version, trigger)

    def superseded(self, instance: _Instance, version: str) -> bool:
        return instance.version is not None and _version_key(instance.version[1]) >= _version_key(
            version
        )

    def on_plan(self, t: datetime, instance: _Instance, trigger: str = "schedule") -> None:
        """A plan: changes nothing, but tells whether the stack drifted from its code."""
        failed = self.rng.random() < self.gap_failure(instance, t) / 3
        drift = None
        if not failed:
            drift = self.rng.random() < (0.7 if self.abandoned(instance, t) else 0.04)
        version = instance.version[1] if instance.version else None
        end = t + self.minutes(1, 6)
        status = "failure" if failed else "success"
        self.automation_run(instance, "plan", t, end, status, trigger, version, drift)

    def on_reconcile(self, t: datetime, instance: _Instance) -> None:
        """A scheduled apply of the version already there: undoes drift, ships nothing new."""
        if instance.version is None or self.abandoned(instance, t):
            return
        failed = self.rng.random() < self.gap_failure(instance, t)
        end = t + self.minutes(3, 15)
        status = "failure" if failed else "success"
        sha, version = instance.version
        self.automation_run(instance, "apply", t, end, status, "schedule", version, sha=sha)

    def on_manual_apply(self, t: datetime, instance: _Instance) -> None:
        """An apply by hand of the newest stack version (the k8s-platform development cluster)."""
        stack = instance.stack
        assert stack.promoted is not None
        if instance.version == stack.promoted:
            failed = self.rng.random() < self.gap_failure(instance, t)
            end = t + self.minutes(3, 20)
            status = "failure" if failed else "success"
            sha, version = stack.promoted
            self.automation_run(instance, "apply", t, end, status, "manual", version, sha=sha)
        else:
            self.apply(instance, t, *stack.promoted, "manual", attempt=3)

    def on_break(self, t: datetime, instance: _Instance) -> None:
        """network-stack's staging apply starts failing (a provider upgrade) and is given up on."""
        assert instance.stack.promoted is not None
        for delay, trigger in ((0, "change"), (2, "manual"), (26, "manual")):
            self.apply(
                instance,
                t + timedelta(hours=delay),
                *instance.stack.promoted,
                trigger,
                forced_status="failure",
            )

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


def _serialise(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, dict):
        return {k: _serialise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_serialise(v) for v in value]
    return value
