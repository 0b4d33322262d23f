"""Flux notification-controller events -> CONTRACT §1 `deployment` / `automation_run` events
(pure: no database, no clock).

The generic and generic-hmac providers post one Event object per request
(fluxcd.io/flux/components/notification/providers/#generic-webhook, its structure in
fluxcd/pkg apis/event): `involvedObject` (kind, namespace, name), `severity`, `timestamp`,
`reason`, `message`, `metadata` (the revision under `revision` or
`<group>/revision`, e.g. `kustomize.toolkit.fluxcd.io/revision`, and the Alert's
`spec.eventMetadata` keys as they are, `environment: production`; notification-controller
strips the `event.toolkit.fluxcd.io/` and the object's group prefixes before it forwards, and
both forms are read), `reportingController`.

What is read:
- Objects of kind `Kustomization` and `HelmRelease`; any other (GitRepository, HelmChart ...) is
  skipped as not a deployment.
- The outcome from `reason`: SUCCEEDED reasons -> success, FAILED reasons -> failure; other
  reasons (Progressing, DependencyNotReady, RollbackSucceeded, ...) are skipped: they are steps,
  not an outcome.
- The object `<Kind>/<namespace>/<name>` through the source's `stacks:` rules
  (ingest.sources.stacks; shell globs, first match wins): the rule's `service`, `environment`
  and `target`; its `as` says what the object's events are: `deployment` (the default) of an
  app service, or `automation_run` (action `apply`) of an infra stack. When no rule matches,
  the Alert's eventMetadata names one directly: `service` (a deployment) or `stack` (an
  automation run), with its `environment`; neither -> skipped, naming the key.
- `target`: the rule's, else the Alert's eventMetadata `target` (or `cluster`); without an
  environment the event is skipped.
- The revision: `main@sha1:<sha>` (and the older `main/<sha>`) gives `sha`; any other (a Helm
  chart version `6.0.0`, an OCI `latest@sha256:<digest>`: an artifact digest, not a commit) is
  the `version`. A HelmRelease's `originRevision` (its chart's source commit) gives `sha` when
  it is a Git sha1. An event without a revision is skipped.
- `id`: the object, the revision and the outcome, never the delivery. Flux repeats an event
  after its 5-minute rate limit (and on every reconciliation with `ReconciliationSucceeded`):
  an event is a repeat when the object's latest recorded event (same source, same object; the
  `Latest` lookup) has the same revision and outcome; a repeat takes that event's id and keeps
  its `finished_at`, so it is `unchanged`. Any other event is a new deployment (or run): the
  object's first is `<Kind>/<namespace>/<name>@<revision>:<outcome>`, a later one adds
  `#<its timestamp>` (`...@main@sha1:<sha>:success#2026-01-05T10:15:00Z`), so a rollback to
  an earlier revision, or a revision applied again after another, is recorded as a deployment
  of its own instead of updating the first one.
- `finished_at`: the event's `timestamp` (a repeat keeps the first one's).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ingest.sources.mapping import Mapped, Skipped, clean, earliest, utc_text
from ingest.sources.stacks import StackRule, stack_place

DEFAULT_SOURCE = "flux"
KINDS = ("Kustomization", "HelmRelease")
SUCCEEDED = frozenset(
    {
        "ReconciliationSucceeded",  # kustomize-controller; helm-controller before v2
        "InstallSucceeded",  # helm-controller v2
        "UpgradeSucceeded",
    }
)
FAILED = frozenset(
    {
        "ReconciliationFailed",
        "HealthCheckFailed",
        "BuildFailed",
        "ValidationFailed",
        "ArtifactFailed",
        "PruneFailed",
        "InstallFailed",
        "UpgradeFailed",
        "TestFailed",
        "RollbackFailed",
    }
)
EVENT_META = "event.toolkit.fluxcd.io/"  # the event API group: prefixed metadata keys
_GIT_SHA1 = re.compile(r"^(?:(?P<ref>.+)@)?sha1:(?P<sha>[0-9a-fA-F]{40})$")
_LEGACY = re.compile(r"^(?P<ref>.+)/(?P<sha>[0-9a-fA-F]{40})$")  # Flux < 2.0: main/<sha>

# (type, object key) -> (id, stored event) of the object's latest recorded event, or None
Latest = Callable[[str, str], tuple[str, dict[str, Any]] | None]


@dataclass(frozen=True)
class FluxMapping:
    """The source's configuration: its name and `stacks:` rules over `<Kind>/<namespace>/<name>`."""

    source: str = DEFAULT_SOURCE
    rules: tuple[StackRule, ...] = ()


def _no_latest(etype: str, key: str) -> None:
    return None


def metadata_value(metadata: Mapping[str, Any], name: str) -> str | None:
    """`metadata[name]`, else the value of a `<group>/<name>` key (the controller's own group
    first, in key order); None when absent or empty."""
    value = metadata.get(name)
    if isinstance(value, str) and value.strip():
        return value.strip()
    for key, value in metadata.items():
        if key.endswith("/" + name) and isinstance(value, str) and value.strip():
            return value.strip()
    return None


