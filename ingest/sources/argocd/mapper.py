"""Argo CD notifications -> CONTRACT §1 `deployment` events (pure: no database, no clock).

Argo CD's notifications controller posts whatever a template renders
(argo-cd.readthedocs.io/en/stable/operator-manual/notifications/services/webhook/). Three
shapes are read, each item of a JSON list alike:
- the body of docs/argocd's `template.dora-deployment`: a CONTRACT §1 deployment with an
  `argocd` object (application, namespace, project, server, cluster, destination_namespace,
  phase, revision, operation_revision, repo_url, chart) that the mapping below reads;
- an Application object, as `{"app": {...}}` (a template `{"app": {{toJson .app}}}`) or bare:
  `metadata.name`, `spec.destination`, `status.operationState` (`phase`, `startedAt`,
  `finishedAt`, `syncResult.revision`, `operation.sync.revision`, `operation.initiatedBy`).

Fields (CONTRACT §1 `deployment`):
- `id`: `<application namespace>/<application>@<operationState.startedAt>`: one sync operation
  is one deployment, so the on-deployed and on-sync-succeeded notifications of an operation, a
  retried delivery and the raw-object variant of it all land on one event. Without startedAt:
  `...@<revision>@<finishedAt>`.
- `service`, `environment`, `target`: the source's first `stacks:` rule (ingest.sources.stacks)
  whose `match` matches the application name and whose `destination`, when it has one,
  matches a destination key `<cluster>/<namespace>` (cluster: `destination.name`, then
  `destination.server`: `prod-eu/shop`, `https://10.0.0.1:6443/shop`). Without a matching
  rule: the body's own `service` / `environment` / `target`, else the application name
  (DORA_UNKNOWN_SERVICES then decides) / the destination namespace / the cluster (its name,
  else the server's host); a rule without `target` leaves the target to the same fallbacks.
- `sha`: the sync revision when it is a full git sha (40 or 64 hex digits), else `version`
  (a Helm chart version such as `1.2.3`). `syncResult.revision` first, else the operation's
  requested `sync.revision` (a failed sync may have no result).
- `status`: phase `Succeeded` -> success, `Failed`/`Error` -> failure, `Running` -> running;
  a body's own `status` wins. `Terminating` is skipped (its outcome comes later).
- `started_at` / `finished_at`: the operation's times; `trigger`: `automated` when
  `initiatedBy.automated`, `manual` when a user started it. `repo`: the Git source's
  `owner/name` (URL path without `.git`); none for a Helm repository source.
Go templates print `<no value>` for a missing key: read as absent everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from ingest.sources.mapping import Mapped, Skipped, clean, utc_text
from ingest.sources.stacks import StackRule, stack_place

DEFAULT_SOURCE = "argocd"
NO_VALUE = "<no value>"  # Go's text/template for a missing map key
_FULL_SHA = re.compile(r"^(?:[0-9a-fA-F]{40}|[0-9a-fA-F]{64})$")
_PHASE_STATUS = {
    "Succeeded": "success",
    "Failed": "failure",
    "Error": "failure",
    "Running": "running",
}
_STATUSES = ("success", "failure", "cancelled", "running")


@dataclass(frozen=True)
class ArgoCdMapping:
    """The source's configuration: its name and `stacks:` rules (first match wins)."""

    source: str = DEFAULT_SOURCE
    rules: tuple[StackRule, ...] = ()


@dataclass(frozen=True)
class ArgoSync:
    """One sync operation, as any of the shapes tells it (absent: None)."""

    application: str | None
    namespace: str | None = None  # the Application's own namespace
    server: str | None = None
    cluster: str | None = None  # destination.name
    destination_namespace: str | None = None
    phase: str | None = None
    revision: str | None = None
    started_at: str | None = None
    finished_at: str | None = None
    repo_url: str | None = None
    trigger: str | None = None
    given: Mapping[str, Any] = field(default_factory=dict)  # the body's own deployment fields


