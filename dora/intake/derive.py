"""Derived delivery facts (METRICS.md §2–3): rollouts, change sets, arrivals and failure links.

Facts are a pure function of the stored records. Intake calls `touched_mark()` with what a batch
touched, in the batch's transaction: it records each invalidated (service, environment) and the
earliest moment the batch could have changed (a DerivePending row). `pending_derive()` then
rebuilds each pending pair from that moment onward, so late and out-of-order events correct
earlier facts, and a crash in between loses nothing. `pair_rebuild_all()`
rebuilds one pair from scratch (used by tests to prove the incremental path gives the same facts).
"""

from __future__ import annotations

import fnmatch
import functools
import logging
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Min, Q, QuerySet

from dora import bulk
from dora.generation import facts_changed
from dora.intake.change_times import (
    arrival_times_refresh,
    change_builds_refresh,
    change_times,
    push_times,
)
from dora.models import (
    Change,
    ChangeArrival,
    ChangeCommit,
    Commit,
    Deployment,
    DerivePending,
    Environment,
    FailureLink,
    Incident,
    MissingCommit,
    Rollout,
    RolloutCommit,
    RolloutTarget,
    Service,
    Target,
    Tier,
)
from dora.retry import TransactionConflict, atomic_retry

# Rollouts (and commits) of this long before a replay are loaded up front: a cache bound, no
# definition rests on it.
RECENT_WINDOW = timedelta(days=30)
# A rollout's full-estate arrival is looked for this long after it went live (METRICS §4.1):
# later deployments cannot complete it (dora.selectors reads arrivals this far back).
ESTATE_DEADLINE = timedelta(days=30)
REMEDIATION_WINDOW = timedelta(hours=72)
INFERENCE_WINDOW = timedelta(hours=24)
WALK_LIMIT = 20_000
CLOCK_SKEW = timedelta(days=1)  # how far an author's clock may run ahead of the deploy's
REWORK_LABELS = {"hotfix", "incident"}
COUNTED_KINDS = (Rollout.Kind.CHANGE, Rollout.Kind.CONFIG)
_BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)

Pair = tuple[int, int]
log = logging.getLogger(__name__)


@dataclass
class Touched:
    """What an intake batch changed, in the terms derivation needs."""

    walk: dict[Pair, datetime] = field(default_factory=dict)  # rollouts to rebuild from
    facts: dict[Pair, datetime] = field(default_factory=dict)  # arrivals/failures from
    commit_shas: set[str] = field(default_factory=set)
    change_ids: set[int] = field(default_factory=set)
    change_shas: set[str] = field(default_factory=set)
    run_shas: set[str] = field(default_factory=set)  # CI runs recorded: their changes' builds
    incidents: list[Incident] = field(default_factory=list)

    def rollouts(self, service_id: int, environment_id: int, since: datetime) -> None:
        key = (service_id, environment_id)
        self.walk[key] = min(since, self.walk.get(key, since))

    def facts_from(self, service_id: int, environment_id: int, since: datetime) -> None:
        key = (service_id, environment_id)
        self.facts[key] = min(since, self.facts.get(key, since))

    def incidents_before(self, incidents: list[Incident]) -> None:
        """Old versions of updated incidents: the rollouts they were linked to must be redone."""
        for link in FailureLink.objects.filter(incident__any=incidents).values(
            "rollout__service_id", "rollout__environment_id", "rollout__first_live_at"
        ):
            self.facts_from(
                link["rollout__service_id"],
                link["rollout__environment_id"],
                link["rollout__first_live_at"],
            )
        self.incidents_after(incidents)

    def incidents_after(self, incidents: list[Incident]) -> None:
        self.incidents += incidents


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def touched_mark(touched: Touched) -> None:
    """Record, in the intake's transaction, which pairs a batch invalidated and from when."""
    started = _change_starts_update(touched)
    # The times kept on the arrivals of these changes and pushes follow their rows at once.
    arrival_times_refresh(change_ids=started, shas=touched.commit_shas)
    change_builds_refresh(change_ids=touched.change_ids, run_shas=touched.run_shas)
    for service_id, env_id, since in (
        MissingCommit.objects.filter(sha__any=touched.commit_shas)
        .values_list("service_id", "environment_id", "since")
        .order_by()
    ):
        touched.rollouts(service_id, env_id, since)
    # Commits that were already in a change set and changed (files, message): walk again.
    # Changes whose commit lists moved: their arrivals are redone.
    holding = _rollouts_holding(touched.commit_shas | touched.change_shas)
    for service_id, env_id, since, sha in holding:
        if sha in touched.commit_shas:
            touched.rollouts(service_id, env_id, since)
        if sha in touched.change_shas:
            touched.facts_from(service_id, env_id, since)
    _incident_places_resolve(touched)
    pairs = sorted(set(touched.walk) | set(touched.facts))
    if not pairs:
        return
    stored = {
        (p.service_id, p.environment_id): p
        for p in DerivePending.objects.filter(
            service_id__any={s for s, _ in pairs}, environment_id__any={e for _, e in pairs}
        )
    }
    rows = []
    for pair in pairs:
        walk = [
            t for t in (touched.walk.get(pair), getattr(stored.get(pair), "walk_since", None)) if t
        ]
        facts = [t for t in (touched.facts.get(pair), touched.walk.get(pair)) if t]
        if pair in stored:
            facts.append(stored[pair].facts_since)
        rows.append(
            DerivePending(
                service_id=pair[0],
                environment_id=pair[1],
                walk_since=min(walk, default=None),
                facts_since=min(facts),
            )
        )
    _pending_upsert(rows)


def _pending_upsert(rows: list[DerivePending]) -> None:
    """Mark pairs pending; a pair whose derivation had failed is tried again (new facts may
    be what it was missing, or correct what broke it)."""
    for row in rows:
        row.error, row.failed_at = "", None
    DerivePending.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["service", "environment"],
        update_fields=["walk_since", "facts_since", "error", "failed_at"],
    )


DERIVE_GROUP = 50  # pairs per transaction: their arrivals are rebuilt together


