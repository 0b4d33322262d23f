"""One delivery history in no source's shape, generated from a seed: what happened, once.

Renderers (tests/history/events.py, tests/history/github.py, ...) turn a `History` into what a
source would send for it; every renderer reads the same objects, so every path carries the same
shas, times, numbers and ids. The generator is deterministic (random.Random(seed)) and small:
a few dozen commits and deployments over about three weeks.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

REPO = "acme/shop"
SERVICE = "shop"
STACK = "network-stack"  # an infra stack: its automation runs are events or HCP Terraform runs
STACK_REPO = "acme/network"  # the stack's repository
DEFAULT_BRANCH = "main"
REGIONS = ("eu-west", "us-east", "ap-south")
STYLES = ("merge", "squash", "rebase")
BASE = datetime(2026, 9, 7, 8, tzinfo=UTC)  # a Monday, in the past of every test run
PEOPLE = ("ana", "bo", "chen", "dita")


@dataclass(frozen=True)
class GitCommit:
    sha: str
    parents: tuple[str, ...]
    authored_at: datetime
    committed_at: datetime
    author: str
    message: str


@dataclass(frozen=True)
class PullRequest:
    """A merged pull request. branch: its commits, oldest first (what /pulls/{n}/commits lists);
    landed: what merging it created on the default branch, oldest first (the merge commit, the
    squash commit, or the rebased copies of `branch`)."""

    number: int
    title: str
    author: str
    reviewer: str
    head: str
    style: str  # merge | squash | rebase
    created_at: datetime
    first_review_at: datetime
    approved_at: datetime
    merged_at: datetime
    branch: tuple[GitCommit, ...]
    landed: tuple[GitCommit, ...]
    labels: tuple[str, ...] = ()

    @property
    def merge_commit_sha(self) -> str:
        """GitHub's merge_commit_sha: the merge or squash commit, or the last rebased copy."""
        return self.landed[-1].sha


@dataclass(frozen=True)
class Push:
    """A push to `branch`: before is None when it created the branch."""

    branch: str
    before: str | None
    commits: tuple[GitCommit, ...]  # oldest first, as a push payload lists them
    at: datetime
    pusher: str


@dataclass(frozen=True)
class Deployment:
    id: int
    environment: str
    target: str | None
    sha: str
    created_at: datetime
    finished_at: datetime
    state: str  # success | failure


@dataclass(frozen=True)
class Incident:
    number: int
    title: str
    severity: int
    opened_at: datetime
    resolved_at: datetime


@dataclass(frozen=True)
class CiRun:
    """A workflow run `build` on a default-branch sha, with one job `test`."""

    id: int
    sha: str
    created_at: datetime
    job_started_at: datetime
    job_finished_at: datetime
    finished_at: datetime
    conclusion: str


@dataclass(frozen=True)
class History:
    seed: int
    repo: str
    service: str
    default_branch: str
    commits: tuple[GitCommit, ...]  # every commit, in creation order (branch ones too)
    mainline: tuple[str, ...]  # the default branch's first-parent shas, oldest first
    pulls: tuple[PullRequest, ...]
    pushes: tuple[Push, ...]
    deployments: tuple[Deployment, ...]
    incidents: tuple[Incident, ...]
    runs: tuple[CiRun, ...]
    automation: tuple[dict[str, Any], ...]  # CONTRACT §1 automation_run events (no GitHub shape)
    since: datetime
    until: datetime

    def reachable(self) -> list[GitCommit]:
        """Commits reachable from the default branch's tip (every parent), newest first by
        committer date: what GET /repos/{r}/commits lists."""
        by_sha = {c.sha: c for c in self.commits}
        seen: set[str] = set()
        stack = [self.mainline[-1]]
        while stack:
            sha = stack.pop()
            if sha in seen:
                continue
            seen.add(sha)
            stack.extend(by_sha[sha].parents)
        order = {c.sha: i for i, c in enumerate(self.commits)}
        return sorted(
            (by_sha[s] for s in seen), key=lambda c: (c.committed_at, order[c.sha]), reverse=True
        )


