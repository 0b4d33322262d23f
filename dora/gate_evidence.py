"""The events behind one stored gate decision, each with who sent it (RawEvent.sent_by).

A decision stores its checks' one-line details; this reads the records those checks judged, as of
the decision's moment: the service's deployments in `from` and `to`, the latest run and the
latest lag-resetting success of every automation instance there (the service's own and the infra
stacks'), and the incidents open then or marking the version's rollouts failed. Each comes with
the stored event's sender, so a surprising allow can be traced to the token or delivery that
brought its evidence (issue 13: forged or replayed evidence).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q

from dora import bulk
from dora.models import (
    AutomationRun,
    Deployment,
    Environment,
    FailureLink,
    GateDecision,
    Incident,
    RawEvent,
    Service,
)

DEPLOYMENTS_SHOWN = 40
RUNS_LOOKED_AT = 2000
LOOK_BACK = timedelta(days=90)  # older evidence than this decides nothing the checks judge


@dataclass(frozen=True)
class EvidenceItem:
    """One stored record behind a decision."""

    kind: str  # deployment | automation_run | incident
    environment: str
    target: str
    what: str  # version, action, title
    at: datetime | None
    status: str
    note: str  # why it is listed: "the requested version", "latest success", ...
    event_id: str  # the event's own id (source, type, id is its key)
    source: str
    sent_by: str


@dataclass(frozen=True)
class Evidence:
    deployments: list[EvidenceItem]
    automation: list[EvidenceItem]
    incidents: list[EvidenceItem]

    @property
    def senders(self) -> list[tuple[str, int]]:
        """Who sent the evidence, most items first."""
        counts: dict[str, int] = {}
        for item in [*self.deployments, *self.automation, *self.incidents]:
            counts[item.sent_by] = counts.get(item.sent_by, 0) + 1
        return sorted(counts.items(), key=lambda pair: (-pair[1], pair[0]))


def decision_evidence(decision: GateDecision) -> Evidence:
    """The records behind `decision`, as of its evaluation (see the module docstring)."""
    at = decision.evaluated_at
    service = Service.objects.filter(name=decision.service).first()
    envs = list(Environment.objects.filter(name__in=[decision.from_env, decision.to_env]))
    if service is None or not envs:
        return Evidence([], [], [])
    deployments = _deployments(service, envs, decision.version, at)
    automation = _automation(service, envs, at)
    incidents = _incidents(service, envs, decision.version, at)
    senders = _senders([*deployments, *automation, *incidents])
    return Evidence(
        deployments=[_item(d, senders) for d in deployments],
        automation=[_item(r, senders) for r in automation],
        incidents=[_item(i, senders) for i in incidents],
    )


# kind, environment, target, what, status, at, note, the record's external_id
Row = tuple[str, str, str, str, str, datetime | None, str, str]


def _deployments(
    service: Service, envs: list[Environment], version: str, at: datetime
) -> list[tuple[Row, str]]:
    """The deployments the version checks judged: every one of the requested version, each
    target's live (latest successful) one at the decision, and in `from` every success after
    the version first went live there (what source_current looks for)."""
    found = list(
        Deployment.objects.filter(
            service=service,
            environment__in=envs,
            finished_at__lte=at,
            finished_at__gte=at - LOOK_BACK,
        )
        .select_related("environment", "target")
        .order_by("-finished_at", "-id")[:RUNS_LOOKED_AT]
    )

    def requested(d: Deployment) -> bool:
        return bool(version) and (version == d.version or version.lower() == d.sha)

    first_live: dict[int, datetime] = {}
    for d in found:
        if requested(d) and d.status == "success":
            first_live[d.environment_id] = d.finished_at  # oldest last: the list is newest first
    live: set[int] = set()
    seen_targets: set[tuple[int, int]] = set()
    for d in found:
        if d.status == "success" and (d.environment_id, d.target_id) not in seen_targets:
            seen_targets.add((d.environment_id, d.target_id))
            live.add(d.id)
    rows = []
    for d in found:
        since = first_live.get(d.environment_id)
        later = since is not None and d.status == "success" and d.finished_at > since
        if requested(d):
            note = "the requested version" + (", live at the decision" if d.id in live else "")
        elif d.id in live:
            note = "live at the decision"
        elif later:
            note = "deployed after the requested version"
        else:
            continue
        rows.append(
            (
                (
                    "deployment",
                    d.environment.name,
                    d.target.name,
                    d.version or d.sha[:12],
                    d.status,
                    d.finished_at,
                    note,
                    d.external_id,
                ),
                d.source,
            )
        )
    return rows[:DEPLOYMENTS_SHOWN]


def _automation(service: Service, envs: list[Environment], at: datetime) -> list[tuple[Row, str]]:
    runs = (
        AutomationRun.objects.filter(environment__in=envs, finished_at__lte=at)
        .filter(Q(service=service) | Q(service__kind=Service.Kind.INFRA))
        .select_related("service", "environment", "target")
        .order_by("-finished_at", "-id")[:RUNS_LOOKED_AT]
    )
    latest: dict[tuple[int, int, int], AutomationRun] = {}
    reset: dict[tuple[int, int, int], AutomationRun] = {}
    for run in runs:
        key = (run.service_id, run.environment_id, run.target_id)
        latest.setdefault(key, run)
        if run.status == "success" and run.action != "plan":
            reset.setdefault(key, run)
    rows = []
    for key in sorted(latest, key=lambda k: (latest[k].environment.name, latest[k].service.name)):
        shown = [(latest[key], "latest run")]
        if reset.get(key) is not None and reset[key].id != latest[key].id:
            shown.append((reset[key], "latest successful apply (resets the lag)"))
        elif reset.get(key) is not None:
            shown = [(latest[key], "latest run, a successful apply (resets the lag)")]
        for run, note in shown:
            what = f"{run.service.name}: {run.action}" + (f" {run.version}" if run.version else "")
            rows.append(
                (
                    (
                        "automation_run",
                        run.environment.name,
                        run.target.name,
                        what,
                        run.status,
                        run.finished_at,
                        note,
                        run.external_id,
                    ),
                    run.source,
                )
            )
    return rows


def _incidents(
    service: Service, envs: list[Environment], version: str, at: datetime
) -> list[tuple[Row, str]]:
    open_then = Q(opened_at__lte=at) & (Q(resolved_at__isnull=True) | Q(resolved_at__gt=at))
    linked = set(
        FailureLink.objects.filter(
            rollout__service=service,
            rollout__environment__in=envs,
            incident__isnull=False,
            incident__opened_at__lte=at,
        )
        .filter(Q(rollout__version=version) | Q(rollout__sha=version.lower()))
        .values_list("incident_id", flat=True)
    )
    found = (
        Incident.objects.filter(service=service)
        .filter(Q(environment__in=envs) | Q(environment__isnull=True))
        .filter(open_then | Q(id__in=linked))
        .select_related("environment")
        .order_by("-opened_at", "-id")[:DEPLOYMENTS_SHOWN]
    )
    return [
        (
            (
                "incident",
                i.environment.name if i.environment else "(none named)",
                "",
                i.title or i.external_id.removeprefix("incident:"),
                f"{i.severity or 'no severity'}, "
                + ("open then" if i.resolved_at is None or i.resolved_at > at else "resolved"),
                i.opened_at,
                "marks the version's rollout failed" if i.id in linked else "open at the decision",
                i.external_id,
            ),
            i.source,
        )
        for i in found
    ]


def _senders(rows: Iterable[tuple[Row, str]]) -> dict[tuple[str, str, str], str]:
    keys = set()
    for row, source in rows:
        etype, _, ident = row[7].partition(":")
        keys.add((source, etype, ident))
    return {
        key: sent_by
        for key, (sent_by,) in bulk.rows_by_key(
            RawEvent, ["source", "type", "external_id"], ["sent_by"], sorted(keys)
        ).items()
    }


def _item(pair: tuple[Row, str], senders: dict[tuple[str, str, str], str]) -> EvidenceItem:
    (kind, env, target, what, status, at, note, external_id), source = pair
    etype, _, ident = external_id.partition(":")
    return EvidenceItem(
        kind=kind,
        environment=env,
        target=target,
        what=what,
        at=at,
        status=status,
        note=note,
        event_id=ident,
        source=source,
        sent_by=senders.get((source, etype, ident)) or "unknown (stored before senders were kept)",
    )