@dataclass(frozen=True)
class DerivationFailure:
    """A pair whose derivation raised: kept pending with the error, the others go on."""

    service: str
    environment: str
    error: str
    failed_at: datetime | None


def pending_derive(*, retry_failed: bool = False, now: datetime | None = None) -> int:
    """Re-derive every pending pair, DERIVE_GROUP pairs per transaction; return how many were done.

    Rows another worker holds are skipped (it is deriving them). The pairs share one commit
    graph: services of one repository walk the same history. A pair whose derivation raises
    (a fact derivation cannot handle) does not stop the others: the group is derived again
    pair by pair, each in a savepoint, and the failing pair keeps its row with the error
    (shown in the admin and /readyz) until new events touch it or `retry_failed`. Errors of
    the database itself (a deadlock, a lost connection) are not a pair's: they propagate.
    """
    graph = CommitGraph()
    pending = DerivePending.objects.select_for_update(skip_locked=True).order_by(
        "service_id", "environment_id"
    )
    if not retry_failed:
        pending = pending.filter(failed_at__isnull=True)

    def group_derive() -> int:
        group = list(pending[:DERIVE_GROUP])
        if group:
            _rows_derive(group, graph, now=now)
        return len(group)

    done = 0
    while count := atomic_retry(group_derive):
        done += count
        if retry_failed:  # one pass over the failed ones: they may fail again
            pending = pending.filter(failed_at__isnull=True)
            retry_failed = False
    return done


def pairs_pending_derive(pairs: Iterable[Pair], *, now: datetime | None = None) -> None:
    """Derive these pairs now if they are pending (not failed), waiting for a worker that is
    deriving them already: the promotion gate never decides on facts it knows are behind."""
    wanted = Q()
    for service_id, environment_id in pairs:
        wanted |= Q(service_id=service_id, environment_id=environment_id)
    graph = CommitGraph()

    def work() -> None:
        group = list(
            DerivePending.objects.select_for_update()
            .filter(wanted, failed_at__isnull=True)
            .order_by("service_id", "environment_id")
        )
        if group:
            _rows_derive(group, graph, now=now)

    atomic_retry(work)


def _rows_derive(group: list[DerivePending], graph: CommitGraph, *, now: datetime | None) -> None:
    """Derive locked pending rows together; if that raises for a pair's facts, each pair alone.
    Derived rows are deleted, failed ones keep their error."""
    try:
        with transaction.atomic():
            pairs_derive(_pending_tuples(group), graph=graph)
        done = [p.id for p in group]
    except Exception as exc:
        if not _pair_fault(exc):
            raise
        done = _pairs_derive_one_by_one(group, graph, now=now)
    DerivePending.objects.filter(id__any=done).delete()
    facts_changed()


def _pending_tuples(
    group: list[DerivePending],
) -> list[tuple[int, int, datetime | None, datetime]]:
    return [(p.service_id, p.environment_id, p.walk_since, p.facts_since) for p in group]


def _pair_fault(exc: BaseException) -> bool:
    """Whether an error is the pair's own (its facts), not the database's or the process's."""
    if isinstance(exc, OperationalError | InterfaceError | TransactionConflict):
        return False  # connection lost, deadlock, timeout: the whole group runs again
    return isinstance(exc, Exception)


def _pairs_derive_one_by_one(
    group: list[DerivePending], graph: CommitGraph, *, now: datetime | None
) -> list[int]:
    """Each pair of a group that failed as a whole, in its own savepoint; the failing ones get
    their error recorded. Returns the ids of the rows derived."""
    done = []
    for row in group:
        try:
            with transaction.atomic():
                pairs_derive(_pending_tuples([row]), graph=graph)
            done.append(row.id)
        except Exception as exc:
            if not _pair_fault(exc):
                raise
            log.exception(
                "deriving service %s in environment %s failed; the other pairs go on",
                row.service_id,
                row.environment_id,
            )
            DerivePending.objects.filter(id=row.id).update(
                error=f"{exc.__class__.__name__}: {exc}"[:2000],
                failed_at=now or datetime.now(UTC),
            )
    return done


def derivation_failures() -> list[DerivationFailure]:
    """The pairs whose derivation failed and waits (for new events, or a retry)."""
    return [
        DerivationFailure(service=s, environment=e, error=error, failed_at=failed_at)
        for s, e, error, failed_at in DerivePending.objects.filter(failed_at__isnull=False)
        .order_by("service__name", "environment__name")
        .values_list("service__name", "environment__name", "error", "failed_at")
    ]


def pairs_derive(
    pending: list[tuple[int, int, datetime | None, datetime]], *, graph: CommitGraph
) -> None:
    """Bring pairs' facts up to date: (service, environment, walk_since, facts_since) each;
    rollouts from walk_since (None: keep them), arrivals and failures from facts_since."""
    windows: list[tuple[int, int, datetime]] = []
    reads = EstateReads((s, e) for s, e, _, _ in pending)
    # Each pair's replay reads only its own rows, so the group's rollouts are written together.
    regrouped: list[tuple[int, int, datetime, list[_Rollout]]] = []
    for service_id, environment_id, walk_since, facts_since in pending:
        # Nothing is derived from before 1970 (intake refuses such times; a pair marked from
        # one by an older version starts at 1970, where date arithmetic cannot overflow).
        facts_since = max(facts_since, _BEGINNING)
        if walk_since is not None:
            walk_since = max(walk_since, _BEGINNING)
            rebuilt_from, rollouts = _rollouts_regroup(
                service_id, environment_id, walk_since, graph, reads
            )
            regrouped.append((service_id, environment_id, rebuilt_from, rollouts))
            facts_since = min(facts_since, rebuilt_from)
        windows.append((service_id, environment_id, facts_since))
    _rollouts_write(regrouped)
    arrivals_rebuild(windows, reads=reads)
    failures_rebuild([(s, e, t - REMEDIATION_WINDOW) for s, e, t in windows], graph=graph)


def pair_derive(
    service_id: int,
    environment_id: int,
    *,
    walk_since: datetime | None,
    facts_since: datetime,
    graph: CommitGraph | None = None,
) -> None:
    """Bring one pair's facts up to date: rollouts from walk_since, the rest from facts_since."""
    pairs_derive(
        [(service_id, environment_id, walk_since, facts_since)], graph=graph or CommitGraph()
    )