@dataclass
class _Builder:
    seed: int
    styles: Sequence[str]
    rng: random.Random = field(init=False)
    now: datetime = BASE
    commits: list[GitCommit] = field(default_factory=list)
    mainline: list[str] = field(default_factory=list)
    pulls: list[PullRequest] = field(default_factory=list)
    pushes: list[Push] = field(default_factory=list)
    deployments: list[Deployment] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    runs: list[CiRun] = field(default_factory=list)
    automation: list[dict[str, Any]] = field(default_factory=list)
    live: dict[str, str] = field(default_factory=dict)  # environment -> sha live there

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)

    def minutes(self, lo: int, hi: int) -> timedelta:
        return timedelta(minutes=self.rng.randint(lo, hi))

    def commit(
        self,
        parents: Sequence[str],
        authored: datetime,
        message: str,
        author: str,
        committed: datetime | None = None,
    ) -> GitCommit:
        sha = hashlib.sha1(
            f"history:{self.seed}:{len(self.commits)}".encode(), usedforsecurity=False
        ).hexdigest()
        commit = GitCommit(sha, tuple(parents), authored, committed or authored, author, message)
        self.commits.append(commit)
        return commit

    @property
    def tip(self) -> str:
        return self.mainline[-1]

    def root(self) -> None:
        root = self.commit([], self.now - timedelta(days=2), "Initial commit", PEOPLE[0])
        self.mainline.append(root.sha)
        self.pushes.append(Push(DEFAULT_BRANCH, None, (root,), root.committed_at, PEOPLE[0]))

    def pull(self, style: str, *, labels: tuple[str, ...] = (), quick: bool = False) -> None:
        number = 100 + len(self.pulls) + len(self.incidents)
        author, reviewer = self.rng.sample(PEOPLE, 2)
        head = f"{author}/change-{number}"
        fork = self.tip
        authored = self.now - (self.minutes(20, 60) if quick else self.minutes(180, 1800))
        branch: list[GitCommit] = []
        for i in range(self.rng.randint(2, 3)):
            parent = branch[-1].sha if branch else fork
            branch.append(self.commit([parent], authored, f"change {number} part {i + 1}", author))
            authored += self.minutes(10, 90) if not quick else self.minutes(2, 5)
        created = max(authored, self.now)
        self.pushes.append(Push(head, None, tuple(branch), branch[-1].committed_at, author))
        first_review = created + (self.minutes(5, 15) if quick else self.minutes(20, 240))
        approved = first_review + (self.minutes(1, 5) if quick else self.minutes(10, 120))
        merged = approved + self.minutes(2, 30)
        before = self.tip
        if style == "merge":
            merge = self.commit(
                [before, branch[-1].sha],
                merged,
                f"Merge pull request #{number} from acme/{head}",
                reviewer,
            )
            landed = [merge]
            pushed = [*branch, merge]
        elif style == "squash":
            landed = [self.commit([before], merged, f"Change {number} (#{number})", author)]
            pushed = landed
        else:  # rebase: copies keep the author date and message, get a new committer date
            landed = []
            for original in branch:
                parent = landed[-1].sha if landed else before
                landed.append(
                    self.commit(
                        [parent], original.authored_at, original.message, author, committed=merged
                    )
                )
            pushed = landed
        self.mainline.extend(c.sha for c in landed)
        self.pushes.append(Push(DEFAULT_BRANCH, before, tuple(pushed), merged, reviewer))
        self.pulls.append(
            PullRequest(
                number=number,
                title=f"Change {number}",
                author=author,
                reviewer=reviewer,
                head=head,
                style=style,
                created_at=created,
                first_review_at=first_review,
                approved_at=approved,
                merged_at=merged,
                branch=tuple(branch),
                landed=tuple(landed),
                labels=labels,
            )
        )
        self.now = merged + self.minutes(5, 40)

    def direct_push(self) -> None:
        before = self.tip
        author = self.rng.choice(PEOPLE)
        pushed = []
        for i in range(self.rng.randint(1, 2)):
            parent = pushed[-1].sha if pushed else before
            pushed.append(self.commit([parent], self.now, f"direct fix {i + 1}", author))
            self.now += self.minutes(1, 10)
        self.mainline.extend(c.sha for c in pushed)
        self.pushes.append(Push(DEFAULT_BRANCH, before, tuple(pushed), self.now, author))
        self.now += self.minutes(5, 30)

    def ci(self) -> None:
        created = self.now
        started = created + timedelta(seconds=self.rng.randint(5, 50))
        job_finished = started + self.minutes(3, 9)
        finished = job_finished + timedelta(seconds=self.rng.randint(5, 40))
        self.runs.append(
            CiRun(
                5000 + len(self.runs), self.tip, created, started, job_finished, finished, "success"
            )
        )
        self.now = finished + self.minutes(1, 5)

    def deploy(
        self, environment: str, target: str | None, sha: str, state: str = "success"
    ) -> None:
        created = self.now
        finished = created + self.minutes(3, 12)
        self.deployments.append(
            Deployment(
                800 + len(self.deployments), environment, target, sha, created, finished, state
            )
        )
        self.now = finished + self.minutes(1, 20)
        if state == "success":
            self.live[environment] = sha

    def release(self, *, fail_region: str | None = None, staging: bool = True) -> None:
        """The tip to staging, then production region by region (a multi-target rollout)."""
        sha = self.tip
        if staging:
            self.deploy("staging", None, sha)
            self.now += self.minutes(30, 120)
        for region in REGIONS:
            if region == fail_region:
                self.deploy("production", region, sha, "failure")
            self.deploy("production", region, sha)

    def rollback(self, to_sha: str) -> None:
        for region in REGIONS:
            self.deploy("production", region, to_sha)

    def incident(self, opened: datetime, resolved: datetime, severity: int) -> None:
        number = 100 + len(self.pulls) + len(self.incidents)
        self.incidents.append(Incident(number, f"outage {number}", severity, opened, resolved))

    def infra_runs(self, start: datetime, end: datetime) -> None:
        """The network stack applied every other day in each environment (one failure). Each
        apply is of a commit of the stack's repository (`sha`, and `version` the same, as HCP
        Terraform's version fill records it), queued by a push (`trigger: change`); its id is
        an HCP Terraform run id (`run-` and 16 characters), so that the Terraform path's
        notifications carry the same ids."""
        at, n = start, 0
        while at < end:
            for environment in ("staging", "production"):
                n += 1
                status = "failure" if n == 5 else "success"
                finished = at + timedelta(minutes=7 + n % 5)
                release = f"net-{(n + 1) // 2}".encode()
                sha = hashlib.sha1(release, usedforsecurity=False).hexdigest()
                self.automation.append(
                    {
                        "type": "automation_run",
                        "source": "terraform",
                        "id": f"run-hist{environment[:4]}{n:08d}",
                        "service": STACK,
                        "environment": environment,
                        "action": "apply",
                        "status": status,
                        "trigger": "change",
                        "started_at": _iso(at),
                        "finished_at": _iso(finished),
                        "version": sha,
                        "sha": sha,
                        "repo": STACK_REPO,
                    }
                )
                at = finished + timedelta(minutes=3)
            at += timedelta(days=2)

    def gap(self) -> None:
        self.now += timedelta(hours=self.rng.randint(14, 30))

    def history(self) -> History:
        return History(
            seed=self.seed,
            repo=REPO,
            service=SERVICE,
            default_branch=DEFAULT_BRANCH,
            commits=tuple(self.commits),
            mainline=tuple(self.mainline),
            pulls=tuple(self.pulls),
            pushes=tuple(self.pushes),
            deployments=tuple(self.deployments),
            incidents=tuple(self.incidents),
            runs=tuple(self.runs),
            automation=tuple(self.automation),
            since=BASE - timedelta(days=7),
            until=(self.now + timedelta(days=1)).replace(hour=0, minute=0, second=0),
        )


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def style_history(style: str, *, seed: int = 14) -> History:
    """Three pull requests merged `style`, each released to staging, then to production region
    by region."""
    b = _Builder(seed, (style,))
    b.root()
    for _ in range(3):
        b.pull(style)
        b.ci()
        b.release()
        b.gap()
    return b.history()


