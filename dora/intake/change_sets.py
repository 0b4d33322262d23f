"""Change sets: which commits each rollout shipped, walked through the commit graph (METRICS §2)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Min, Q, QuerySet

from dora.intake.graph import CommitGraph
from dora.models import (
    Deployment,
    Rollout,
    RolloutCommit,
)

# Rollouts (and commits) of this long before a replay are loaded up front: a cache bound, no
# definition rests on it.
RECENT_WINDOW = timedelta(days=30)
WALK_LIMIT = 20_000
CLOCK_SKEW = timedelta(days=1)  # how far an author's clock may run ahead of the deploy's


# ---------------------------------------------------------------------------------------------
# Rollouts and change sets
# ---------------------------------------------------------------------------------------------


@dataclass
class _Rollout:
    seq: int
    sha: str
    version: str
    config_version: str
    first_live_at: datetime
    kind: str = Rollout.Kind.CHANGE
    ship_seq: int = 0
    last_live_at: datetime | None = None
    completed_at: datetime | None = None
    targets_active: int = 0
    covered: set[int] = field(default_factory=set)
    deployment_ids: list[int] = field(default_factory=list)
    unattributed: bool = False
    commits: set[str] = field(default_factory=set)  # in the service's scope
    visited: int = 0
    missing: set[str] = field(default_factory=set)
    complete: bool = True
    pk: int | None = None

    @classmethod
    def from_row(cls, row: dict) -> _Rollout:
        return cls(
            seq=row["seq"],
            sha=row["sha"],
            version=row["version"],
            config_version=row["config_version"],
            first_live_at=row["first_live_at"],
            ship_seq=row["ship_seq"],
            pk=row["id"],
        )

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.sha, self.version, self.config_version)

    @property
    def vkey(self) -> str:
        return self.sha or self.version


_ROW = ("id", "seq", "sha", "version", "config_version", "first_live_at", "ship_seq")


class _Shipped:
    """What a pair shipped before the replay (looked up on demand) and during it (in memory).

    A change-set walk stops at commits an earlier rollout shipped and at earlier rollouts' shas
    (out-of-scope commits of a monorepo are not stored, so the shas bound those walks).
    Rollouts going live in the last RECENT_WINDOW before `since` are loaded up front,
    with their change sets; a commit authored after that window opened (give or take CLOCK_SKEW)
    cannot have been shipped or released earlier, so only older shas cost a lookup. Nothing
    loads the pair's whole history.
    """

    def __init__(self, pair: dict[str, int], since: datetime, graph: CommitGraph) -> None:
        self.graph = graph
        self.kept = Rollout.objects.filter(**pair, first_live_at__lt=since)
        self.window_start = since - RECENT_WINDOW
        recent = self.kept.filter(first_live_at__gte=self.window_start)
        self.commits: dict[str, int] = dict(
            RolloutCommit.objects.filter(rollout__in=recent).values_list("sha", "rollout__seq")
        )
        self.checked: set[str] = set()
        self.versions: dict[str, tuple[int, bool] | None] = {}
        self.latest: dict[tuple[str, str, str], _Rollout | None] = {}
        self.previous: _Rollout | None = None
        window = [_Rollout.from_row(row) for row in recent.order_by("seq").values(*_ROW)]
        by_pk = {r.pk: r for r in window}
        for rollout_id, target_id in Deployment.objects.filter(
            rollout_id__any=list(by_pk)
        ).values_list("rollout_id", "target_id"):
            by_pk[rollout_id].covered.add(target_id)
        self.window_versions: dict[str, int] = {}
        self.rollout_shas: dict[str, int] = {}
        for r in window:
            self.latest[r.key] = r
            self.window_versions.setdefault(r.vkey, r.seq)
            if r.sha:
                self.rollout_shas.setdefault(r.sha, r.seq)
        self.previous = window[-1] if window else _kept_rollout(self.kept)

    def _recent(self, sha: str) -> bool:
        """Authored after the window opened: anything that shipped it is in the window."""
        authored = self.graph.authored.get(sha)
        return authored is not None and authored > self.window_start + CLOCK_SKEW

    def walk_filter(self, shas: set[str]) -> set[str]:
        """The shas among `shas` that an earlier rollout of the pair shipped."""
        commits, rollout_shas, checked = self.commits, self.rollout_shas, self.checked
        authored, opened = self.graph.authored, self.window_start + CLOCK_SKEW
        unsure = {
            s
            for s in shas
            if s not in commits
            and s not in rollout_shas
            and s not in checked
            and not (s in authored and authored[s] > opened)  # _recent(s), inlined
        }
        if unsure:
            self._look_up(unsure)
        return {s for s in shas if s in commits or s in rollout_shas}

    def shipped_one(self, sha: str) -> bool:
        """walk_filter for one sha: whether an earlier rollout of the pair shipped it."""
        if sha in self.commits or sha in self.rollout_shas:
            return True
        if sha in self.checked or self._recent(sha):
            return False
        self._look_up({sha})
        return sha in self.commits or sha in self.rollout_shas

    def _look_up(self, unsure: set[str]) -> None:
        """Which of these older shas the kept rollouts shipped, or were deployed at."""
        self.commits.update(
            RolloutCommit.objects.filter(rollout__in=self.kept, sha__any=unsure).values_list(
                "sha", "rollout__seq"
            )
        )
        deployed = self.kept.filter(sha__any=unsure).order_by("-seq")
        for sha, seq in deployed.values_list("sha", "seq"):
            self.rollout_shas[sha] = seq  # ends on the lowest seq
        self.checked |= unsure

    def latest_of(self, key: tuple[str, str, str]) -> _Rollout | None:
        """The newest rollout of this exact (sha, version, config) so far."""
        if key not in self.latest:
            sha, version, config = key
            self.latest[key] = (
                None
                if self._recent(sha)
                else _kept_rollout(
                    self.kept.filter(sha=sha, version=version, config_version=config)
                )
            )
        return self.latest[key]

    def first(self, vkey: str) -> tuple[int, bool] | None:
        """(seq that first shipped vkey, whether a rollout deployed it as its version) or None."""
        if vkey not in self.versions:
            if self._recent(vkey):
                rollout_seq = self.window_versions.get(vkey)
                commit_seq = self.commits.get(vkey)
            else:
                rollout_seq = self.kept.filter(Q(sha=vkey) | Q(version=vkey)).aggregate(
                    m=Min("seq")
                )["m"]
                commit_seq = self.commits.get(vkey)
                if commit_seq is None and vkey not in self.checked:
                    commit_seq = self.kept.filter(commits__sha=vkey).aggregate(m=Min("seq"))["m"]
            seqs = [s for s in (rollout_seq, commit_seq) if s is not None]
            self.versions[vkey] = (min(seqs), rollout_seq == min(seqs)) if seqs else None
        return self.versions[vkey]

    def add(self, rollout: _Rollout) -> None:
        self.latest[rollout.key] = rollout
        if rollout.sha:
            self.rollout_shas.setdefault(rollout.sha, rollout.seq)
        if self.first(rollout.vkey) is None:
            self.versions[rollout.vkey] = (rollout.seq, True)
        for sha in rollout.commits:
            self.commits.setdefault(sha, rollout.seq)
            if self.versions.get(sha) is None:
                self.versions[sha] = (rollout.seq, sha == rollout.vkey)


def _change_set_walk(
    graph: CommitGraph, sha: str, shipped: _Shipped, globs: list[str], rollout: _Rollout
) -> None:
    """`git rev-list <shipped>..sha` over stored parents, level by level (one query per level)."""
    parents = graph.parents
    in_scope = graph.scope_test(globs)
    frontier = {sha}
    seen: set[str] = set()
    while frontier:
        if len(frontier) == 1:
            # A straight stretch of history, one commit per level: the same steps without
            # building sets for each level.
            (current,) = frontier
            if current not in parents:
                graph.fetch(frontier)
            if shipped.shipped_one(current):
                break
            seen.add(current)
            if current not in parents:
                rollout.missing.add(current)
                break
            rollout.visited += 1
            if in_scope(current):
                rollout.commits.add(current)
            if rollout.visited >= WALK_LIMIT:
                rollout.complete = False
                return
            frontier = {p for p in parents[current] if p not in seen}
            continue
        if not parents.keys() >= frontier:
            graph.fetch(frontier)
        frontier -= shipped.walk_filter(frontier)
        next_frontier: set[str] = set()
        for current in sorted(frontier) if len(frontier) > 1 else frontier:
            seen.add(current)
            if current not in parents:
                rollout.missing.add(current)
                continue
            rollout.visited += 1
            if in_scope(current):
                rollout.commits.add(current)
            if rollout.visited >= WALK_LIMIT:
                rollout.complete = False
                return
            next_frontier.update(parents[current])
        frontier = next_frontier - seen
    if rollout.missing:
        rollout.complete = False


def _kept_rollout(queryset: QuerySet[Rollout]) -> _Rollout | None:
    row = queryset.order_by("-seq").values(*_ROW).first()
    if row is None:
        return None
    rollout = _Rollout.from_row(row)
    rollout.covered = set(
        Deployment.objects.filter(rollout_id=rollout.pk).values_list("target_id", flat=True)
    )
    return rollout