def commit_of(revision: str | None) -> str | None:
    """The Git commit of a Flux revision (`main@sha1:<sha>`, `sha1:<sha>`, `main/<sha>`)."""
    if not revision:
        return None
    match = _GIT_SHA1.match(revision) or _LEGACY.match(revision)
    return match.group("sha").lower() if match else None


def outcome_of(reason: Any) -> str | None:
    """success, failure, or None for a reason that is not an outcome."""
    if reason in SUCCEEDED:
        return "success"
    if reason in FAILED:
        return "failure"
    return None


def object_key(event: Mapping[str, Any]) -> str:
    obj = event.get("involvedObject") if isinstance(event.get("involvedObject"), Mapping) else {}
    return f"{obj.get('kind') or '?'}/{obj.get('namespace') or ''}/{obj.get('name') or '?'}"


def flux_event(
    event: Mapping[str, Any], mapping: FluxMapping, latest: Latest = _no_latest
) -> Mapped:
    """One Flux event -> its deployment or automation run, or the reason it is skipped."""
    key = object_key(event)
    kind = key.split("/", 1)[0]
    if kind not in KINDS:
        return Mapped(skipped=(Skipped(key, f"a {kind} event is not a deployment"),))
    reason = event.get("reason")
    outcome = outcome_of(reason)
    if outcome is None:
        return Mapped(skipped=(Skipped(key, f"reason {str(reason)[:80]!r} is not an outcome"),))
    raw_meta = event.get("metadata")
    metadata: Mapping[str, Any] = raw_meta if isinstance(raw_meta, Mapping) else {}
    alert = {**{k.removeprefix(EVENT_META): v for k, v in metadata.items()}, **metadata}
    place = stack_place(mapping.rules, (key,), None)
    if place is not None:
        deploys = place.as_ == "deployment"
        service, stack = (place.service, None) if deploys else (None, place.service)
        environment: str | None = place.environment
    else:
        service, stack = _text(alert.get("service")), _text(alert.get("stack"))
        environment = _text(alert.get("environment"))
    if service is None and stack is None:
        return Mapped(skipped=(Skipped(key, f"{key} matches no rule of the source's stacks:"),))
    if environment is None:
        return Mapped(
            skipped=(Skipped(key, "no environment: add a stacks: rule or eventMetadata"),)
        )
    revision = metadata_value(metadata, "revision")
    if revision is None:
        return Mapped(skipped=(Skipped(key, "no revision in its metadata"),))
    try:
        timestamp = utc_text(event.get("timestamp"))
    except ValueError as exc:
        return Mapped(skipped=(Skipped(key, f"unreadable timestamp: {exc}"),))
    if timestamp is None:
        return Mapped(skipped=(Skipped(key, "no timestamp"),))
    etype = "deployment" if service else "automation_run"
    event_id, stored = deployment_id(f"{key}@{revision}:{outcome}", timestamp, latest(etype, key))
    sha = commit_of(revision)
    if kind == "HelmRelease" and sha is None:
        sha = commit_of(metadata_value(metadata, "originRevision"))
    out = {
        "type": etype,
        "source": mapping.source,
        "id": event_id,
        "service": service or stack,
        "environment": environment,
        "target": (place.target if place else None)
        or _text(alert.get("target"))
        or _text(alert.get("cluster")),
        "status": outcome,
        "finished_at": earliest([stored.get("finished_at"), timestamp]),
    }
    if etype == "deployment":
        out["sha"] = sha
        out["version"] = revision if sha is None or kind == "HelmRelease" else None
    else:
        out["action"] = "apply"
        out["version"] = revision[:200]
    return Mapped(events=(clean(out),))


def is_repeat(base: str, latest_id: str) -> bool:
    """True when `latest_id` is `base` (`<object>@<revision>:<outcome>`) or `base#<suffix>`."""
    return latest_id == base or (
        latest_id.startswith(base + "#") and "#" not in latest_id[len(base) + 1 :]
    )


def deployment_id(
    base: str, timestamp: str, latest: tuple[str, dict[str, Any]] | None
) -> tuple[str, dict[str, Any]]:
    """(id, the stored event it repeats or {}) of an event `base` at `timestamp`, given the
    object's latest recorded event: its id when it is a repeat, `base` for the object's first
    event, else `base#<timestamp>` (see the module docstring)."""
    if latest is None:
        return base, {}
    latest_id, stored = latest
    if is_repeat(base, latest_id):
        return latest_id, stored
    return f"{base}#{timestamp}", {}


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def payload_events(payload: Any, mapping: FluxMapping, latest: Latest = _no_latest) -> Mapped:
    """A body (one event, or a list of them) -> its events and skips, in order."""
    items = payload if isinstance(payload, list) else [payload]
    events: list[dict[str, Any]] = []
    skipped: list[Skipped] = []
    for item in items:
        if not isinstance(item, Mapping):
            skipped.append(Skipped("?", "an item that is not a JSON object"))
            continue
        one = flux_event(item, mapping, latest)
        events.extend(one.events)
        skipped.extend(one.skipped)
    return Mapped(events=tuple(events), skipped=tuple(skipped))