def pairs_mark(
    *, service_ids: Iterable[int] | None = None, environment_ids: Iterable[int] | None = None
) -> int:
    """Mark pairs with deployments for derivation from scratch: all of them, or those of the
    given services and environments (after a definition or their configuration changed)."""
    deployments = Deployment.objects.all()
    if service_ids is not None or environment_ids is not None:
        deployments = deployments.filter(
            Q(service_id__in=list(service_ids or ()))
            | Q(environment_id__in=list(environment_ids or ()))
        )
    pairs = set(deployments.values_list("service_id", "environment_id").distinct().order_by())
    rows = [
        DerivePending(service_id=s, environment_id=e, walk_since=_BEGINNING, facts_since=_BEGINNING)
        for s, e in sorted(pairs)
    ]
    _pending_upsert(rows)
    return len(rows)


def pair_rebuild_all(service_id: int, environment_id: int) -> None:
    """Rebuild one (service, environment) from scratch."""
    pair_derive(service_id, environment_id, walk_since=_BEGINNING, facts_since=_BEGINNING)


def _rollouts_holding(shas: set[str]) -> list[tuple[int, int, datetime, str]]:
    """(service, environment, first_live_at, sha) of the rollouts whose change sets hold any of
    `shas`. Mostly none (new commits): the sha index answers that alone."""
    if not shas:
        return []
    return list(
        RolloutCommit.objects.filter(sha__any=shas).values_list(
            "rollout__service_id", "rollout__environment_id", "rollout__first_live_at", "sha"
        )
    )


def _incident_places_resolve(touched: Touched) -> None:
    """An incident touches its environment (or every production environment of its service)
    from a day before it opened, and from the rollout it names, if any."""
    prod_envs: dict[int, list[int]] = {}
    for incident in touched.incidents:
        service_id = incident.service_id
        if incident.environment_id is not None:
            envs = [incident.environment_id]
        else:
            if service_id not in prod_envs:
                prod_envs[service_id] = list(
                    Rollout.objects.filter(service_id=service_id, environment__tier=Tier.PRODUCTION)
                    .values_list("environment_id", flat=True)
                    .distinct()
                    .order_by()
                )
            envs = prod_envs[service_id]
        for env in envs:
            touched.facts_from(service_id, env, incident.opened_at - INFERENCE_WINDOW)
            for rollout in _incident_linked_rollouts(incident, service_id, env):
                touched.facts_from(service_id, env, rollout.first_live_at)


def _change_starts_update(touched: Touched) -> set[int]:
    """A change starts at the earliest authored_at of its commits (METRICS §2).

    Its commits are the `commits` it lists; when none of them is stored, the commits it landed
    stand in (a rebase merge's copies keep their author times), bounded by when the change was
    opened: a landed squash or merge commit is authored at the merge, not when work began.
    """
    ids = set(touched.change_ids)
    if touched.commit_shas:
        ids |= set(
            ChangeCommit.objects.filter(
                sha__any=touched.commit_shas,
                role__in=(ChangeCommit.Role.COMMIT, ChangeCommit.Role.LANDED),
            ).values_list("change_id", flat=True)
        )
    if not ids:
        return ids
    changes = list(
        Change.objects.filter(id__any=ids).only(
            "id", "commits", "landed_commits", "created_at", "merged_at"
        )
    )
    shas = {sha for change in changes for sha in (*change.commits, *change.landed_commits)}
    authored: dict[str, datetime] = dict(
        Commit.objects.filter(sha__any=shas).values_list("sha", "authored_at")
    )
    for change in changes:
        times = [authored[sha] for sha in change.commits if sha in authored]
        if not times:
            landed = [authored[sha] for sha in change.landed_commits if sha in authored]
            times = [*landed, change.created_at] if landed else []
        start = min(times, default=change.created_at)
        if change.merged_at is not None and start > change.merged_at:
            start = change.created_at  # rewritten history: fall back to when the PR opened
        change.started_at = start
    bulk.update_by_id(Change, ["started_at"], ((c.id, c.started_at) for c in changes))
    return ids


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


class _RestartFrom(Exception):
    def __init__(self, since: datetime) -> None:
        self.since = since


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


@functools.lru_cache(maxsize=256)
def _scope_pattern(globs: tuple[str, ...]) -> re.Pattern[str]:
    """One regex for all of a service's globs, with fnmatchcase's meaning ('*' crosses '/')."""
    return re.compile("|".join(f"(?:{fnmatch.translate(glob)})" for glob in globs))


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


def _since_settle(service_id: int, env_id: int, since: datetime) -> datetime:
    """Move `since` back until no rollout starting before it has deployments after it."""
    while True:
        earlier = Deployment.objects.filter(
            service_id=service_id,
            environment_id=env_id,
            rollout__isnull=False,
            finished_at__gte=since,
        ).aggregate(m=Min("rollout__first_live_at"))["m"]
        if earlier is None or earlier >= since:
            return since
        since = earlier


def rollouts_rebuild(
    service_id: int,
    environment_id: int,
    *,
    since: datetime,
    graph: CommitGraph,
    reads: EstateReads | None = None,
) -> datetime:
    """Regroup the pair's deployments into rollouts from `since` on; return the `since` used."""
    since, rollouts = _rollouts_regroup(
        service_id, environment_id, since, graph, reads or EstateReads()
    )
    _rollouts_write([(service_id, environment_id, since, rollouts)])
    return since


def _rollouts_regroup(
    service_id: int, environment_id: int, since: datetime, graph: CommitGraph, reads: EstateReads
) -> tuple[datetime, list[_Rollout]]:
    """The pair's rollouts from `since` on, not written yet, and the `since` they start at."""
    since = _since_settle(service_id, environment_id, since)
    while True:
        try:
            return since, _rollouts_replay(service_id, environment_id, since, graph, reads)
        except _RestartFrom as restart:
            since = _since_settle(service_id, environment_id, restart.since)


