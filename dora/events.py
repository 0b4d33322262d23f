"""The normalized event schema (CONTRACT §1): validation, and `events_record()`, the upsert."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from dora.estate import EstateCache
from dora.generation import facts_changed
from dora.retry import atomic_retry

DEFAULT_SOURCE = "api"
BATCH_SIZE = 1000
MAX_ID_LENGTH = 500
_REVERT_RE = re.compile(r"This reverts commit ([0-9a-fA-F]{7,64})")


class EventInvalid(ValueError):
    """An event that cannot be stored; the message names the field and says what to fix."""


# ---------------------------------------------------------------------------------------------
# Schema
# ---------------------------------------------------------------------------------------------

STATUSES = ("success", "failure", "cancelled", "running")
_ENUMS: dict[str, tuple[str, ...]] = {
    "status": STATUSES,
    "deployment.trigger": ("automated", "manual"),
    "automation_run.trigger": ("schedule", "change", "manual"),
    "action": ("apply", "plan", "deploy", "test"),
    "cause": ("change", "external", "unknown"),
}

# field -> kind: str, int, time, shas (list of str), strs (list of str), bool, obj, jobs
_SCHEMA: dict[str, dict[str, dict[str, str]]] = {
    "commit": {
        "required": {"repo": "str", "sha": "sha", "authored_at": "time"},
        "optional": {
            "committed_at": "time",
            "parents": "shas",
            "author": "str",
            "message": "text",
            "files": "strs",
        },
    },
    "change": {
        "required": {"repo": "str", "number": "int", "created_at": "time"},
        "optional": {
            "title": "str",
            "author": "str",
            "ready_at": "time",
            "first_review_at": "time",
            "approved_at": "time",
            "merged_at": "time",
            "closed_at": "time",
            "base": "str",
            "head": "str",
            "merge_sha": "sha",
            "squash_sha": "sha",
            "commits": "shas",
            "labels": "strs",
            "issue": "str",
            "issue_created_at": "time",
        },
    },
    "pipeline_run": {
        "required": {"repo": "str", "sha": "sha", "status": "enum", "started_at": "time"},
        "optional": {
            "name": "str",
            "branch": "str",
            "created_at": "time",
            "finished_at": "time",
            "trigger": "str",
            "jobs": "jobs",
        },
    },
    "deployment": {
        "required": {"service": "str", "environment": "str", "status": "enum"},
        "optional": {
            "finished_at": "time",
            "target": "str",
            "version": "str",
            "sha": "sha",
            "repo": "str",
            "started_at": "time",
            "commits": "shas",
            "trigger": "enum",
            "config_version": "str",
            "remediates": "str",
            "pipeline_run": "str",
            "approved_at": "time",
            "approved_by": "str",
        },
    },
    "incident": {
        "required": {"service": "str", "opened_at": "time"},
        "optional": {
            "environment": "str",
            "title": "str",
            "severity": "str",
            "impact_started_at": "time",
            "mitigated_at": "time",
            "resolved_at": "time",
            "caused_by": "caused_by",
            "cause": "enum",
        },
    },
    "automation_run": {
        "required": {
            "service": "str",
            "environment": "str",
            "action": "enum",
            "status": "enum",
            "finished_at": "time",
        },
        "optional": {
            "target": "str",
            "started_at": "time",
            "trigger": "enum",
            "version": "str",
            "drift_detected": "bool",
        },
    },
}
EVENT_TYPES = tuple(_SCHEMA)
_SHA_RE = re.compile(r"[0-9a-fA-F]{4,64}")


@dataclass(frozen=True)
class Event:
    """A validated event: its idempotency key and its typed fields."""

    source: str
    type: str
    id: str
    fields: dict[str, Any]
    raw: dict[str, Any]
    digest: str
    canonical: str = field(repr=False)  # raw as canonical JSON: hashed into digest, stored as is

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.type, self.id)


def _parse_time(name: str, value: Any) -> datetime:
    if not isinstance(value, str):
        raise EventInvalid(f"{name}: expected an ISO 8601 timestamp string, got {_kind(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise EventInvalid(
            f"{name}: {value!r} is not an ISO 8601 timestamp (e.g. 2026-03-05T10:00:00Z)"
        )
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise EventInvalid(
            f"{name}: {value!r} has no time zone; add one (Z or +01:00): naive times are "
            "never guessed"
        )
    return parsed.astimezone(UTC)


def _kind(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _check_str(name: str, value: Any, *, limit: int = 500) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise EventInvalid(f"{name}: expected a string, got {_kind(value)}")
    text = str(value)
    if not text.strip():
        raise EventInvalid(f"{name}: must not be empty")
    if len(text) > limit:
        raise EventInvalid(f"{name}: longer than {limit} characters")
    return text


def _check_sha(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise EventInvalid(f"{name}: expected a git sha string, got {_kind(value)}")
    text = _check_str(name, value, limit=64)
    if not _SHA_RE.fullmatch(text):
        raise EventInvalid(f"{name}: {text!r} is not a git sha (4 to 64 hex digits)")
    return text.lower()


def _check_list(name: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise EventInvalid(f"{name}: expected a list, got {_kind(value)}")
    return value


def _check_field(etype: str, name: str, kind: str, value: Any) -> Any:
    if kind == "str":
        if type(value) is str and 0 < len(value) <= 500 and not value.isspace():
            return value
        return _check_str(name, value)
    if kind == "text":
        if not isinstance(value, str):
            raise EventInvalid(f"{name}: expected a string, got {_kind(value)}")
        return value
    if kind == "sha":
        return _check_sha(name, value)
    if kind == "time":
        return _parse_time(name, value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str) and value.isdigit():
                return int(value)
            raise EventInvalid(f"{name}: expected an integer, got {_kind(value)}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise EventInvalid(f"{name}: expected true or false, got {_kind(value)}")
        return value
    if kind == "shas":
        if type(value) is list and all(type(v) is str and _SHA_RE.fullmatch(v) for v in value):
            return [v.lower() for v in value]  # the common case; the loop below says what's wrong
        return [_check_sha(f"{name}[{i}]", v) for i, v in enumerate(_check_list(name, value))]
    if kind == "strs":
        if type(value) is list and all(
            type(v) is str and 0 < len(v) <= 1000 and not v.isspace() for v in value
        ):
            return value
        return [
            _check_str(f"{name}[{i}]", v, limit=1000)
            for i, v in enumerate(_check_list(name, value))
        ]
    if kind == "enum":
        allowed = _ENUMS.get(f"{etype}.{name}") or _ENUMS[name]
        if value not in allowed:
            raise EventInvalid(f"{name}: {value!r} is not one of {', '.join(allowed)}")
        return value
    if kind == "jobs":
        jobs = []
        for i, job in enumerate(_check_list(name, value)):
            where = f"{name}[{i}]"
            if not isinstance(job, dict):
                raise EventInvalid(f"{where}: expected an object, got {_kind(job)}")
            if "name" not in job:
                raise EventInvalid(f"{where}.name: required")
            out: dict[str, Any] = {"name": _check_str(f"{where}.name", job["name"])}
            for key in ("started_at", "finished_at"):
                if job.get(key) is not None:
                    out[key] = _parse_time(f"{where}.{key}", job[key]).isoformat()
            if job.get("status") is not None:
                out["status"] = _check_field(etype, "status", "enum", job["status"])
            jobs.append(out)
        return jobs
    if kind == "caused_by":
        if not isinstance(value, dict):
            raise EventInvalid(f'{name}: expected an object like {{"deployment": id}}')
        known = ("deployment", "version", "sha", "change")
        present = [k for k in known if k in value]
        unknown = sorted(set(value) - set(known))
        if unknown or len(present) != 1:
            raise EventInvalid(
                f"{name}: give exactly one of deployment, version, sha, change "
                f"(got {', '.join(sorted(value)) or 'nothing'})"
            )
        link = present[0]
        if link == "sha":
            return {"sha": _check_sha(f"{name}.sha", value["sha"])}
        text = _check_str(f"{name}.{link}", value[link])
        if link == "change" and not re.match(r"^.+#\d+$", text):
            raise EventInvalid(f"{name}.change: {text!r} should look like 'owner/repo#123'")
        return {link: text}
    raise AssertionError(kind)


def _canonical(raw: Mapping[str, Any]) -> str:
    """The payload as JSON with sorted keys: equal payloads give equal text, whatever the order."""
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)


def event_validate(obj: Any, *, default_source: str = DEFAULT_SOURCE) -> Event:
    """Check one event against CONTRACT §1; raise EventInvalid naming the field."""
    if not isinstance(obj, dict):
        raise EventInvalid(f"an event must be a JSON object, got {_kind(obj)}")
    etype = obj.get("type")
    if etype is None:
        raise EventInvalid("type: required (one of " + ", ".join(EVENT_TYPES) + ")")
    if etype not in _SCHEMA:
        raise EventInvalid(f"type: unknown type {etype!r} (one of {', '.join(EVENT_TYPES)})")
    if obj.get("id") is None:
        raise EventInvalid("id: required (your identifier for this event, unique per type)")
    event_id = _check_str("id", obj["id"], limit=MAX_ID_LENGTH)
    source = _check_str("source", obj.get("source", default_source), limit=100)
    schema = _SCHEMA[etype]
    fields: dict[str, Any] = {}
    for name, kind in schema["required"].items():
        if obj.get(name) is None:
            raise EventInvalid(f"{name}: required for a {etype} event")
        fields[name] = _check_field(etype, name, kind, obj[name])
    optional = schema["optional"]
    for name, value in obj.items():  # the fields present, not every field the type allows
        kind = optional.get(name)
        if kind is not None and value is not None and value != "":  # "" stands for absent
            fields[name] = _check_field(etype, name, kind, value)
    if etype == "deployment":
        if "sha" not in fields and "version" not in fields:
            raise EventInvalid("sha or version: a deployment needs at least one of them")
        if fields["status"] != "running" and "finished_at" not in fields:
            raise EventInvalid(
                f"finished_at: required for a deployment with status {fields['status']}"
            )
    if etype == "change" and fields["number"] < 0:
        raise EventInvalid("number: must be zero or positive")
    raw = dict(obj)
    raw["source"] = source
    canonical = _canonical(raw)
    return Event(
        source=source,
        type=etype,
        id=event_id,
        fields=fields,
        raw=raw,
        digest=hashlib.sha256(canonical.encode()).hexdigest(),
        canonical=canonical,
    )


# ---------------------------------------------------------------------------------------------
# Intake
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemResult:
    """What happened to one submitted event."""

    index: int
    status: str  # created | updated | unchanged | rejected
    key: str | None = None
    reason: str | None = None
    warning: str | None = None  # stored, but something about it needs attention

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"index": self.index, "status": self.status}
        for name in ("key", "reason", "warning"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out


@dataclass
class IntakeReport:
    """Per-item results and totals of one intake call."""

    items: list[ItemResult] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0}
    )

    def add(self, item: ItemResult) -> None:
        self.items.append(item)
        self.counts[item.status] += 1

    def merge(self, other: IntakeReport) -> None:
        for item in other.items:
            self.add(item)


def batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of at most `size` items, without holding more than one."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def events_record(
    events: Iterable[Any],
    *,
    default_source: str = DEFAULT_SOURCE,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
    derive_every: int | None = None,
    keep_items: bool = True,
    progress: Callable[[int], None] | None = None,
    defer_derivation: bool = False,
) -> IntakeReport:
    """Validate and upsert events, then re-derive the facts they touch.

    Items may be dicts, or `EventInvalid` instances standing for input that could not even be
    parsed (the caller's line that was not JSON); those are reported as rejected in place.
    Each batch is one transaction that stores its records and marks the (service, environment)
    pairs they invalidate; the marked pairs are derived again at the end, and also after every
    `derive_every` events when given (bulk imports: fewer, larger derivations).
    defer_derivation only marks them: a caller recording many small pages derives once, with
    `dora.derive.pending_derive()`, when it is done (the beat task derives what is left).
    With keep_items False only rejected items are kept in the report (streaming large files).
    `progress` is called with the number of events handled so far after each batch.
    """
    from dora import derive  # derive imports the models this module writes; keep the edge one-way

    now = now or datetime.now(UTC)
    report = IntakeReport()
    estate = EstateCache()  # services, environments, targets: looked up once per call
    offset = since_derived = 0
    for chunk in batches(events, batch_size):
        valid: list[tuple[int, Event]] = []
        for i, obj in enumerate(chunk, start=offset):
            try:
                if isinstance(obj, EventInvalid):
                    raise obj
                valid.append((i, event_validate(obj, default_source=default_source)))
            except EventInvalid as exc:
                report.add(ItemResult(index=i, status="rejected", reason=str(exc)))
        offset += len(chunk)

        def batch_store(valid: list[tuple[int, Event]] = valid) -> list[str]:
            statuses, touched = _records_upsert([e for _, e in valid], now=now, estate=estate)
            derive.touched_mark(touched)
            if any(status != "unchanged" for status in statuses):
                facts_changed()
            return statuses

        statuses = atomic_retry(batch_store, on_retry=estate.forget)
        warnings = _unknown_sha_warnings([e for _, e in valid]) if keep_items else {}
        for (i, event), status in zip(valid, statuses, strict=True):
            item = ItemResult(
                index=i, status=status, key=":".join(event.key), warning=warnings.get(event.key)
            )
            if keep_items:
                report.add(item)
            else:
                report.counts[status] += 1
        since_derived += len(chunk)
        if not defer_derivation and derive_every is not None and since_derived >= derive_every:
            derive.pending_derive()
            since_derived = 0
        if progress is not None:
            progress(offset)
    if not defer_derivation:
        derive.pending_derive()
    if keep_items:
        report.items.sort(key=lambda item: item.index)
    return report


def _records_upsert(
    events: list[Event], *, now: datetime, estate: EstateCache | None = None
) -> tuple[list[str], Any]:
    """Store raw events and records; return each event's status and what to derive again."""
    from dora import derive, records

    touched = derive.Touched()
    if not events:
        return [], touched
    # Within one batch the same key may repeat: the last one wins, the earlier ones report
    # against the one before them, as if sent one after another.
    latest: dict[tuple[str, str, str], Event] = {}
    for event in events:
        latest[event.key] = event
    # Raw events first: one statement set stores the new and changed ones and says what was
    # stored before, which decides every status and which records to write.
    stored = records.raw_store(list(latest.values()), now=now)
    statuses: list[str] = []
    seen = dict(stored)
    for event in events:
        before = seen.get(event.key)
        statuses.append(
            "created" if before is None else "unchanged" if before == event.digest else "updated"
        )
        seen[event.key] = event.digest
    changed = [e for k, e in latest.items() if stored.get(k) != e.digest]
    if changed:
        records.records_store(changed, estate=estate or EstateCache(), touched=touched)
    return statuses, touched


def _unknown_sha_warnings(events: list[Event]) -> dict[tuple[str, str, str], str]:
    """Deployments naming a sha no commit event has described yet: stored, but say so."""
    from dora.models import Commit

    shas = {e.fields["sha"] for e in events if e.type == "deployment" and "sha" in e.fields}
    if not shas:
        return {}
    known = set(Commit.objects.filter(sha__in=shas).values_list("sha", flat=True))
    return {
        e.key: (
            f"sha {e.fields['sha']} is not a known commit yet: the rollout's change set stays "
            "incomplete (and its changes untimed) until a commit event for it arrives"
        )
        for e in events
        if e.type == "deployment" and e.fields.get("sha") and e.fields["sha"] not in known
    }


def commit_reverted_sha(message: str) -> str:
    """The sha a revert commit names in git's standard 'This reverts commit <sha>.' line."""
    match = _REVERT_RE.search(message or "")
    return match.group(1).lower() if match else ""
