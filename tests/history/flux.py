"""A History's deployments as Flux's notification-controller sends them (generic-hmac provider).

Each deployment is one event of a Kustomization: tests/fixtures/flux/
event-kustomization-succeeded.json renamed (`<service>/<service>-staging`,
`<service>/<service>-production-<region>`), its revision `main@sha1:<sha>`, its reason
`ReconciliationSucceeded` or `HealthCheckFailed`, its timestamp the deployment's finish; a
production region rides in the Alert's eventMetadata `target` (the source's stacks: rule names
the service and environment; staging's names no target, as the history's staging deployments).

What an event carries: the object, the revision (the sha), the outcome and one time (when it
was reported). What it does not: the deployment's start (`started_at`), so its deploys are no
machine time in the value stream: the flow-efficiency ratios (FLOW_EFFICIENCY) are left out of
both sides (`without_deploy_time`); and its repository (the service's configured repository
stands for it, and no fact differs). Its ids are Flux's
(`<Kind>/<ns>/<name>@<revision>:<outcome>`, `#<timestamp>` after the object's first:
ingest.sources.flux.mapper), not the GitHub adapter's; `flux_ids` maps them one to one.
The history's rollback (its production redeploys of an earlier sha) is a deployment of its
own, as in the events path. Two consecutive deployments of one object with one sha and one
outcome would be one event to Flux (a repeat): `flux_bodies` refuses such a history.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.history.events import SOURCE as EVENTS_SOURCE
from tests.history.paths import FLUX_SOURCE
from tests.history.scenario import Deployment, History, _iso

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "flux"
# value_stream figures that count a deployment's start-to-finish as process time
# (dora/reads/value_stream.py: the deploys of the value stream's intervals need `started_at`).
FLOW_EFFICIENCY = ("flow_efficiency", "delivery_flow_efficiency", "median_item_flow_efficiency")
_REASON = {"success": "ReconciliationSucceeded", "failure": "HealthCheckFailed"}


def _name(history: History, d: Deployment) -> str:
    return f"{history.service}-{d.environment}" + (f"-{d.target}" if d.target else "")


def _event(history: History, d: Deployment) -> dict[str, Any]:
    event = json.loads((FIXTURE / "event-kustomization-succeeded.json").read_text())
    event["involvedObject"].update(namespace=history.service, name=_name(history, d))
    event["metadata"] = {"kustomize.toolkit.fluxcd.io/revision": f"main@sha1:{d.sha}"}
    if d.target:
        event["metadata"]["target"] = d.target
    event.update(
        reason=_REASON[d.state],
        severity="info" if d.state == "success" else "error",
        timestamp=_iso(d.finished_at),
    )
    return event


def _flux_id(history: History, d: Deployment, latest: dict[str, str]) -> str:
    """The id Flux's receiver gives `d`, given each object's latest id so far (updated)."""
    key = f"Kustomization/{history.service}/{_name(history, d)}"
    base = f"{key}@main@sha1:{d.sha}:{d.state}"
    before = latest.get(key)
    assert before is None or not (before == base or before.startswith(base + "#")), (
        f"deployment {d.id} repeats the one before on {key}: Flux would send one event"
    )
    latest[key] = base if before is None else f"{base}#{_iso(d.finished_at)}"
    return latest[key]


def flux_bodies(history: History) -> list[bytes]:
    """The event of each deployment, in the history's order."""
    _ = flux_ids(history)  # refuses a history Flux cannot carry
    return [json.dumps(_event(history, d)).encode() for d in history.deployments]


def flux_ids(history: History) -> dict[tuple[str, str], tuple[str, str]]:
    """(source, stored id) of each deployment as Flux's receiver records it -> as the events
    path does (tests/history/events.py)."""
    latest: dict[str, str] = {}
    return {
        (FLUX_SOURCE, f"deployment:{_flux_id(history, d, latest)}"): (
            EVENTS_SOURCE,
            f"deployment:{history.repo}:deployment:{d.id}@{history.service}",
        )
        for d in history.deployments
    }


def flux_read_back(facts: dict[str, Any], history: History) -> dict[str, Any]:
    """The facts with the deployments' source and ids read back in the events path's terms."""
    ids = flux_ids(history)
    facts = dict(facts)
    facts["deployments"] = sorted(
        ((*ids.get(row[:2], row[:2]), *row[2:]) for row in facts["deployments"]), key=repr
    )
    return facts


def without_deploy_time(metrics: dict[str, Any]) -> dict[str, Any]:
    """The figures without those that need a deployment's start (FLOW_EFFICIENCY)."""
    metrics = json.loads(json.dumps(metrics))
    for name in FLOW_EFFICIENCY:
        metrics["value_stream"].pop(name, None)
    return metrics