def _kept_rollout(queryset: QuerySet[Rollout]) -> _Rollout | None:
    row = queryset.order_by("-seq").values(*_ROW).first()
    if row is None:
        return None
    rollout = _Rollout.from_row(row)
    rollout.covered = set(
        Deployment.objects.filter(rollout_id=rollout.pk).values_list("target_id", flat=True)
    )
    return rollout


def _rollouts_replay(
    service_id: int, env_id: int, since: datetime, graph: CommitGraph, reads: EstateReads
) -> list[_Rollout]:
    """Group the pair's successful deployments from `since` on, continuing from what is kept."""
    service = reads.service(service_id)
    pair = {"service_id": service_id, "environment_id": env_id}
    successes = Deployment.objects.filter(**pair, status="success")
    repos = set(service.repos) | set(
        successes.filter(finished_at__gte=since).exclude(repo="").values_list("repo", flat=True)
    )
    graph.prefetch(sorted(repos), since - RECENT_WINDOW)
    shipped = _Shipped(pair, since, graph)
    previous = shipped.previous
    next_seq = previous.seq + 1 if previous else 1

    # Each target's latest successful deployment before `since`: (time, key). Targets are few.
    on_target = _targets_last(successes.filter(finished_at__lt=since), reads.targets(env_id))
    configured = reads.configured(env_id)
    idle_after = reads.idle_after(env_id)

    rollouts: list[_Rollout] = []
    deployments = (
        successes.filter(finished_at__gte=since)
        .order_by("finished_at", "source", "external_id")
        .values_list(
            "id", "target_id", "finished_at", "sha", "version", "config_version", "commits"
        )
    )
    for dep_id, target_id, finished, sha, version, config, explicit in deployments:
        key = (sha, version, config)
        candidate = shipped.latest_of(key)
        last = on_target.get(target_id)
        joinable = (
            candidate is not None
            and target_id not in candidate.covered
            and (last is None or last[0] < candidate.first_live_at or last[1] == key)
        )
        if joinable and candidate.pk is not None:
            raise _RestartFrom(candidate.first_live_at)
        if joinable:
            rollout = candidate
        else:
            rollout = _Rollout(
                seq=next_seq,
                sha=sha,
                version=version,
                config_version=config,
                first_live_at=finished,
            )
            next_seq += 1
            _rollout_classify(rollout, previous, shipped, graph, service, explicit)
            shipped.add(rollout)
            rollouts.append(rollout)
            previous = rollout
        rollout.covered.add(target_id)
        rollout.deployment_ids.append(dep_id)
        rollout.last_live_at = finished
        on_target[target_id] = (finished, key)
        if rollout.completed_at is None:
            active = _active_targets(
                configured, {t: when for t, (when, _) in on_target.items()}, finished, idle_after
            )
            rollout.targets_active = len(active)
            if active <= rollout.covered:
                rollout.completed_at = finished
    return rollouts


def _targets_last(
    before: QuerySet[Deployment], targets: list[int]
) -> dict[int, tuple[datetime, tuple[str, str, str]]]:
    """Each target's latest deployment among `before`: (time, (sha, version, config)). One
    query on PostgreSQL (DISTINCT ON); one per target elsewhere."""
    on_target: dict[int, tuple[datetime, tuple[str, str, str]]] = {}
    if not targets:
        return on_target
    columns = ("target_id", "finished_at", "sha", "version", "config_version")
    order = ("-finished_at", "-source", "-external_id")
    if connection.features.can_distinct_on_fields:
        rows = list(
            before.filter(target_id__any=targets)
            .order_by("target_id", *order)
            .distinct("target_id")
            .values_list(*columns)
        )
    else:
        latest = (
            before.filter(target_id=target_id).order_by(*order).values_list(*columns).first()
            for target_id in targets
        )
        rows = [row for row in latest if row]
    for target_id, finished_at, sha, version, config in rows:
        on_target[target_id] = (finished_at, (sha, version, config))
    return on_target


def _active_targets(
    configured: set[int], last_success: dict[int, datetime], at: datetime, idle_after: timedelta
) -> set[int]:
    """Targets a rollout must reach: the environment's configured ones, for a service that deploys
    to them; otherwise those with a successful deployment of the service within the
    environment's `target_idle_after` before `at` (METRICS §2)."""
    if configured & set(last_success):
        return configured
    return {t for t, when in last_success.items() if when > at - idle_after}


def _rollout_classify(
    rollout: _Rollout,
    previous: _Rollout | None,
    shipped: _Shipped,
    graph: CommitGraph,
    service: Service,
    explicit: list[str] | None,
) -> None:
    """Kind, ship order and change set of a new rollout (METRICS §2)."""
    vkey = rollout.vkey
    if previous is not None and vkey == previous.vkey:
        same_config = rollout.config_version == previous.config_version
        rollout.kind = Rollout.Kind.REDEPLOY if same_config else Rollout.Kind.CONFIG
        rollout.ship_seq = previous.ship_seq
        return
    first = shipped.first(vkey) if previous is not None else None
    if previous is not None and first is not None:
        first_seq, deployed_as_version = first
        # Back to something shipped no later than what is live: a rollback. Forward to a version
        # shipped before (a re-release after a rollback) ships nothing new: a redeploy.
        if first_seq <= previous.ship_seq:
            rollout.kind = Rollout.Kind.ROLLBACK
            # An ancestor that was never a release holds only part of that rollout's changes.
            rollout.ship_seq = first_seq if deployed_as_version else first_seq - 1
        else:
            rollout.kind = Rollout.Kind.REDEPLOY
            rollout.ship_seq = first_seq
        return
    rollout.kind = Rollout.Kind.CHANGE
    rollout.ship_seq = rollout.seq
    rollout.unattributed = previous is None
    globs = list(service.paths)
    if explicit is not None:
        graph.fetch(set(explicit))
        already = shipped.walk_filter(set(explicit))
        in_scope = graph.scope_test(globs)
        for sha in explicit:
            if sha not in already and in_scope(sha):
                rollout.commits.add(sha)
    elif rollout.sha:
        _change_set_walk(graph, rollout.sha, shipped, globs, rollout)
    if globs and previous is not None and rollout.complete and not rollout.commits:
        # A monorepo sha whose new commits all belong to other services ships nothing of this
        # one: a redeploy of its code, not a change (it still carries everything before it).
        rollout.kind = Rollout.Kind.REDEPLOY


