"""Writes validated events into the record tables: one bulk upsert per type, no per-row queries."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from dora import bulk
from dora.estate import EstateCache, FirstEvent
from dora.instances import automation_instances_refresh
from dora.intake.event_base import SERVICE_TYPES, Event, commit_reverted_sha
from dora.models import (
    AutomationRun,
    Change,
    ChangeCommit,
    Commit,
    Deployment,
    Incident,
    OutOfBandChange,
    PipelineRun,
    RawEvent,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from dora.intake.derive import Touched

Row = tuple[Any, ...]


RawKey = tuple[str, str, str]

# An arriving version replaces the stored one when its content differs, unless both say when
# their source last changed them and the stored one is the later (CONTRACT §1): a replayed or
# out-of-order delivery never moves a record backwards. Evaluated by ON CONFLICT on the row
# it locks, so two requests racing on one event agree on which version won.
_RAW_APPLIES = (
    "{t}.digest <> EXCLUDED.digest AND ({t}.source_updated_at IS NULL "
    "OR EXCLUDED.source_updated_at IS NULL "
    "OR EXCLUDED.source_updated_at >= {t}.source_updated_at)"
)
_RAW_COLUMNS = [
    "source",
    "type",
    "external_id",
    "payload",
    "digest",
    "received_at",
    "updated_at",
    "source_updated_at",
    "sent_by",
]
_RAW_UPDATE = ["payload", "digest", "updated_at", "source_updated_at", "sent_by"]


def raw_store(events: list[Event], *, now: datetime, sent_by: str = "") -> dict[RawKey, str]:
    """Store the raw events that are new, or changed and not older than the stored version.

    Keys must not repeat. Returns, by (source, type, id), "created" or "updated" for the events
    stored, "unchanged" for those whose stored version is the same, "stale" for those the
    stored version supersedes. The statuses come from the statement that wrote the rows, so
    concurrent requests sending one event agree: one of them created it.
    """
    if not events:
        return {}
    rows = sorted(
        (
            e.source,
            e.type,
            e.id,
            bulk.JsonText(e.canonical),
            e.digest,
            now,
            now,
            e.source_time,
            sent_by[:200],
        )
        for e in events
    )
    applied = bulk.upsert_applied(
        RawEvent,
        _RAW_COLUMNS,
        rows,
        unique=["source", "type", "external_id"],
        update=_RAW_UPDATE,
        applies=_RAW_APPLIES,
    )
    statuses: dict[RawKey, str] = {
        key: "created" if inserted else "updated" for key, inserted in applied.items()
    }
    kept = [e for e in events if e.key not in statuses]
    if kept:
        digests = dict(
            bulk.rows_by_key(
                RawEvent, ["source", "type", "external_id"], ["digest"], [e.key for e in kept]
            )
        )
        for e in kept:
            stored = digests.get(e.key)
            statuses[e.key] = "unchanged" if stored == (e.digest,) else "stale"
    return statuses


def records_store(
    events: list[Event],
    *,
    estate: EstateCache,
    touched: Touched,
    now: datetime | None = None,
    sent_by: str = "",
) -> None:
    by_type: dict[str, list[Event]] = defaultdict(list)
    first_events: dict[str, FirstEvent] = {}
    for event in events:
        by_type[event.type].append(event)
        name = event.fields.get("service") if event.type in SERVICE_TYPES else None
        if name is not None and name not in first_events and now is not None:
            first_events[name] = FirstEvent(now, event.type, ":".join(event.key), sent_by)
    placed = [e.fields for t in SERVICE_TYPES for e in by_type[t]]
    estate.prepare(
        first_events=first_events,
        services={f["service"] for f in placed},
        environments={f["environment"] for f in placed if "environment" in f},
        targets={
            (f["environment"], f.get("target", ""))
            for t in ("deployment", "automation_run", "out_of_band_change")
            for f in (e.fields for e in by_type[t])
        },
    )
    if by_type["commit"]:
        _commits_store(by_type["commit"], touched)
    if by_type["change"]:
        _changes_store(by_type["change"], touched)
    if by_type["pipeline_run"]:
        _pipeline_runs_store(by_type["pipeline_run"], touched)
    if by_type["deployment"]:
        _deployments_store(by_type["deployment"], estate, touched)
    if by_type["incident"]:
        _incidents_store(by_type["incident"], estate, touched)
    if by_type["automation_run"]:
        _automation_runs_store(by_type["automation_run"], estate)
        _applies_store(by_type["automation_run"], estate, touched)
    if by_type["out_of_band_change"]:
        _out_of_band_changes_store(by_type["out_of_band_change"], estate)


def _ext(event: Event) -> str:
    return f"{event.type}:{event.id}"


# Each record's column lists name every column of its model but id (and Deployment.rollout_id):
# bulk.upsert overwrites all but the unique ones, so an update stores what an insert would.
_COMMIT_COLUMNS = [
    "source",
    "external_id",
    "repo",
    "sha",
    "authored_at",
    "committed_at",
    "parents",
    "author",
    "message",
    "files",
    "reverts_sha",
]


def _commits_store(events: list[Event], touched: Touched) -> None:
    rows: dict[tuple[str, str], Row] = {}
    for e in events:
        f = e.fields
        message = f.get("message", "")
        rows[(f["repo"], f["sha"])] = (
            e.source,
            _ext(e),
            f["repo"],
            f["sha"],
            f["authored_at"],
            f.get("committed_at"),
            f.get("parents", []),
            f.get("author", ""),
            message,
            f.get("files", []),
            commit_reverted_sha(message),
        )
    bulk.upsert(Commit, _COMMIT_COLUMNS, rows.values(), unique=["repo", "sha"])
    touched.commit_shas.update(sha for _, sha in rows)


_CHANGE_COLUMNS = [
    "source",
    "external_id",
    "repo",
    "number",
    "title",
    "author",
    "created_at",
    "ready_at",
    "first_review_at",
    "approved_at",
    "merged_at",
    "closed_at",
    "base",
    "head",
    "merge_sha",
    "squash_sha",
    "commits",
    "landed_commits",
    "labels",
    "issue",
    "issue_created_at",
    "started_at",
    "url",
]


def _changes_store(events: list[Event], touched: Touched) -> None:
    rows: dict[tuple[str, int], Row] = {}
    links_of: dict[tuple[str, int], list[tuple[str, str]]] = {}
    for e in events:
        f = e.fields
        key = (f["repo"], f["number"])
        merge_sha, squash_sha = f.get("merge_sha", ""), f.get("squash_sha", "")
        commits = f.get("commits", [])
        landed = f.get("landed_commits", [])
        rows[key] = (
            e.source,
            _ext(e),
            f["repo"],
            f["number"],
            f.get("title", "")[:500],
            f.get("author", ""),
            f["created_at"],
            f.get("ready_at"),
            f.get("first_review_at"),
            f.get("approved_at"),
            f.get("merged_at"),
            f.get("closed_at"),
            f.get("base", ""),
            f.get("head", ""),
            merge_sha,
            squash_sha,
            commits,
            landed,
            f.get("labels", []),
            f.get("issue", ""),
            f.get("issue_created_at"),
            None,  # started_at: derived from the commits by touched_mark, reset like the rest
            f.get("url", ""),
        )
        shas = {(sha, ChangeCommit.Role.COMMIT) for sha in commits}
        if merge_sha:
            shas.add((merge_sha, ChangeCommit.Role.MERGE))
        if squash_sha:
            shas.add((squash_sha, ChangeCommit.Role.SQUASH))
        shas |= {(sha, ChangeCommit.Role.LANDED) for sha in landed}
        links_of[key] = sorted(shas)
    ids = {
        (repo, number): pk
        for pk, repo, number in bulk.upsert(
            Change,
            _CHANGE_COLUMNS,
            rows.values(),
            unique=["repo", "number"],
            returning=["id", "repo", "number"],
        )
    }
    # The shas the changes had before this update (the upsert leaves their links alone): their
    # rollouts' arrivals must be redone too.
    old_links = ChangeCommit.objects.filter(change_id__any=list(ids.values()))
    old_shas = set(old_links.values_list("sha", flat=True))
    old_links.delete()
    links = [(ids[key], sha, role) for key, shas in links_of.items() for sha, role in shas]
    bulk.copy_insert(ChangeCommit, ["change_id", "sha", "role"], links)
    touched.change_ids.update(ids.values())
    touched.change_shas.update(old_shas | {sha for _, sha, _ in links})


_PIPELINE_RUN_COLUMNS = [
    "source",
    "external_id",
    "repo",
    "sha",
    "name",
    "branch",
    "status",
    "trigger",
    "created_at",
    "started_at",
    "finished_at",
    "jobs",
]


def _pipeline_runs_store(events: list[Event], touched: Touched) -> None:
    # The shas these runs had before (an update may move a run to another sha) and have now:
    # the changes that landed as them get their build time again (dora/intake/change_times.py).
    before = PipelineRun.objects.filter(
        source__any=sorted({e.source for e in events}), external_id__any=[_ext(e) for e in events]
    ).values_list("source", "external_id", "sha")
    keys = {(e.source, _ext(e)) for e in events}
    touched.run_shas.update(sha for source, ext, sha in before if (source, ext) in keys)
    touched.run_shas.update(e.fields["sha"] for e in events)
    rows = [
        (
            e.source,
            _ext(e),
            e.fields["repo"],
            e.fields["sha"],
            e.fields.get("name", ""),
            e.fields.get("branch", ""),
            e.fields["status"],
            e.fields.get("trigger", ""),
            e.fields.get("created_at"),
            e.fields["started_at"],
            e.fields.get("finished_at"),
            e.fields.get("jobs", []),
        )
        for e in events
    ]
    bulk.upsert(PipelineRun, _PIPELINE_RUN_COLUMNS, rows, unique=["source", "external_id"])


# Not rollout_id: derivation sets it, and an update of the deployment must not clear it.
_DEPLOYMENT_COLUMNS = [
    "source",
    "external_id",
    "service_id",
    "environment_id",
    "target_id",
    "sha",
    "version",
    "repo",
    "status",
    "started_at",
    "finished_at",
    "commits",
    "trigger",
    "config_version",
    "remediates",
    "pipeline_run",
    "approved_at",
    "approved_by",
]


def _deployments_touch_before(sources: set[str], ids: list[str], touched: Touched) -> None:
    """Where these stored deployments are now: an update that moves, re-times or removes one
    touches the place it leaves."""
    for service_id, env_id, finished_at, live_at in Deployment.objects.filter(
        source__in=sources, external_id__any=ids
    ).values_list("service_id", "environment_id", "finished_at", "rollout__first_live_at"):
        moments = [t for t in (finished_at, live_at) if t is not None]
        if moments:  # a deployment reported `running` before has not placed anything yet
            touched.rollouts(service_id, env_id, min(moments))


def _deployments_store(
    events: list[Event],
    estate: EstateCache,
    touched: Touched,
    *,
    ext: Callable[[Event], str] = _ext,
) -> None:
    _deployments_touch_before({e.source for e in events}, [ext(e) for e in events], touched)
    rows = []
    for e in events:
        f = e.fields
        service = estate.service(f["service"])
        env = estate.environment(f["environment"])
        target = estate.target(env, f.get("target", ""))
        rows.append(
            (
                e.source,
                ext(e),
                service.id,
                env.id,
                target.id,
                f.get("sha", ""),
                f.get("version", ""),
                f.get("repo", ""),
                f["status"],
                f.get("started_at"),
                f.get("finished_at"),
                f.get("commits"),
                f.get("trigger", ""),
                f.get("config_version", ""),
                f.get("remediates", ""),
                f.get("pipeline_run", ""),
                f.get("approved_at"),
                f.get("approved_by", ""),
            )
        )
        moment = f.get("finished_at") or f.get("started_at")
        if moment is not None:
            touched.rollouts(service.id, env.id, moment)
    bulk.upsert(Deployment, _DEPLOYMENT_COLUMNS, rows, unique=["source", "external_id"])


_INCIDENT_COLUMNS = [
    "source",
    "external_id",
    "service_id",
    "environment_id",
    "title",
    "severity",
    "opened_at",
    "impact_started_at",
    "mitigated_at",
    "resolved_at",
    "caused_by",
    "cause",
]


def _incidents_store(events: list[Event], estate: EstateCache, touched: Touched) -> None:
    rows = []
    for e in events:
        f = e.fields
        env = estate.environment(f["environment"]) if "environment" in f else None
        rows.append(
            (
                e.source,
                _ext(e),
                estate.service(f["service"]).id,
                env.id if env is not None else None,
                f.get("title", "")[:500],
                f.get("severity", ""),
                f["opened_at"],
                f.get("impact_started_at"),
                f.get("mitigated_at"),
                f.get("resolved_at"),
                f.get("caused_by"),
                f.get("cause", ""),
            )
        )
    # Before the upsert: the places the old versions of these incidents were linked to.
    stored = Incident.objects.filter(
        source__in={e.source for e in events}, external_id__any=[_ext(e) for e in events]
    )
    touched.incidents_before(list(stored))
    bulk.upsert(Incident, _INCIDENT_COLUMNS, rows, unique=["source", "external_id"])
    touched.incidents_after(list(stored.all()))


_AUTOMATION_RUN_COLUMNS = [
    "source",
    "external_id",
    "service_id",
    "environment_id",
    "target_id",
    "action",
    "status",
    "started_at",
    "finished_at",
    "trigger",
    "version",
    "drift_detected",
]


def _automation_runs_store(events: list[Event], estate: EstateCache) -> None:
    # Instances these runs belonged to before (a re-sent run may name another target) and after
    # are recomputed from their runs (dora.instances), in this transaction.
    keys = set(
        AutomationRun.objects.filter(
            source__in={e.source for e in events}, external_id__any=[_ext(e) for e in events]
        ).values_list("service_id", "environment_id", "target_id")
    )
    rows = []
    for e in events:
        f = e.fields
        env = estate.environment(f["environment"])
        rows.append(
            (
                e.source,
                _ext(e),
                estate.service(f["service"]).id,
                env.id,
                estate.target(env, f.get("target", "")).id,
                f["action"],
                f["status"],
                f.get("started_at"),
                f["finished_at"],
                f.get("trigger", ""),
                f.get("version", ""),
                f.get("drift_detected"),
            )
        )
    bulk.upsert(AutomationRun, _AUTOMATION_RUN_COLUMNS, rows, unique=["source", "external_id"])
    keys.update((row[2], row[3], row[4]) for row in rows)
    automation_instances_refresh(keys)


# An apply that names what it applied (a version or a sha) is also the stack's deployment of it
# (METRICS §2: infrastructure changes get the same metrics), kept as a Deployment row beside the
# run: rollouts, lead time, failures and rework then exist for an infra stack fed by Terraform,
# Spacelift or Atlantis runs alone, as for an app. Its key is `automation_run:<run id>`, a prefix
# no deployment event's key has (those are `deployment:<id>`).
APPLY_TRIGGERS = {"schedule": "automated", "change": "automated", "manual": "manual"}
_APPLY_FIELDS = (
    "service", "environment", "target", "sha", "version", "repo", "status", "started_at",
    "finished_at",
)  # fmt: skip


def _apply_ext(event: Event) -> str:
    return f"automation_run:{event.id}"


def apply_deployment(event: Event) -> Event | None:
    """The deployment an automation run stands for, or None (not an apply, or it names no
    version or sha)."""
    f = event.fields
    if f["action"] != "apply" or not (f.get("version") or f.get("sha")):
        return None
    fields = {name: f[name] for name in _APPLY_FIELDS if name in f}
    if "trigger" in f:
        fields["trigger"] = APPLY_TRIGGERS[f["trigger"]]
    return replace(event, type="deployment", fields=fields)


def _applies_store(events: list[Event], estate: EstateCache, touched: Touched) -> None:
    """Each apply's deployment stored; a run re-sent as no longer one (a plan now, or without
    its version) loses the deployment it had."""
    deployments, dropped = [], []
    for event in events:
        deployment = apply_deployment(event)
        if deployment is None:
            dropped.append(event)
        else:
            deployments.append(deployment)
    if deployments:
        _deployments_store(deployments, estate, touched, ext=_apply_ext)
    if dropped:
        sources, ids = {e.source for e in dropped}, [_apply_ext(e) for e in dropped]
        _deployments_touch_before(sources, ids, touched)
        Deployment.objects.filter(source__in=sources, external_id__any=ids).delete()


_OUT_OF_BAND_COLUMNS = [
    "source",
    "external_id",
    "service_id",
    "environment_id",
    "target_id",
    "changed_at",
    "actor",
    "what",
    "resources",
]


def _out_of_band_changes_store(events: list[Event], estate: EstateCache) -> None:
    # Nothing is derived from them at intake: pages, figures and the gate read them with the
    # applies and deployments after them (dora.out_of_band).
    rows = []
    for e in events:
        f = e.fields
        env = estate.environment(f["environment"])
        rows.append(
            (
                e.source,
                _ext(e),
                estate.service(f["service"]).id,
                env.id,
                estate.target(env, f.get("target", "")).id,
                f["changed_at"],
                f["actor"],
                f["what"],
                f.get("resources", []),
            )
        )
    bulk.upsert(OutOfBandChange, _OUT_OF_BAND_COLUMNS, rows, unique=["source", "external_id"])
