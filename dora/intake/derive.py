"""Derived delivery facts (METRICS.md §2–3): rollouts, change sets, arrivals and failure links.

Facts are a pure function of the stored records. Intake calls `touched_mark()` with what a batch
touched, in the batch's transaction: it records each invalidated (service, environment) and the
earliest moment the batch could have changed (a DerivePending row). `pending_derive()` then
rebuilds each pending pair from that moment onward, so late and out-of-order events correct
earlier facts, and a crash in between loses nothing. `pair_rebuild_all()`
rebuilds one pair from scratch (used by tests to prove the incremental path gives the same facts).
The facts themselves are built by dora.intake.rollouts (with dora.intake.change_sets),
dora.intake.arrivals and dora.intake.failures, over what dora.intake.graph reads once per run.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.db import InterfaceError, OperationalError, transaction
from django.db.models import Q

from dora import bulk
from dora.generation import facts_changed
from dora.intake.arrivals import arrivals_rebuild
from dora.intake.change_sets import _Rollout
from dora.intake.change_times import (
    arrival_times_refresh,
    change_builds_refresh,
)
from dora.intake.failures import (
    _BEGINNING,
    INFERENCE_WINDOW,
    REMEDIATION_WINDOW,
    _incident_linked_rollouts,
    failures_rebuild,
)
from dora.intake.graph import CommitGraph, EstateReads, Pair
from dora.intake.rollouts import _rollouts_regroup, _rollouts_write
from dora.models import (
    Change,
    ChangeCommit,
    Commit,
    Deployment,
    DerivePending,
    FailureLink,
    Incident,
    MissingCommit,
    Rollout,
    RolloutCommit,
    Tier,
)
from dora.retry import TransactionConflict, atomic_retry

log = logging.getLogger("dora.derive")  # the name its lines have always been logged under


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
    # The starts kept on these changes' arrivals follow at once (a change's start may move with
    # commits no rollout holds: a squash's branch). Pushed commits and changes' own times need
    # nothing here: the rollouts holding their shas are walked again below, and derivation
    # writes their arrivals anew (dora/intake/change_times.py).
    arrival_times_refresh(change_ids=started)
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
