"""A History's deployments as Argo CD's notifications send them (docs/argocd's template body).

Each deployment is one sync operation of an Application: tests/fixtures/argocd/
application-guestbook-synced.json renamed (`shop-staging`, `shop-production-<region>`), its
destination, source repository, revision, phase and times changed, rendered through the
template (tests/argocd_template.py) as Argo CD's notifications controller renders it.

What a sync carries: the revision (the sha), the repository, the phase (Succeeded / Failed),
the operation's start and finish, the Application and its destination. What it does not: a
deployment to an environment as a whole. An Application always names a destination cluster, and
a sync without a `stacks:` target is recorded on the cluster's target: the history's staging
deployments (no target) land on `kubernetes.default.svc` (STAGING_CLUSTER). Its ids are Argo
CD's (`<namespace>/<application>@<startedAt>`), not the GitHub adapter's the events path uses.
`argocd_ids` maps them one to one, so the comparison reads both back in the events path's terms.
It also says what the events path does not: `trigger: automated` (initiatedBy), which no fact
or figure the harness compares reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.argocd_template import render, template_body
from tests.history.events import SOURCE as EVENTS_SOURCE
from tests.history.paths import ARGOCD_SOURCE
from tests.history.scenario import Deployment, History, _iso

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "argocd"
STAGING_CLUSTER = "kubernetes.default.svc"  # the fixture's server: in-cluster
NO_TARGET = ""  # a deployment to an environment as a whole, in the facts and figures
_PHASE = {"success": "Succeeded", "failure": "Failed"}


def _application(history: History, d: Deployment) -> dict[str, Any]:
    app = json.loads((FIXTURE / "application-guestbook-synced.json").read_text())
    app["metadata"]["name"] = _name(history, d)
    destination = app["spec"]["destination"]
    destination["namespace"] = history.service
    if d.target:  # a production region: a cluster of its own, named for it
        destination.pop("server")
        destination["name"] = d.target
    repo_url = f"https://github.com/{history.repo}.git"
    app["spec"]["source"].update(repoURL=repo_url, path="deploy")
    state = app["status"]["operationState"]
    state.update(
        phase=_PHASE[d.state], startedAt=_iso(d.created_at), finishedAt=_iso(d.finished_at)
    )
    state["operation"]["sync"]["revision"] = d.sha
    state["syncResult"].update(revision=d.sha)
    state["syncResult"]["source"].update(repoURL=repo_url, path="deploy")
    app["status"]["sync"]["revision"] = d.sha
    return app


def _name(history: History, d: Deployment) -> str:
    return f"{history.service}-{d.environment}" + (f"-{d.target}" if d.target else "")


def argocd_bodies(history: History) -> list[bytes]:
    """The rendered template body of each deployment, in the history's order."""
    body = template_body()
    return [render(body, {"app": _application(history, d)}).encode() for d in history.deployments]


def argocd_ids(history: History) -> dict[tuple[str, str], tuple[str, str]]:
    """(source, stored id) of each deployment as Argo CD records it -> as the events path does
    (tests/history/events.py); a deployment is stored as `deployment:<its event id>`."""
    return {
        (ARGOCD_SOURCE, f"deployment:argocd/{_name(history, d)}@{_iso(d.created_at)}"): (
            EVENTS_SOURCE,
            f"deployment:{history.repo}:deployment:{d.id}@{history.service}",
        )
        for d in history.deployments
    }


def argocd_read_back(
    facts: dict[str, Any], metrics: dict[str, Any], history: History
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The facts and figures with exactly what Argo CD records differently read back in the
    events path's terms: the deployments' source and ids (argocd_ids), and staging's in-cluster
    target as no target, in the targets reached and in the automation lag's instances."""
    ids = argocd_ids(history)
    facts = dict(facts)
    facts["deployments"] = sorted(
        ((*ids.get(row[:2], row[:2]), *row[2:]) for row in facts["deployments"]), key=repr
    )
    facts["reached"] = sorted(
        (
            (*row[:3], NO_TARGET, *row[4:])
            if row[1] == "staging" and row[3] == STAGING_CLUSTER
            else row
            for row in facts["reached"]
        ),
        key=repr,
    )
    metrics = json.loads(json.dumps(metrics))
    for instance in metrics["automation_lag"]["instances"]:
        if instance["environment"] == "staging" and instance["target"] == STAGING_CLUSTER:
            instance["target"] = NO_TARGET
    return facts, metrics
