"""Rollouts: deployments regrouped per (service, environment), classified and written."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Min, Q, QuerySet

from dora import bulk
from dora.intake.change_sets import RECENT_WINDOW, _change_set_walk, _Rollout, _Shipped
from dora.intake.graph import CommitGraph, EstateReads, _pairs_from
from dora.models import (
    ChangeArrival,
    Deployment,
    FailureLink,
    MissingCommit,
    Rollout,
    RolloutCommit,
    RolloutTarget,
    Service,
)


class _RestartFrom(Exception):
    def __init__(self, since: datetime) -> None:
        self.since = since


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
