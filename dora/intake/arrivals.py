"""Arrivals: when each change went live, on each target and on the whole estate (METRICS §4.1)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db.models import Q

from dora import bulk
from dora.intake.change_times import (
    change_times,
    push_times,
)
from dora.intake.graph import EstateReads, Pair, _pairs_from
from dora.intake.rollouts import _active_targets
from dora.models import (
    ChangeArrival,
    ChangeCommit,
    Deployment,
    Environment,
    Rollout,
    RolloutCommit,
    RolloutTarget,
    Tier,
)

# A rollout's full-estate arrival is looked for this long after it went live (METRICS §4.1):
# later deployments cannot complete it (dora.reads.selectors reads arrivals this far back).
ESTATE_DEADLINE = timedelta(days=30)


# ---------------------------------------------------------------------------------------------
# Arrivals: when each change went live, on each target and on the whole estate
# ---------------------------------------------------------------------------------------------


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
    # Each arrival keeps its change's (or pushed commit's) start and merge
    # (dora/intake/change_times).
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