def given(value: Any) -> Any:
    """A rendered value as absent (None) when it is missing, empty or Go's `<no value>`."""
    if isinstance(value, str):
        text = value.strip()
        return None if not text or text == NO_VALUE else text
    return value


def _at(obj: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(obj, Mapping):
            return None
        obj = obj.get(key)
    return given(obj)


def _trigger(initiated_by: Any) -> str | None:
    if not isinstance(initiated_by, Mapping):
        return None
    if initiated_by.get("automated") is True:
        return "automated"
    return "manual" if given(initiated_by.get("username")) else None


def sync_from_app(app: Mapping[str, Any]) -> ArgoSync:
    """An Application object's last operation."""
    state = _at(app, "status", "operationState") or {}
    result = state.get("syncResult") if isinstance(state, Mapping) else None
    revision = _at(result, "revision")
    if revision is None and isinstance(_at(result, "revisions"), list):
        revision = next((given(r) for r in result["revisions"] if given(r)), None)  # type: ignore[index]
    source = _at(app, "spec", "source") or {}
    return ArgoSync(
        application=_at(app, "metadata", "name"),
        namespace=_at(app, "metadata", "namespace"),
        server=_at(app, "spec", "destination", "server"),
        cluster=_at(app, "spec", "destination", "name"),
        destination_namespace=_at(app, "spec", "destination", "namespace"),
        phase=_at(state, "phase"),
        revision=revision or _at(state, "operation", "sync", "revision"),
        started_at=_at(state, "startedAt"),
        finished_at=_at(state, "finishedAt"),
        repo_url=None if _at(source, "chart") else _at(source, "repoURL"),
        trigger=_trigger(_at(state, "operation", "initiatedBy")),
    )


def sync_from_event(event: Mapping[str, Any]) -> ArgoSync:
    """The body of docs/argocd's template (a CONTRACT deployment plus its `argocd` object)."""
    argo = event.get("argocd") if isinstance(event.get("argocd"), Mapping) else {}
    revision = _at(argo, "revision") or _at(argo, "operation_revision")
    if revision is None:
        revision = given(event.get("sha")) or given(event.get("version"))
    return ArgoSync(
        application=_at(argo, "application") or given(event.get("service")),
        namespace=_at(argo, "namespace"),
        server=_at(argo, "server"),
        cluster=_at(argo, "cluster"),
        destination_namespace=_at(argo, "destination_namespace"),
        phase=_at(argo, "phase"),
        revision=revision,
        started_at=given(event.get("started_at")),
        finished_at=given(event.get("finished_at")),
        repo_url=None if _at(argo, "chart") else _at(argo, "repo_url") or given(event.get("repo")),
        trigger=given(event.get("trigger")),
        given={k: given(v) for k, v in event.items() if k != "argocd"},
    )


def repo_of(url: str | None) -> str | None:
    """`https://github.com/acme/shop.git`, `git@github.com:acme/shop.git` -> `acme/shop`."""
    if not url:
        return None
    scp_like = "://" not in url and ":" in url  # git@host:owner/name
    path = url.split(":", 1)[1] if scp_like else urlsplit(url).path
    path = path.strip("/").removesuffix(".git")
    return path or None


def destination_keys(sync: ArgoSync) -> tuple[str, ...]:
    """`<cluster>/<namespace>`, the texts the environment and target patterns match: the
    destination's name first, then its server (a destination may give either or both)."""
    clusters = dict.fromkeys(c for c in (sync.cluster, sync.server) if c)
    return tuple(f"{cluster}/{sync.destination_namespace or ''}" for cluster in clusters)


def _cluster_name(sync: ArgoSync) -> str | None:
    if sync.cluster:
        return sync.cluster
    return urlsplit(sync.server).hostname if sync.server else None


def sync_id(sync: ArgoSync) -> str:
    """The event id of one sync operation (see the module doc)."""
    app = f"{sync.namespace or ''}/{sync.application}".lstrip("/")
    if sync.started_at:
        return f"{app}@{sync.started_at}"
    return f"{app}@{sync.revision or ''}@{sync.finished_at or ''}"


def deployment_event(sync: ArgoSync, mapping: ArgoCdMapping) -> Mapped:
    """One sync operation -> its deployment event, or the reason it is skipped."""
    name = sync.application or "?"
    if sync.application is None:
        return Mapped(skipped=(Skipped(name, "no application name (app.metadata.name)"),))
    own = sync.given
    status = own.get("status") if own.get("status") in _STATUSES else None
    status = status or _PHASE_STATUS.get(sync.phase or "")
    if status is None:
        return Mapped(skipped=(Skipped(name, f"operation phase {sync.phase!r} is not an outcome"),))
    place = stack_place(mapping.rules, (sync.application,), None, destination_keys(sync))
    environment = (
        place.environment if place else own.get("environment") or sync.destination_namespace
    )
    if environment is None:
        return Mapped(
            skipped=(Skipped(name, "no environment: add a stacks: rule for the application"),)
        )
    if sync.revision is None:
        return Mapped(skipped=(Skipped(name, "no revision (syncResult.revision)"),))
    if status != "running" and sync.finished_at is None:
        return Mapped(skipped=(Skipped(name, f"a {status} sync without finishedAt"),))
    try:
        started_at, finished_at = utc_text(sync.started_at), utc_text(sync.finished_at)
    except ValueError as exc:
        return Mapped(skipped=(Skipped(name, f"a time without a zone or unreadable: {exc}"),))
    is_sha = bool(_FULL_SHA.match(sync.revision))
    event = {
        "type": "deployment",
        "source": mapping.source,
        "id": sync_id(sync),
        "service": place.service if place else own.get("service") or sync.application,
        "environment": environment,
        "target": (place.target if place else None) or own.get("target") or _cluster_name(sync),
        "sha": sync.revision.lower() if is_sha else None,
        "version": None if is_sha else sync.revision,
        "repo": repo_of(sync.repo_url) if sync.repo_url else None,
        "status": status,
        "started_at": started_at,
        "finished_at": finished_at,
        "trigger": sync.trigger if sync.trigger in ("automated", "manual") else None,
    }
    return Mapped(events=(clean(event),))


def _is_app(obj: Mapping[str, Any]) -> bool:
    return isinstance(obj.get("metadata"), Mapping) and (
        isinstance(obj.get("status"), Mapping) or isinstance(obj.get("spec"), Mapping)
    )


def item_events(item: Any, mapping: ArgoCdMapping) -> Mapped:
    """One item of a body: the template's event, `{"app": ...}` or an Application."""
    if not isinstance(item, Mapping):
        return Mapped(skipped=(Skipped("?", "an item that is not a JSON object"),))
    if item.get("type") == "deployment":
        return deployment_event(sync_from_event(item), mapping)
    if isinstance(item.get("app"), Mapping):
        return deployment_event(sync_from_app(item["app"]), mapping)
    if _is_app(item):
        return deployment_event(sync_from_app(item), mapping)
    kind = item.get("type") or item.get("kind") or "an object"
    return Mapped(
        skipped=(
            Skipped(
                "?",
                f"{str(kind)[:60]} is not read: send the dora-deployment template's body, "
                '{"app": <Application>} or an Application',
            ),
        )
    )


def payload_events(payload: Any, mapping: ArgoCdMapping) -> Mapped:
    """A whole body (one item or a list of them) -> its events and skips, in order."""
    items = payload if isinstance(payload, list) else [payload]
    events: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    for item in items:
        one = item_events(item, mapping)
        events.extend(one.events)
        skipped.extend(one.skipped)
    return Mapped(events=tuple(events), skipped=tuple(skipped))
