"""Failure links: which rollouts failed, their remediation and restoration (METRICS §3.3–3.5)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db.models import F, Q

from dora import bulk
from dora.intake.graph import CommitGraph, Pair, _pairs_from
from dora.models import (
    Change,
    ChangeArrival,
    Deployment,
    Environment,
    FailureLink,
    Incident,
    Rollout,
    RolloutCommit,
    Service,
    Tier,
)

REMEDIATION_WINDOW = timedelta(hours=72)
INFERENCE_WINDOW = timedelta(hours=24)
REWORK_LABELS = {"hotfix", "incident"}
COUNTED_KINDS = (Rollout.Kind.CHANGE, Rollout.Kind.CONFIG)
_BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


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
