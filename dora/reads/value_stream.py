"""The value stream's reads: each change's arrivals, preprod and intervals as frames."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import pandas as pd
from django.db.models import (
    Min,
    QuerySet,
    Value,
)
from django.db.models.functions import Coalesce, NullIf

from dora.lookups import Many
from dora.models import (
    Change,
    ChangeArrival,
    Deployment,
    PipelineRun,
    Tier,
)
from dora.reads.frame_io import _frame
from dora.reads.scope import Scope, _scoped, _service_q, scope_repos
from dora.reads.selectors import ESTATE_HORIZON


@dataclass(frozen=True)
class ValueStreamFrames:
    """The frames `dora.metrics.value_stream.value_stream` takes."""

    changes: pd.DataFrame
    preprod: pd.DataFrame
    intervals: pd.DataFrame


def _production_approvals(
    scope: Scope, changes: pd.DataFrame, *, since: datetime, until: datetime, approvals: bool
) -> pd.Series:
    """E9 per row of `changes`: the first approval of the rollout that first carried it.

    Of a change's arrivals in the scope's tier, those at its first arrival time (arrived_at, the
    minimum) name the rollout(s) that first carried it; the earliest approved_at among their
    deployments is the approval. Only rollouts with an approval are read, and nothing when no
    deployment carries one (`approvals` false: the common case, answered by a partial index).
    """
    if changes.empty or not approvals:
        return pd.Series(pd.NaT, index=changes.index, dtype="object")
    approved = _frame(
        _arriving(scope, since=since, until=until)
        .filter(rollout__deployments__approved_at__isnull=False)
        .values("change_id", "arrived_at")
        .annotate(approved_at=Min("rollout__deployments__approved_at"))
        .order_by(),
        {"change_id": "change_id", "first": "arrived_at", "approved_at": "approved_at"},
    )
    empty = pd.Series(pd.NaT, index=changes.index, dtype="object")
    if approved.empty or changes.empty:
        return empty
    first = approved.merge(changes[["change_id", "arrived_at"]], on="change_id")
    first = first[first["first"] == first["arrived_at"]]
    by_change = first.groupby("change_id")["approved_at"].min()
    return changes["change_id"].map(by_change)


@dataclass(frozen=True)
class ValueStreamReads:
    """What `value_stream_frames` reads besides each change's arrivals: its changes without
    arrived_at, estate_reached_at and production_approved_at; its preprod and intervals; and
    whether any deployment carries an approval (E9)."""

    changes: pd.DataFrame
    preprod: pd.DataFrame
    intervals: pd.DataFrame
    approvals: bool


def _arriving(scope: Scope, *, since: datetime, until: datetime) -> QuerySet[ChangeArrival]:
    """The value stream's changes that arrived in the scope's tier in [since - 30 d, until)."""
    return _scoped(ChangeArrival.objects.all(), scope).filter(
        change__isnull=False, arrived_at__gte=since - ESTATE_HORIZON, arrived_at__lt=until
    )


def changes_arrived(arrivals: pd.DataFrame) -> pd.DataFrame:
    """Per change (change_id) of an `arrivals_frame`: its first arrived_at and its first
    estate_reached_at, the minimum of each, nulls left out (as SQL's MIN); no direct pushes."""
    rows = arrivals.loc[arrivals["change_id"].notna(), ["arrived_at", "estate_reached_at"]]
    first = rows.groupby(arrivals["change_id"].astype("Int64")).min()
    first.index = first.index.astype("int64")
    return first.reset_index()


def value_stream_frames(
    scope: Scope,
    *,
    since: datetime,
    until: datetime,
    reads: ValueStreamReads | None = None,
    arrivals: pd.DataFrame | None = None,
) -> ValueStreamFrames:
    """Changes whose stage events may fall in [since, until), one row each.

    Changes arriving in the scope's tier in [since - 30 d, until) (their arrival and full-estate
    stages), and changes of the scope's repos merged in the window that have not arrived yet.
    build_at: first successful CI run finished on the merge (or squash) sha. preprod: first
    arrival in each environment of an earlier tier. intervals: CI runs on the merge sha and the
    deployments (with a start) of the rollouts carrying the change (machine process time).
    issue_created_at (E0): the change's. production_approved_at (E9): the earliest approved_at
    among the deployments of the rollout that first carried the change to the scope's tier
    (READINGS.md); NaT without one, and those stages are skipped.

    reads, arrivals: already read (the full report reads its frames on several connections at
    once): this scope and window's `value_stream_reads`, and its `arrivals_frame`, whose rows
    with a change are those arrivals (derived arrivals name an existing service and rollout):
    each change's first arrival is taken from it instead of read again. Not with a target: that
    frame then holds only the arrivals of rollouts that reached the target.
    """
    if reads is None:
        reads = value_stream_reads(scope, since=since, until=until)
    if arrivals is None or scope.target:
        arrived = _frame(
            _arriving(scope, since=since, until=until)
            .values("change_id")
            .annotate(
                arrived_at=Min("arrived_at"), estate_reached_at=Min("rollout__estate_reached_at")
            )
            .order_by(),
            {
                "change_id": "change_id",
                "arrived_at": "arrived_at",
                "estate_reached_at": "estate_reached_at",
            },
        )
    else:
        arrived = changes_arrived(arrivals)
    changes = reads.changes.merge(arrived, on="change_id", how="left")
    changes["production_approved_at"] = _production_approvals(
        scope, changes, since=since, until=until, approvals=reads.approvals
    )
    return ValueStreamFrames(changes=changes, preprod=reads.preprod, intervals=reads.intervals)


def value_stream_reads(scope: Scope, *, since: datetime, until: datetime) -> ValueStreamReads:
    """The reads of `value_stream_frames` that do not need each change's arrivals."""
    arriving = _arriving(scope, since=since, until=until)
    repos = scope_repos(scope)
    unarrived = Change.objects.filter(repo__in=repos, merged_at__gte=since, merged_at__lt=until)
    # A UNION, not an OR of the two conditions: with OR PostgreSQL scans every change. As an
    # array, not `id__in`: joined to the ids PostgreSQL scanned every change (65,000 of 400,000
    # on the bench estate) instead of reading them by their primary key.
    union = arriving.values_list("change_id", flat=True).union(
        unarrived.values_list("id", flat=True)
    )
    changes = _frame(
        Change.objects.filter(id__any_indexed=union),
        {
            "change_id": "id",
            # The sha the change landed as (merge or squash commit): its CI is process time.
            "landed_sha": Coalesce(NullIf("merge_sha", Value("")), "squash_sha"),
            "start": "started_at",
            "created_at": "created_at",
            "ready_at": "ready_at",
            "first_review_at": "first_review_at",
            "merged_at": "merged_at",
            "build_at": "build_at",  # kept by intake (dora/intake/change_times.py)
            "issue_created_at": "issue_created_at",
        },
    )
    ids = Many(changes["change_id"].tolist())  # long: one value for Django (lookups)
    tiers = Tier.values[: Tier.values.index(scope.tier) + 1]
    earlier_tiers = tiers[:-1]
    # Each change's arrivals up to the scope's tier, read once for both its preprod stages and
    # its deploys: each of those reads scanned the arrivals for the ids (bench/metrics.py).
    arrivals = _frame(
        ChangeArrival.objects.filter(
            _service_q(scope), change_id__any_indexed=ids, environment__tier__in=tiers
        ),
        {
            "change_id": "change_id",
            "environment": "environment__name",
            "order": "environment__order",
            "tier": "environment__tier",
            "rollout_id": "rollout_id",
            "arrived_at": "arrived_at",
        },
    )
    preprod = _preprod(arrivals[arrivals["tier"].isin(earlier_tiers)])
    shas = Many(sorted({s for s in changes["landed_sha"].tolist() if s}))
    runs = _frame(
        PipelineRun.objects.filter(sha__any_indexed=shas, finished_at__isnull=False),
        {"landed_sha": "sha", "started_at": "started_at", "finished_at": "finished_at"},
    )
    intervals = runs.merge(changes[["change_id", "landed_sha"]], on="landed_sha")[
        ["change_id", "started_at", "finished_at"]
    ]
    # Deploys are machine work on the path too (metrics-background §7.2): the target deployments,
    # with a start time, of the rollouts that carried each change up to the scope's tier. Read
    # once per rollout (a rollout carries several changes) and joined to the arrivals here.
    deployments = _frame(
        Deployment.objects.filter(
            rollout_id__any_indexed=Many(sorted(set(arrivals["rollout_id"].tolist()))),
            started_at__isnull=False,
            finished_at__isnull=False,
        ),
        {"rollout_id": "rollout_id", "started_at": "started_at", "finished_at": "finished_at"},
    )
    deploys = arrivals[["change_id", "rollout_id"]].merge(deployments, on="rollout_id")[
        ["change_id", "started_at", "finished_at"]
    ]
    if len(deploys):
        intervals = pd.concat([f for f in (intervals, deploys) if len(f)], ignore_index=True)
    approvals = Deployment.objects.filter(approved_at__isnull=False).exists()
    return ValueStreamReads(
        changes=changes, preprod=preprod, intervals=intervals, approvals=approvals
    )


def _preprod(arrivals: pd.DataFrame) -> pd.DataFrame:
    """Each change's first arrival in each environment: change_id, environment (its name), order,
    first_live_at; from change arrivals (change_id, environment, order, arrived_at)."""
    if arrivals.empty:  # typed as the columns of the rows would be
        return pd.DataFrame(
            {
                "change_id": pd.Series(dtype="int64"),
                "environment": pd.Series(dtype="str"),
                "order": pd.Series(dtype="int64"),
                "first_live_at": pd.Series(dtype="datetime64[us, UTC]"),
            }
        )
    first = arrivals.groupby(["change_id", "environment", "order"], as_index=False)["arrived_at"]
    return first.min().rename(columns={"arrived_at": "first_live_at"})


def change_links(change_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """Change id -> (`repo#number`, its provider page URL or "") for the explain lists."""
    ids = sorted({int(i) for i in change_ids})
    return {
        pk: (f"{repo}#{number}", url)
        for pk, repo, number, url in Change.objects.filter(pk__in=ids).values_list(
            "pk", "repo", "number", "url"
        )
    }