def _rollouts_write(regrouped: list[tuple[int, int, datetime, list[_Rollout]]]) -> None:
    """Replace pairs' rollouts from each one's `since` on (with what hangs on them) by the
    regrouped ones: one statement of each kind for all the pairs."""
    if not regrouped:
        return
    windows = [(s, e, since) for s, e, since, _ in regrouped]
    stale = list(Rollout.objects.filter(_pairs_from(windows)).values_list("id", flat=True))
    if stale:
        RolloutTarget.objects.filter(rollout_id__any=stale).delete()
        ChangeArrival.objects.filter(rollout_id__any=stale).delete()
        FailureLink.objects.filter(rollout_id__any=stale).delete()
        FailureLink.objects.filter(by_rollout_id__any=stale).delete()
        RolloutCommit.objects.filter(rollout_id__any=stale).delete()
        # Deployments the regrouped rollouts take are linked below: only the others are cleared
        # (the links are checked at commit), not each updated twice.
        relinked = [d for *_, rollouts in regrouped for r in rollouts for d in r.deployment_ids]
        Deployment.objects.filter(rollout_id__any=stale).exclude(id__any=relinked).update(
            rollout=None
        )
        # Dependents are gone: skip the deletion collector, which would look them all up again.
        doomed = Rollout.objects.filter(id__any=stale)
        doomed._raw_delete(doomed.db)
    missing_from = Q(pk__in=[])
    for service_id, env_id, since in windows:
        missing_from |= Q(service_id=service_id, environment_id=env_id, since__gte=since)
    MissingCommit.objects.filter(missing_from).delete()
    written = [(s, e, r) for s, e, _, rollouts in regrouped for r in rollouts]
    if not written:
        return

    bulk.copy_insert(
        Rollout,
        [
            "service_id",
            "environment_id",
            "seq",
            "sha",
            "version",
            "config_version",
            "kind",
            "first_live_at",
            "last_live_at",
            "completed_at",
            "targets_live",
            "targets_active",
            "unattributed",
            "change_set_complete",
            "missing_shas",
            "remediation",
            "failure",
            "restored_at",
            "ship_seq",
            "estate_reached_at",
        ],
        (
            (
                service_id,
                env_id,
                r.seq,
                r.sha,
                r.version,
                r.config_version,
                r.kind,
                r.first_live_at,
                r.last_live_at or r.first_live_at,
                r.completed_at,
                len(r.covered),
                r.targets_active,
                r.unattributed,
                r.complete,
                sorted(r.missing),
                False,
                "",
                None,
                r.ship_seq,
                None,
            )
            for service_id, env_id, r in written
        ),
    )
    new = Q(pk__in=[])
    for service_id, env_id, _, rollouts in regrouped:
        if rollouts:
            new |= Q(service_id=service_id, environment_id=env_id, seq__gte=rollouts[0].seq)
    ids = {
        (service_id, env_id, seq): pk
        for service_id, env_id, seq, pk in Rollout.objects.filter(new)
        .order_by()
        .values_list("service_id", "environment_id", "seq", "id")
    }
    bulk.copy_insert(
        RolloutCommit,
        ["rollout_id", "sha"],
        ((ids[(s, e, r.seq)], sha) for s, e, r in written for sha in sorted(r.commits)),
    )
    bulk.update_by_id(
        Deployment,
        ["rollout_id"],
        ((d, ids[(s, e, r.seq)]) for s, e, r in written for d in r.deployment_ids),
    )
    missing: dict[tuple[int, int, str], datetime] = {}
    for service_id, env_id, r in written:
        for sha in r.missing:
            missing.setdefault((service_id, env_id, sha), r.first_live_at)
    if not missing:
        return
    existing = set(
        MissingCommit.objects.filter(
            service_id__any={s for s, _, _ in missing},
            environment_id__any={e for _, e, _ in missing},
            sha__any={sha for _, _, sha in missing},
        ).values_list("service_id", "environment_id", "sha")
    )
    bulk.copy_insert(
        MissingCommit,
        ["service_id", "environment_id", "sha", "since"],
        ((*key, when) for key, when in missing.items() if key not in existing),
    )


# ---------------------------------------------------------------------------------------------
# Arrivals: when each change went live, on each target and on the whole estate
# ---------------------------------------------------------------------------------------------


def _pairs_from(windows: list[tuple[int, int, datetime]]) -> Q:
    """Rollouts of each (service, environment) that went live from its own moment on."""
    condition = Q(pk__in=[])
    for service_id, env_id, since in windows:
        condition |= Q(service_id=service_id, environment_id=env_id, first_live_at__gte=since)
    return condition


