"""Writes validated events into the record tables: one bulk upsert per type, no per-row queries."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Q

from dora.estate import EstateCache
from dora.models import (
    AutomationRun,
    Change,
    ChangeCommit,
    Commit,
    Deployment,
    Incident,
    PipelineRun,
    RawEvent,
)

if TYPE_CHECKING:
    from dora.derive import Touched
    from dora.events import Event


def raw_digests(keys: list[tuple[str, str, str]]) -> dict[tuple[str, str, str], str]:
    """Stored digests of the given (source, type, id) keys."""
    by_group: dict[tuple[str, str], list[str]] = defaultdict(list)
    for source, etype, eid in keys:
        by_group[(source, etype)].append(eid)
    found: dict[tuple[str, str, str], str] = {}
    for (source, etype), ids in by_group.items():
        for eid, digest in RawEvent.objects.filter(
            source=source, type=etype, external_id__in=ids
        ).values_list("external_id", "digest"):
            found[(source, etype, eid)] = digest
    return found


def raw_store(events: list[Event], *, now: datetime) -> None:
    RawEvent.objects.bulk_create(
        [
            RawEvent(
                source=e.source,
                type=e.type,
                external_id=e.id,
                payload=e.raw,
                digest=e.digest,
                received_at=now,
                updated_at=now,
            )
            for e in events
        ],
        update_conflicts=True,
        unique_fields=["source", "type", "external_id"],
        update_fields=["payload", "digest", "updated_at"],
    )


def records_store(events: list[Event], *, estate: EstateCache, touched: Touched) -> None:
    by_type: dict[str, list[Event]] = defaultdict(list)
    for event in events:
        by_type[event.type].append(event)
    if by_type["commit"]:
        _commits_store(by_type["commit"], touched)
    if by_type["change"]:
        _changes_store(by_type["change"], touched)
    if by_type["pipeline_run"]:
        _pipeline_runs_store(by_type["pipeline_run"])
    if by_type["deployment"]:
        _deployments_store(by_type["deployment"], estate, touched)
    if by_type["incident"]:
        _incidents_store(by_type["incident"], estate, touched)
    if by_type["automation_run"]:
        _automation_runs_store(by_type["automation_run"], estate)


def _ext(event: Event) -> str:
    return f"{event.type}:{event.id}"


def _upsert(model: type, rows: list[Any], unique: list[str]) -> None:
    update = [
        f.name
        for f in model._meta.concrete_fields
        if not f.primary_key and f.name not in unique and f.name != "rollout"
    ]
    model.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=unique, update_fields=update, batch_size=500
    )


def _commits_store(events: list[Event], touched: Touched) -> None:
    from dora.events import commit_reverted_sha

    rows = {}
    for e in events:
        f = e.fields
        rows[(f["repo"], f["sha"])] = Commit(
            source=e.source,
            external_id=_ext(e),
            repo=f["repo"],
            sha=f["sha"],
            authored_at=f["authored_at"],
            committed_at=f.get("committed_at"),
            parents=f.get("parents", []),
            author=f.get("author", ""),
            message=f.get("message", ""),
            files=f.get("files", []),
            reverts_sha=commit_reverted_sha(f.get("message", "")),
        )
    _upsert(Commit, list(rows.values()), ["repo", "sha"])
    touched.commit_shas.update(sha for _, sha in rows)


def _changes_store(events: list[Event], touched: Touched) -> None:
    rows = {}
    for e in events:
        f = e.fields
        rows[(f["repo"], f["number"])] = Change(
            source=e.source,
            external_id=_ext(e),
            repo=f["repo"],
            number=f["number"],
            title=f.get("title", "")[:500],
            author=f.get("author", ""),
            created_at=f["created_at"],
            ready_at=f.get("ready_at"),
            first_review_at=f.get("first_review_at"),
            approved_at=f.get("approved_at"),
            merged_at=f.get("merged_at"),
            closed_at=f.get("closed_at"),
            base=f.get("base", ""),
            head=f.get("head", ""),
            merge_sha=f.get("merge_sha", ""),
            squash_sha=f.get("squash_sha", ""),
            commits=f.get("commits", []),
            labels=f.get("labels", []),
        )
    keys = Q()
    for repo, number in rows:
        keys |= Q(repo=repo, number=number)
    # The shas the changes had before this update: their rollouts' arrivals must be redone too.
    old_shas = set(
        ChangeCommit.objects.filter(change__in=Change.objects.filter(keys)).values_list(
            "sha", flat=True
        )
    )
    _upsert(Change, list(rows.values()), ["repo", "number"])
    changes = list(Change.objects.filter(keys).only("id", "merge_sha", "squash_sha", "commits"))
    ChangeCommit.objects.filter(change__in=changes).delete()
    links = []
    for change in changes:
        shas = {(sha, ChangeCommit.Role.COMMIT) for sha in change.commits}
        if change.merge_sha:
            shas.add((change.merge_sha, ChangeCommit.Role.MERGE))
        if change.squash_sha:
            shas.add((change.squash_sha, ChangeCommit.Role.SQUASH))
        links += [ChangeCommit(change=change, sha=sha, role=role) for sha, role in sorted(shas)]
    ChangeCommit.objects.bulk_create(links, batch_size=1000)
    touched.change_ids.update(c.id for c in changes)
    touched.change_shas.update(old_shas | {link.sha for link in links})


def _pipeline_runs_store(events: list[Event]) -> None:
    rows = [
        PipelineRun(
            source=e.source,
            external_id=_ext(e),
            repo=e.fields["repo"],
            sha=e.fields["sha"],
            name=e.fields.get("name", ""),
            branch=e.fields.get("branch", ""),
            status=e.fields["status"],
            trigger=e.fields.get("trigger", ""),
            created_at=e.fields.get("created_at"),
            started_at=e.fields["started_at"],
            finished_at=e.fields.get("finished_at"),
            jobs=e.fields.get("jobs", []),
        )
        for e in events
    ]
    _upsert(PipelineRun, rows, ["source", "external_id"])


def _deployments_store(events: list[Event], estate: EstateCache, touched: Touched) -> None:
    ids = [_ext(e) for e in events]
    sources = {e.source for e in events}
    # Where these deployments were before: an update that moves or re-times one touches both places.
    for service_id, env_id, finished_at, live_at in Deployment.objects.filter(
        source__in=sources, external_id__in=ids
    ).values_list("service_id", "environment_id", "finished_at", "rollout__first_live_at"):
        moments = [t for t in (finished_at, live_at) if t is not None]
        if moments:  # a deployment reported `running` before has not placed anything yet
            touched.rollouts(service_id, env_id, min(moments))
    rows = []
    for e in events:
        f = e.fields
        service = estate.service(f["service"])
        env = estate.environment(f["environment"])
        target = estate.target(env, f.get("target", ""))
        rows.append(
            Deployment(
                source=e.source,
                external_id=_ext(e),
                service=service,
                environment=env,
                target=target,
                sha=f.get("sha", ""),
                version=f.get("version", ""),
                repo=f.get("repo", ""),
                status=f["status"],
                started_at=f.get("started_at"),
                finished_at=f.get("finished_at"),
                commits=f.get("commits"),
                trigger=f.get("trigger", ""),
                config_version=f.get("config_version", ""),
                remediates=f.get("remediates", ""),
                pipeline_run=f.get("pipeline_run", ""),
            )
        )
        moment = f.get("finished_at") or f.get("started_at")
        if moment is not None:
            touched.rollouts(service.id, env.id, moment)
    _upsert(Deployment, rows, ["source", "external_id"])


def _incidents_store(events: list[Event], estate: EstateCache, touched: Touched) -> None:
    rows = []
    for e in events:
        f = e.fields
        env = estate.environment(f["environment"]) if "environment" in f else None
        rows.append(
            Incident(
                source=e.source,
                external_id=_ext(e),
                service=estate.service(f["service"]),
                environment=env,
                title=f.get("title", "")[:500],
                severity=f.get("severity", ""),
                opened_at=f["opened_at"],
                impact_started_at=f.get("impact_started_at"),
                mitigated_at=f.get("mitigated_at"),
                resolved_at=f.get("resolved_at"),
                caused_by=f.get("caused_by"),
                cause=f.get("cause", ""),
            )
        )
    # Before the upsert: the places the old versions of these incidents were linked to.
    sources = {e.source for e in events}
    touched.incidents_before(
        list(Incident.objects.filter(source__in=sources, external_id__in=[_ext(e) for e in events]))
    )
    _upsert(Incident, rows, ["source", "external_id"])
    touched.incidents_after(
        list(Incident.objects.filter(source__in=sources, external_id__in=[_ext(e) for e in events]))
    )


def _automation_runs_store(events: list[Event], estate: EstateCache) -> None:
    rows = []
    for e in events:
        f = e.fields
        env = estate.environment(f["environment"])
        rows.append(
            AutomationRun(
                source=e.source,
                external_id=_ext(e),
                service=estate.service(f["service"]),
                environment=env,
                target=estate.target(env, f.get("target", "")),
                action=f["action"],
                status=f["status"],
                started_at=f.get("started_at"),
                finished_at=f["finished_at"],
                trigger=f.get("trigger", ""),
                version=f.get("version", ""),
                drift_detected=f.get("drift_detected"),
            )
        )
    _upsert(AutomationRun, rows, ["source", "external_id"])