def full_history(*, seed: int = 14) -> History:
    """Every merge style, direct pushes, multi-region rollouts (one failed region deployment,
    retried), a bad release rolled back, a hotfix, incidents and infra automation runs."""
    b = _Builder(seed, STYLES)
    b.root()
    start = b.now
    for cycle in range(4):
        for j in range(b.rng.randint(1, 2)):
            b.pull(STYLES[(cycle + j) % 3])
        if cycle in (1, 3):
            b.direct_push()
        b.ci()
        b.release(fail_region="us-east" if cycle == 2 else None)
        b.gap()
    # A bad release: an incident soon after it reaches production, a rollback to what was live
    # before, then a hotfix straight to production, and the incident resolved.
    good = b.live["production"]
    b.pull("rebase")
    b.ci()
    b.release()
    opened = b.now + b.minutes(10, 30)
    b.now = opened + b.minutes(10, 20)
    b.rollback(good)
    b.pull("squash", labels=("hotfix",), quick=True)
    b.ci()
    b.release(staging=False)
    b.incident(opened, b.now + b.minutes(5, 15), 1)
    b.now += timedelta(hours=3)
    b.gap()
    # An incident no deployment caused or fixed, resolved within hours.
    quiet = b.now + timedelta(hours=2)
    b.incident(quiet, quiet + b.minutes(60, 180), 3)
    b.pull("merge")
    b.ci()
    b.release()
    b.infra_runs(start, b.now)
    return b.history()


CASES = {**{style: (lambda s=style: style_history(s)) for style in STYLES}, "full": full_history}