def arrivals_rebuild(
    windows: list[tuple[int, int, datetime]], *, reads: EstateReads | None = None
) -> None:
    """Rebuild change arrivals of each pair's rollouts from its `since`, and target arrivals
    still in flux. One query per step for all the pairs."""
    if not windows:
        return
    pairs = {(s, e) for s, e, _ in windows}
    rollouts = list(
        Rollout.objects.filter(_pairs_from(windows))
        .order_by("service_id", "environment_id", "seq")
        .values("id", "service_id", "environment_id", "first_live_at", "unattributed")
    )
    redo = [r["id"] for r in rollouts]
    ChangeArrival.objects.filter(rollout_id__any=redo).delete()
    in_set: dict[int, list[str]] = defaultdict(list)
    for rollout_id, sha in (
        RolloutCommit.objects.filter(rollout_id__any=redo)
        .order_by("sha")
        .values_list("rollout_id", "sha")
    ):
        in_set[rollout_id].append(sha)
    all_shas = {sha for shas in in_set.values() for sha in shas}
    changes_of: dict[str, set[int]] = defaultdict(set)
    # A sha a change landed belongs to it whatever else it says: never a direct push.
    for sha, change_id in (
        # The change sets' shas by subquery: not sent back as a parameter of 100,000 shas.
        ChangeCommit.objects.filter(
            sha__in=RolloutCommit.objects.filter(rollout_id__any=redo).values("sha")
        )
        .filter(Q(change__merged_at__isnull=False) | Q(role=ChangeCommit.Role.LANDED))
        .values_list("sha", "change_id")
        .order_by()
    ):
        changes_of[sha].add(change_id)
    # Changes that already arrived with an earlier rollout (a PR shipped in parts) keep it.
    arrived: dict[Pair, set[tuple[int | None, str]]] = defaultdict(set)
    earlier = ChangeArrival.objects.filter(
        service_id__any={s for s, _ in pairs}, environment_id__any={e for _, e in pairs}
    ).values_list("service_id", "environment_id", "change_id", "commit_sha")
    for service_id, env_id, change_id, commit_sha in [
        *earlier.filter(change_id__any={cid for ids in changes_of.values() for cid in ids}),
        *earlier.filter(commit_sha__any=all_shas - set(changes_of)),
    ]:
        if (service_id, env_id) in pairs:
            arrived[(service_id, env_id)].add((change_id, commit_sha))
    new = []
    for rollout in rollouts:
        pair = (rollout["service_id"], rollout["environment_id"])
        seen = arrived[pair]
        for sha in in_set[rollout["id"]]:
            keys = [(cid, "") for cid in sorted(changes_of[sha])] or [(None, sha)]
            for key in keys:
                if key in seen:
                    continue
                seen.add(key)
                new.append(
                    [
                        *pair,
                        key[0],
                        key[1],
                        rollout["id"],
                        rollout["first_live_at"],
                        rollout["unattributed"],
                    ]
                )
    # Each arrival keeps its change's (or pushed commit's) start and merge (dora/change_times).
    of_change = change_times(row[2] for row in new if row[2] is not None)
    of_push = push_times(row[3] for row in new if row[2] is None)
    for row in new:
        row.extend(
            of_change.get(row[2], (None, None))
            if row[2] is not None
            else of_push.get(row[3], (None, None))
        )
    bulk.copy_insert(
        ChangeArrival,
        [
            "service_id",
            "environment_id",
            "change_id",
            "commit_sha",
            "rollout_id",
            "arrived_at",
            "unattributed",
            "started_at",
            "merged_at",
        ],
        new,
    )
    production = dict(
        Environment.objects.filter(id__any={e for _, e in pairs}, tier=Tier.PRODUCTION).values_list(
            "id", "target_idle_after"
        )
    )
    reads = reads or EstateReads()
    for service_id, env_id, since in windows:
        if env_id in production:
            _target_arrivals_rebuild(
                service_id, env_id, since, production[env_id], reads.configured(env_id)
            )


def _target_arrivals_rebuild(
    service_id: int, env_id: int, since: datetime, idle_after: timedelta, configured: set[int]
) -> None:
    """Per change rollout and target: the first time the target ran a version holding its changes.

    Looked for within ESTATE_DEADLINE of the rollout going live: a rollout that has not
    reached every active target by then is incomplete, and later deployments cannot change that,
    so only rollouts from `since - ESTATE_DEADLINE` on are recomputed. The active targets are
    those with a success within `idle_after` (the environment's target_idle_after) of the moment
    judged: each rollout starts from every target's latest deployment before it went live.
    """
    pair = {"service_id": service_id, "environment_id": env_id}
    recent = Rollout.objects.filter(**pair, first_live_at__gte=since - ESTATE_DEADLINE)
    RolloutTarget.objects.filter(rollout__in=recent).delete()
    todo = list(
        recent.filter(kind=Rollout.Kind.CHANGE)
        .order_by("seq")
        .values("id", "seq", "first_live_at", "kind", "estate_reached_at")
    )
    if not todo:
        return
    horizon = todo[0]["first_live_at"] - idle_after
    deployments = list(
        Deployment.objects.filter(**pair, status="success", finished_at__gte=horizon)
        .order_by("finished_at", "source", "external_id")
        .values_list("target_id", "finished_at", "rollout__ship_seq", "rollout__seq")
    )
    reached_rows = []
    updates = []
    # Each target's latest deployment before the rollout at hand went live, swept forward once
    # (the rollouts taken in time order), so each rollout reads only up to its own deadline.
    before: dict[int, datetime] = {}
    swept = 0
    for r in sorted(todo, key=lambda r: r["first_live_at"]):
        while swept < len(deployments) and deployments[swept][1] < r["first_live_at"]:
            before[deployments[swept][0]] = deployments[swept][1]
            swept += 1
        reached: dict[int, datetime] = {}
        last_seen = dict(before)
        estate_at = None
        deadline = r["first_live_at"] + ESTATE_DEADLINE
        for target_id, finished, ship_seq, seq in deployments[swept:]:
            if finished > deadline:
                break
            last_seen[target_id] = finished
            if seq is None or seq < r["seq"]:
                continue
            if ship_seq is not None and ship_seq >= r["seq"] and target_id not in reached:
                reached[target_id] = finished
                if estate_at is None:
                    active = _active_targets(configured, last_seen, finished, idle_after)
                    if active <= set(reached):
                        estate_at = finished
        reached_rows += [(r["id"], t, when) for t, when in sorted(reached.items())]
        if estate_at != r["estate_reached_at"]:
            updates.append(Rollout(id=r["id"], estate_reached_at=estate_at))
    bulk.copy_insert(RolloutTarget, ["rollout_id", "target_id", "reached_at"], reached_rows)
    bulk.update_by_id(
        Rollout, ["estate_reached_at"], ((r.id, r.estate_reached_at) for r in updates)
    )


# ---------------------------------------------------------------------------------------------
# Failures, remediation and restoration (METRICS §3.3–3.5)
# ---------------------------------------------------------------------------------------------


