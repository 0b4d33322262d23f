"""Per-change times kept where the reads need them (issue 18): on each change arrival, when its
change started and merged; on each change, when its first green build finished.

Lead time and the full-estate lead time need, per arrival, its change's start and merge. They
were looked up at every read (a subquery per direct push over the commits, and a join to the
changes); derivation now writes them on the arrival rows it inserts, and intake corrects them in
the same transaction whenever what they come from changes:

- a change's start is its `started_at` (derived by `derive._change_starts_update` from its
  commits' authored times), else its `created_at`; its merge is its `merged_at`;
- a direct push (an arrival with a commit sha and no change) starts at its commit's
  `authored_at` and merges at its `committed_at`; the commit is the earliest-authored stored
  commit with that sha (as the reads took it), absent: both stay empty. A recorded commit has
  the rollouts holding its sha walked again, so derivation writes those arrivals anew.

- a change's build is the first successful CI run (any repo) finished on its merge or squash
  sha; intake sets it again when the change or a run on one of those shas is recorded.

So the stored values always equal what the reads computed before, whatever order the events
came in: `arrival_times_stale()` and `change_builds_stale()` list the rows where they would
not (tests assert both are empty).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import connection
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from dora.models import Change, ChangeArrival, ChangeCommit, Commit, PipelineRun

Times = tuple[datetime | None, datetime | None]

# Every arrival's times from its change or commit, on PostgreSQL in two set-based statements
# (migration 0024 fills existing rows with them; bench/metrics.py after its COPY load).
FILL_SQL = (
    """
    UPDATE dora_changearrival a
    SET started_at = COALESCE(c.started_at, c.created_at), merged_at = c.merged_at
    FROM dora_change c
    WHERE a.change_id = c.id
    """,
    """
    UPDATE dora_changearrival a
    SET started_at = p.authored_at, merged_at = p.committed_at
    FROM (
        SELECT DISTINCT ON (sha) sha, authored_at, committed_at
        FROM dora_commit
        WHERE sha IN (SELECT commit_sha FROM dora_changearrival WHERE change_id IS NULL)
        ORDER BY sha, authored_at, id
    ) p
    WHERE a.change_id IS NULL AND a.commit_sha = p.sha
    """,
)


def change_times(change_ids: Iterable[int]) -> dict[int, Times]:
    """(start, merged) of each change by id, for the arrivals derivation is about to write."""
    ids = sorted(set(change_ids))
    if not ids:
        return {}
    return {
        pk: (start, merged)
        for pk, start, merged in Change.objects.filter(id__any=ids)
        .annotate(start=Coalesce("started_at", "created_at"))
        .values_list("id", "start", "merged_at")
        .order_by()
    }


def push_times(shas: Iterable[str]) -> dict[str, Times]:
    """(authored_at, committed_at) of the earliest-authored stored commit of each sha."""
    wanted = sorted(set(shas))
    if not wanted:
        return {}
    times: dict[str, Times] = {}
    for sha, authored, committed in (
        Commit.objects.filter(sha__any=wanted)
        .order_by("-authored_at", "-id")
        .values_list("sha", "authored_at", "committed_at")
    ):
        times[sha] = (authored, committed)  # the last one written is the earliest authored
    return times


def _push_commit(field_name: str) -> Subquery:
    commits = Commit.objects.filter(sha=OuterRef("commit_sha")).order_by("authored_at", "id")
    return Subquery(commits.values(field_name)[:1])


def _change_field(expression: object) -> Subquery:
    changes = Change.objects.filter(id=OuterRef("change_id"))
    return Subquery(changes.values(value=expression)[:1])


def arrival_times_refresh(*, change_ids: Iterable[int]) -> int:
    """Set again the times of these changes' arrivals from their change rows, in the caller's
    transaction (intake's, after its records are written and the changes' starts derived).
    Returns the rows written. (A pushed commit's arrivals need no such call: the rollouts
    holding its sha are walked again, and derivation writes their arrivals anew.)"""
    ids = sorted(set(change_ids))
    if not ids:
        return 0
    return ChangeArrival.objects.filter(change_id__any=ids).update(
        started_at=_change_field(Coalesce("started_at", "created_at")),
        merged_at=_change_field(F("merged_at")),
    )


# Every change's build time (PostgreSQL): its merge and squash shas are its ChangeCommit rows of
# those roles (migration 0025; bench/metrics.py).
BUILD_FILL_SQL = """
    UPDATE dora_change c SET build_at = b.first
    FROM (
        SELECT l.change_id, MIN(r.finished_at) AS first
        FROM dora_changecommit l JOIN dora_pipelinerun r ON r.sha = l.sha
        WHERE l.role IN ('merge', 'squash') AND l.sha <> ''
          AND r.status = 'success' AND r.finished_at IS NOT NULL
        GROUP BY l.change_id
    ) b
    WHERE c.id = b.change_id
"""


def change_facts_fill_all() -> None:
    """Every arrival's times and change's build again (PostgreSQL): for a load that bypassed
    intake and derivation."""
    with connection.cursor() as cursor:
        for statement in (*FILL_SQL, BUILD_FILL_SQL):
            cursor.execute(statement)


def arrival_times_stale(queryset: QuerySet[ChangeArrival] | None = None) -> list[tuple]:
    """Arrivals whose kept times differ from their change's or commit's (should be none)."""
    rows = (queryset if queryset is not None else ChangeArrival.objects.all()).annotate(
        start_now=Coalesce(
            _change_field(Coalesce("started_at", "created_at")), _push_commit("authored_at")
        ),
        merged_now=Coalesce(_change_field(F("merged_at")), _push_commit("committed_at")),
    )
    return [
        row
        for row in rows.values_list(
            "id", "change_id", "commit_sha", "started_at", "start_now", "merged_at", "merged_now"
        )
        if (row[3], row[5]) != (row[4], row[6])
    ]


def _first_build() -> Subquery:
    """The first successful CI run finished on the change's merge or squash sha (the change is
    the outer row)."""
    builds = PipelineRun.objects.filter(
        Q(sha=OuterRef("merge_sha")) | Q(sha=OuterRef("squash_sha")),
        status="success",
        finished_at__isnull=False,
    ).exclude(sha="")
    return Subquery(builds.order_by("finished_at").values("finished_at")[:1])


def change_builds_refresh(*, change_ids: Iterable[int] = (), run_shas: Iterable[str] = ()) -> int:
    """Set again the build time of these changes and of the changes that landed as one of these
    shas (a CI run on it was recorded or changed), in the caller's transaction."""
    ids = set(change_ids)
    shas = sorted(set(run_shas) - {""})
    if shas:
        ids |= set(
            ChangeCommit.objects.filter(
                sha__any=shas, role__in=(ChangeCommit.Role.MERGE, ChangeCommit.Role.SQUASH)
            ).values_list("change_id", flat=True)
        )
    if not ids:
        return 0
    return Change.objects.filter(id__any=sorted(ids)).update(build_at=_first_build())


def change_builds_stale() -> list[tuple]:
    """Changes whose kept build time differs from their runs' (should be none)."""
    rows = Change.objects.annotate(build_now=_first_build()).values_list(
        "repo", "number", "build_at", "build_now"
    )
    return [row for row in rows if row[2] != row[3]]