def _incident_linked_rollouts(incident: Incident, service_id: int, env_id: int) -> list[Rollout]:
    """The rollouts an incident's `caused_by` names, in one environment."""
    link = incident.caused_by or {}
    base = Rollout.objects.filter(service_id=service_id, environment_id=env_id)
    if "deployment" in link:
        ext = f"deployment:{link['deployment']}"
        named = list(
            Deployment.objects.filter(
                service_id=service_id, external_id=ext, rollout__isnull=False
            ).select_related("rollout")
        )
        # Ids are namespaced by source: prefer the incident's own source.
        same = [d for d in named if d.source == incident.source] or sorted(
            named, key=lambda d: d.source
        )
        return [d.rollout for d in same[:1] if d.rollout.environment_id == env_id]
    if "version" in link or "sha" in link:
        value = link.get("version") or link.get("sha")
        matches = base.filter(Q(version=value) | Q(sha=value)).order_by("seq")
        before = [r for r in matches if r.first_live_at <= incident.opened_at]
        if before:
            return [before[-1]]
        if "sha" in link:
            holder = base.filter(commits__sha=value).order_by("seq").first()
            return [holder] if holder else []
        return list(matches[:1])
    if "change" in link:
        repo, _, number = link["change"].rpartition("#")
        arrival = (
            ChangeArrival.objects.filter(
                service_id=service_id,
                environment_id=env_id,
                change__repo=repo,
                change__number=int(number),
            )
            .select_related("rollout")
            .first()
        )
        return [arrival.rollout] if arrival else []
    return []


@dataclass
class _FailureInputs:
    """What failure derivation reads, fetched once for a group of pairs."""

    rollouts: dict[Pair, list[Rollout]]  # each pair's window, with the rollout it replaced first
    since: dict[Pair, datetime]
    labels: dict[int, set[str]]  # rollout id -> labels of the changes it carried
    reverts: dict[int, set[str]]  # rollout id -> shas its revert commits revert
    remediates: dict[int, set[str]]  # rollout id -> incident ids its deployments remediate
    incidents: dict[Pair, list[Incident]]
    services: dict[int, Service]
    environments: dict[int, Environment]


def _failure_inputs(windows: list[tuple[int, int, datetime]], graph: CommitGraph) -> _FailureInputs:
    since = {(s, e): t for s, e, t in windows}
    rollouts: dict[Pair, list[Rollout]] = defaultdict(list)
    for r in Rollout.objects.filter(_pairs_from(windows)).order_by(
        "service_id", "environment_id", "seq"
    ):
        rollouts[(r.service_id, r.environment_id)].append(r)
    # The rollout a rollback in the window replaced may have gone live long before it.
    replaced_q = Q(pk__in=[])
    for (service_id, env_id), group in rollouts.items():
        replaced_q |= Q(service_id=service_id, environment_id=env_id, seq=group[0].seq - 1)
    for r in Rollout.objects.filter(replaced_q):
        pair = (r.service_id, r.environment_id)
        rollouts[pair].insert(0, r)
        since[pair] = min(since[pair], r.first_live_at)
    ids = [r.id for group in rollouts.values() for r in group]
    FailureLink.objects.filter(rollout_id__any=ids).delete()

    labels: dict[int, set[str]] = defaultdict(set)
    carried: dict[int, list[int]] = defaultdict(list)  # change id -> rollouts that carried it
    for rollout_id, change_id in ChangeArrival.objects.filter(
        rollout_id__any=ids, change__isnull=False
    ).values_list("rollout_id", "change_id"):
        carried[change_id].append(rollout_id)
    # Most changes have no labels: read (and decode) only those that do.
    for change_id, change_labels in (
        Change.objects.filter(id__any=list(carried)).exclude(labels=[]).values_list("id", "labels")
    ):
        for rollout_id in carried[change_id]:
            labels[rollout_id] |= {label.lower() for label in change_labels or []}
    commit_reverts = graph.reverts()
    reverts: dict[int, set[str]] = defaultdict(set)
    if commit_reverts:
        for rollout_id, sha in RolloutCommit.objects.filter(
            rollout_id__any=ids, sha__any=list(commit_reverts)
        ).values_list("rollout_id", "sha"):
            reverts[rollout_id].add(commit_reverts[sha])
    remediates: dict[int, set[str]] = defaultdict(set)
    for rollout_id, incident_id in (
        Deployment.objects.filter(rollout_id__any=ids)
        .exclude(remediates="")
        .values_list("rollout_id", "remediates")
    ):
        remediates[rollout_id].add(incident_id)

    services = Service.objects.in_bulk({s for s, _ in since})
    environments = Environment.objects.in_bulk({e for _, e in since})
    # An incident cannot be caused by a rollout that went live after it opened, so older
    # incidents cannot name the rollouts from `since` on. Incidents without an environment
    # belong to every production environment of their service.
    incidents: dict[Pair, list[Incident]] = defaultdict(list)
    by_service: dict[int, list[Pair]] = defaultdict(list)
    for pair in since:
        by_service[pair[0]].append(pair)
    for incident in Incident.objects.filter(
        service_id__any=list(by_service), opened_at__gte=min(since.values(), default=_BEGINNING)
    ).order_by("opened_at", "source", "external_id"):
        for pair in by_service[incident.service_id]:
            env = environments[pair[1]]
            here = incident.environment_id == env.id or (
                incident.environment_id is None and env.tier == Tier.PRODUCTION
            )
            if here and incident.opened_at >= since[pair]:
                incidents[pair].append(incident)
    return _FailureInputs(
        rollouts, since, labels, reverts, remediates, incidents, services, environments
    )


def failures_rebuild(windows: list[tuple[int, int, datetime]], *, graph: CommitGraph) -> None:
    """Failure links, failure status, restoration and rework of each pair's rollouts from its
    `since`: the reads for all the pairs first, then each pair, then one write of each kind."""
    if not windows:
        return
    inputs = _failure_inputs(windows, graph)
    links: dict[int, list[FailureLink]] = defaultdict(list)
    for pair, rollouts in inputs.rollouts.items():
        _pair_failures_link(pair, rollouts, inputs, links)
    FailureLink.objects.bulk_create([lk for group in links.values() for lk in group])

    # A rollout whose deployment says it remediates an incident restores what that incident hit.
    linked_ids = {
        lk.incident.external_id.removeprefix("incident:")
        for group in links.values()
        for lk in group
        if lk.incident is not None
    }
    remedied: dict[Pair, dict[str, datetime]] = defaultdict(dict)
    if linked_ids:
        for service_id, env_id, incident_id, live_at in (
            Deployment.objects.filter(
                service_id__any={s for s, _ in inputs.rollouts},
                remediates__any=linked_ids,
                rollout__isnull=False,
            )
            .values_list("service_id", "environment_id", "remediates", "rollout__first_live_at")
            .order_by("rollout__first_live_at")
        ):
            remedied[(service_id, env_id)].setdefault(incident_id, live_at)
    changed = []
    for pair, rollouts in inputs.rollouts.items():
        for r in rollouts:
            group = links.get(r.id, [])
            statuses = {lk.status for lk in group}
            before = (r.failure, r.restored_at, r.remediation)
            r.failure = "confirmed" if "confirmed" in statuses else "inferred" if statuses else ""
            r.restored_at = _restored_at(group, remedied[pair]) if group else None
            r.remediation = (
                r.kind == Rollout.Kind.ROLLBACK
                or bool(inputs.labels[r.id] & REWORK_LABELS)
                or bool(inputs.remediates[r.id])
            )
            if (r.failure, r.restored_at, r.remediation) != before:
                changed.append(r)
    bulk.update_by_id(
        Rollout,
        ["failure", "restored_at", "remediation"],
        ((r.id, r.failure, r.restored_at, r.remediation) for r in changed),
    )


def _pair_failures_link(
    pair: Pair,
    rollouts: list[Rollout],
    inputs: _FailureInputs,
    links: dict[int, list[FailureLink]],
) -> None:
    """The failure links of one pair's rollouts (METRICS §3.3), added to `links`."""
    service_id, environment_id = pair
    by_id = {r.id: r for r in rollouts}
    by_seq = {r.seq: r for r in rollouts}
    labels, reverts = inputs.labels, inputs.reverts

    # The rollout that first shipped each reverted commit: one query for the pair's window.
    reverted_shas = {sha for r in rollouts for sha in reverts.get(r.id, ())}
    holder_q = Q()
    for reverted in reverted_shas:
        holder_q |= Q(commits__sha__startswith=reverted)  # revert messages may abbreviate
    holders: dict[str, Rollout] = {}
    if reverted_shas:
        shipped = (
            Rollout.objects.filter(service_id=service_id, environment_id=environment_id)
            .filter(holder_q)
            .annotate(shipped_sha=F("commits__sha"))
            .order_by("seq")
        )
        for holder in shipped:
            for reverted in reverted_shas:
                if holder.shipped_sha.startswith(reverted):
                    holders.setdefault(reverted, holder)

    def link(failed: Rollout, cause: str, status: str, **extra: object) -> None:
        if failed.id in by_id:
            links[failed.id].append(
                FailureLink(rollout=failed, cause=cause, status=status, **extra)
            )

    counted = [r for r in rollouts if r.kind in COUNTED_KINDS]
    for r in rollouts:
        if r.kind == Rollout.Kind.ROLLBACK and r.seq - 1 in by_seq:
            replaced = by_seq[r.seq - 1]
            link(
                replaced,
                FailureLink.Cause.ROLLBACK,
                "confirmed",
                by_rollout=r,
                detail=f"rolled back by {r.version or r.sha[:12]}",
            )
        for reverted in sorted(reverts.get(r.id, ())):
            holder = holders.get(reverted)
            if (
                holder
                and holder.seq < r.seq
                and r.first_live_at - holder.first_live_at <= (REMEDIATION_WINDOW)
            ):
                link(
                    by_id.get(holder.id, holder),
                    FailureLink.Cause.REVERT,
                    "confirmed",
                    by_rollout=r,
                    detail=f"revert of {reverted[:12]} shipped",
                )
        if "hotfix" in labels.get(r.id, ()):
            earlier = [
                c
                for c in counted
                if c.seq < r.seq and r.first_live_at - c.first_live_at <= REMEDIATION_WINDOW
            ]
            if earlier:
                link(
                    earlier[-1],
                    FailureLink.Cause.HOTFIX,
                    "confirmed",
                    by_rollout=r,
                    detail="a hotfix followed within 72 h",
                )

    incidents = inputs.incidents.get(pair, [])
    for incident in incidents:
        if incident.cause == "external":
            continue
        if incident.caused_by:
            for failed in _incident_linked_rollouts(incident, service_id, environment_id):
                if failed.first_live_at > incident.opened_at:
                    continue  # names a rollout that went live after it opened: not its cause
                link(
                    by_id.get(failed.id, failed),
                    FailureLink.Cause.INCIDENT,
                    "confirmed",
                    incident=incident,
                    detail=f"incident {incident.external_id} names it",
                )
    if inputs.services[service_id].infer_failures:
        for incident in incidents:
            if incident.caused_by or incident.cause == "external":
                continue
            before = [c for c in counted if c.first_live_at <= incident.opened_at]
            if before and incident.opened_at - before[-1].first_live_at <= INFERENCE_WINDOW:
                nearest = before[-1]
                if not any(lk.status == "confirmed" for lk in links[nearest.id]):
                    link(
                        nearest,
                        FailureLink.Cause.INFERRED,
                        "inferred",
                        incident=incident,
                        detail=f"incident {incident.external_id} opened within 24 h",
                    )


def _restored_at(group: list[FailureLink], remedied: dict[str, datetime]) -> datetime | None:
    """First present of: incident mitigated_at; the remediation rollout going live; resolved_at."""
    incidents = [lk.incident for lk in group if lk.incident is not None]
    mitigated = [i.mitigated_at for i in incidents if i.mitigated_at]
    if mitigated:
        return min(mitigated)
    remedies = [lk.by_rollout.first_live_at for lk in group if lk.by_rollout is not None]
    remedies += [
        remedied[key]
        for key in (i.external_id.removeprefix("incident:") for i in incidents)
        if key in remedied
    ]
    if remedies:
        return min(remedies)
    resolved = [i.resolved_at for i in incidents if i.resolved_at]
    return min(resolved) if resolved else None
