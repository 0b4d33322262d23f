"""The normalized event schema (CONTRACT §2) and its validation: `event_validate()` turns one
JSON item into an Event or says, field by field, what to fix.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from dora.intake.event_base import Event
from dora.json_checks import json_fault, json_loads

DEFAULT_SOURCE = "api"
# Records keep "<type>:<id>" in a 500-character column; the longest type is out_of_band_change.
MAX_ID_LENGTH = 480
MAX_SOURCE_LENGTH = 100
# Beyond this nesting an item is refused: no event needs it, and a deep payload costs every
# reader (PostgreSQL's jsonb, Python's recursive json) more than it could be worth.
MAX_DEPTH = 32
# Timestamps outside [1970, now + 100 years] are mistakes (0001-01-01 placeholders, epoch
# millis read as seconds) and break date arithmetic downstream: refused per item.
EARLIEST_TIME = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_AHEAD_YEARS = 100
MAX_INT = 2**31 - 1  # integer fields are PostgreSQL integer columns


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

# field -> kind: str, int, time, shas (list of str), landed (list of full shas), strs (list of
# str), bool, obj, jobs
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
            "title": "text",
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
            "landed_commits": "landed",
            "labels": "strs",
            "issue": "str",
            "issue_created_at": "time",
            "url": "url",
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
            "title": "text",
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
            "sha": "sha",
            "repo": "str",
            "drift_detected": "bool",
        },
    },
    # Added: a change made outside the pipeline (a console edit, a CLI call), from an audit
    # trail: who did what, when, to which service or stack where (CONTRACT §1, METRICS §4.5).
    "out_of_band_change": {
        "required": {
            "service": "str",
            "environment": "str",
            "changed_at": "time",
            "actor": "str",
            "what": "text",
        },
        "optional": {"target": "str", "resources": "strs"},
    },
}
# Every type may say when its source last changed it: of two versions of one event, the one
# with the later updated_at is kept, whichever arrives last (CONTRACT §1).
for _spec in _SCHEMA.values():
    _spec["optional"]["updated_at"] = "time"
EVENT_TYPES = tuple(_SCHEMA)
_SHA_RE = re.compile(r"[0-9a-fA-F]{4,64}")
_SHAS_RE = re.compile(r"[0-9a-fA-F]{4,64}(?:,[0-9a-fA-F]{4,64})*")
# Landed commits are matched to stored commits exactly: full shas only (SHA-1 or SHA-256).
_FULL_SHA_RE = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
# A merge lands one commit, a rebase merge one per commit of the change. GitHub lists at most
# 250 commits of a pull request; beyond this many a list is a mistake, not a change.
MAX_LANDED_COMMITS = 1000
# The longest text each "str" field may have: its record column's length (a unit test holds
# each to the model), so an over-long value is one rejected item, never a failed batch. Free
# text ("text": a title, a message) is cut to its column instead: losing a PR over a long title
# would be worse. Lists of strings ("strs") are stored as JSON and take up to 1000 each.
_NAME = 200  # services, environments, targets, versions, people
_REPO = 300
STR_LIMITS: dict[str, dict[str, int]] = {
    "commit": {"repo": _REPO, "author": _NAME},
    "change": {"repo": _REPO, "author": _NAME, "base": _REPO, "head": _REPO, "issue": 500},
    "pipeline_run": {"repo": _REPO, "name": _REPO, "branch": _REPO, "trigger": 40},
    "deployment": {
        "service": _NAME,
        "environment": _NAME,
        "target": _NAME,
        "version": _NAME,
        "repo": _REPO,
        "config_version": _NAME,
        "remediates": 500,
        "pipeline_run": 500,
        "approved_by": _NAME,
    },
    "incident": {"service": _NAME, "environment": _NAME, "severity": 40},
    "automation_run": {
        "service": _NAME,
        "environment": _NAME,
        "target": _NAME,
        "version": _NAME,
        "repo": _REPO,
    },
    # An actor is an audit trail's principal: an IAM role session's ARN runs long.
    "out_of_band_change": {"service": _NAME, "environment": _NAME, "target": _NAME, "actor": 500},
}
TEXT_LIMITS = {"title": 500, "what": 500}
_CAUSED_BY_LIMITS = {"deployment": MAX_ID_LENGTH, "version": _NAME, "change": _REPO + 12}


def _shown(value: object) -> str:
    """A bad value as a rejection reason quotes it: at most 80 characters of its repr, so a
    reason stays short whatever was sent (a 500-character enum value, a huge "timestamp")."""
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:80]}… ({len(text)} characters in all)"


def _parse_time(name: str, value: Any, *, now: datetime | None = None) -> datetime:
    if not isinstance(value, str):
        raise EventInvalid(f"{name}: expected an ISO 8601 timestamp string, got {_kind(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise EventInvalid(
            f"{name}: {_shown(value)} is not an ISO 8601 timestamp (e.g. 2026-03-05T10:00:00Z)"
        )
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise EventInvalid(
            f"{name}: {_shown(value)} has no time zone; add one (Z or +01:00): naive times are "
            "never guessed"
        )
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 has no UTC equivalent
        parsed = EARLIEST_TIME - timedelta(days=1)
    latest = time_latest(now)
    if not EARLIEST_TIME <= parsed <= latest:
        raise EventInvalid(
            f"{name}: {_shown(value)} is outside the accepted range, 1970-01-01 to "
            f"{latest:%Y-%m-%d} (send the real time, or leave the field out)"
        )
    return parsed


def time_latest(now: datetime | None = None) -> datetime:
    """The latest timestamp an event may carry: LATEST_AHEAD_YEARS after now."""
    return _latest_after(now or datetime.now(UTC))


@functools.lru_cache(maxsize=16)
def _latest_after(now: datetime) -> datetime:
    # Remembered: an import passes one `now` for every timestamp of every event.
    return now.replace(year=now.year + LATEST_AHEAD_YEARS, month=1, day=1)


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
    if isinstance(value, int) and abs(value) > MAX_INT:
        raise EventInvalid(f"{name}: expected a string, got a number too large to be a name")
    text = str(value)
    if not text.strip():
        raise EventInvalid(f"{name}: must not be empty")
    if len(text) > limit:
        raise EventInvalid(f"{name}: longer than {limit} characters ({len(text)})")
    return text


def _check_sha(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise EventInvalid(f"{name}: expected a git sha string, got {_kind(value)}")
    text = _check_str(name, value, limit=64)
    if not _SHA_RE.fullmatch(text):
        raise EventInvalid(f"{name}: {text!r} is not a git sha (4 to 64 hex digits)")
    return text.lower()


def _check_url(name: str, value: Any) -> str:
    """A web address the pages link to: http(s) only (a page never links a `javascript:` one)."""
    text = _check_str(name, value, limit=500)
    if not re.match(r"^https?://[^\s/]+", text):
        raise EventInvalid(f"{name}: {text[:80]!r} is not an http(s) URL")
    return text


def _check_list(name: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise EventInvalid(f"{name}: expected a list, got {_kind(value)}")
    return value


def _landed_commits(name: str, value: Any) -> list[str]:
    """Full shas, at most MAX_LANDED_COMMITS, lowercased, in order, each once."""
    items = _check_list(name, value)
    if len(items) > MAX_LANDED_COMMITS:
        raise EventInvalid(
            f"{name}: at most {MAX_LANDED_COMMITS} shas (got {len(items)}): the commits one "
            "merge created on the base branch"
        )
    shas: dict[str, None] = {}
    for i, item in enumerate(items):
        if not isinstance(item, str) or not _FULL_SHA_RE.fullmatch(item):
            raise EventInvalid(
                f"{name}[{i}]: expected a full git sha (40 or 64 hex digits), got "
                f"{_kind(item) if not isinstance(item, str) else repr(item[:80])}: landed "
                "commits are matched to commits exactly"
            )
        shas[item.lower()] = None
    return list(shas)


def _check_field(
    etype: str, name: str, kind: str, value: Any, *, now: datetime | None = None
) -> Any:
    if kind == "str":
        limit = STR_LIMITS[etype][name]
        if type(value) is str and 0 < len(value) <= limit and not value.isspace():
            return value
        return _check_str(name, value, limit=limit)
    if kind == "text":
        if not isinstance(value, str):
            raise EventInvalid(f"{name}: expected a string, got {_kind(value)}")
        limit = TEXT_LIMITS.get(name)
        return value[:limit] if limit else value
    if kind == "sha":
        return _check_sha(name, value)
    if kind == "url":
        return _check_url(name, value)
    if kind == "time":
        return _parse_time(name, value, now=now)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            # ASCII digits only: "²".isdigit() is true, but int("²") fails.
            if isinstance(value, str) and value.isascii() and value.isdigit():
                value = int(value) if len(value) <= 12 else MAX_INT + 1
            else:
                raise EventInvalid(f"{name}: expected an integer, got {_kind(value)}")
        if not -MAX_INT <= value <= MAX_INT:
            raise EventInvalid(f"{name}: {value} is out of range (at most {MAX_INT})")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise EventInvalid(f"{name}: expected true or false, got {_kind(value)}")
        return value
    if kind == "shas":
        # The common case, checked by one match over the list joined with commas (as many
        # parts as items: no item held a comma); the loop below says what is wrong.
        if type(value) is list and all(type(v) is str for v in value):
            if not value:
                return []
            joined = ",".join(value)
            if _SHAS_RE.fullmatch(joined):
                shas = joined.lower().split(",")
                if len(shas) == len(value):
                    return shas
        return [_check_sha(f"{name}[{i}]", v) for i, v in enumerate(_check_list(name, value))]
    if kind == "landed":
        return _landed_commits(name, value)
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
            raise EventInvalid(f"{name}: {_shown(value)} is not one of {', '.join(allowed)}")
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
                    out[key] = _parse_time(f"{where}.{key}", job[key], now=now).isoformat()
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
        text = _check_str(f"{name}.{link}", value[link], limit=_CAUSED_BY_LIMITS[link])
        if link == "change" and not re.match(r"^.+#\d+$", text):
            raise EventInvalid(f"{name}.change: {text!r} should look like 'owner/repo#123'")
        return {link: text}
    raise AssertionError(kind)


def _canonical(raw: Mapping[str, Any]) -> str:
    """The payload as JSON with sorted keys: equal payloads give equal text, whatever the order."""
    return json.dumps(raw, sort_keys=True, separators=(",", ":"), default=str)


_TOKEN_RE = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{},]')


def json_items(text: str) -> list[Any]:
    """The events of a request body: a JSON array's items, or the one object it is.

    An item nested too deeply for the parser becomes an EventInvalid in its place, so the items
    beside it are still stored; text that is not JSON raises json.JSONDecodeError.
    """
    try:
        data = json_loads(text)
    except RecursionError:
        return _deep_items(text)
    return data if isinstance(data, list) else [data]


def _deep_items(text: str) -> list[Any]:
    """json_items for a body Python's parser cannot nest into: split the top-level array by
    scanning its brackets (strings skipped whole), and parse each item alone."""
    body = text.strip()
    too_deep = EventInvalid(f"the item is nested deeper than {MAX_DEPTH} levels")
    if not body.startswith("["):
        return [too_deep]
    items: list[Any] = []
    depth, start = 0, 1
    for match in _TOKEN_RE.finditer(body):
        mark = match.group()
        if mark in "[{":
            depth += 1
        elif mark in "]}":
            depth -= 1
        if (mark == "," and depth == 1) or depth == 0:
            piece = body[start : match.start()]
            start = match.end()
            if piece.strip():
                try:
                    items.append(json_loads(piece))
                except RecursionError:
                    items.append(too_deep)
            if depth == 0:
                if body[match.end() :].strip():
                    raise json.JSONDecodeError("Extra data", body, match.end())
                return items
    raise json.JSONDecodeError("Expecting ']'", body, len(body))


# Built once: json.dumps with any option builds an encoder per call.
_STRICT_SORTED = json.JSONEncoder(sort_keys=True, separators=(",", ":"), allow_nan=False)


def _clean_canonical(obj: dict[str, Any]) -> str | None:
    """`obj` as canonical JSON (what `_canonical` gives) when it certainly holds nothing
    `_payload_fault` refuses; None means "walk it to find out". One C-encoder pass both clears
    the event and gives the text its digest is taken of.

    The strict encoder raises for NaN, the infinities, NotJson and anything not JSON. With
    ensure_ascii every non-ASCII character is escaped, so a lone surrogate shows as "\\udXXX"
    and NUL as "\\u0000" (either text inside a string only adds a walk); fewer than MAX_DEPTH
    brackets clears the depth, as in `json_checks._surely_clean`.
    """
    try:
        text = _STRICT_SORTED.encode(obj)
    except (ValueError, TypeError, RecursionError):
        return None
    if "\\u0000" in text or "\\ud" in text:
        return None
    if text.count("[") + text.count("{") >= MAX_DEPTH:
        return None
    return text


def _payload_fault(obj: dict[str, Any]) -> str | None:
    """What in an event's JSON cannot be stored, as "field: what" (None when all can)."""
    fault = json_fault(obj, max_depth=MAX_DEPTH, nul=False, root="")
    if fault is None:
        return None
    where = fault.path[:120] or "the event"
    return f"{where}: a key holds {fault.what}" if fault.in_key else f"{where}: {fault.what}"


def event_validate(
    obj: Any, *, default_source: str = DEFAULT_SOURCE, now: datetime | None = None
) -> Event:
    """Check one event against CONTRACT §1; raise EventInvalid naming the field.

    `now` bounds its timestamps (LATEST_AHEAD_YEARS ahead of it; the clock when not given).
    """
    if not isinstance(obj, dict):
        raise EventInvalid(f"an event must be a JSON object, got {_kind(obj)}")
    clean = _clean_canonical(obj)
    if clean is None and (fault := _payload_fault(obj)):
        raise EventInvalid(fault)
    etype = obj.get("type")
    if etype is None:
        raise EventInvalid("type: required (one of " + ", ".join(EVENT_TYPES) + ")")
    if not isinstance(etype, str) or etype not in _SCHEMA:
        raise EventInvalid(f"type: unknown type {etype!r:.60} (one of {', '.join(EVENT_TYPES)})")
    if obj.get("id") is None:
        raise EventInvalid("id: required (your identifier for this event, unique per type)")
    event_id = _check_str("id", obj["id"], limit=MAX_ID_LENGTH)
    source = _check_str("source", obj.get("source", default_source), limit=MAX_SOURCE_LENGTH)
    schema = _SCHEMA[etype]
    fields: dict[str, Any] = {}
    for name, kind in schema["required"].items():
        if obj.get(name) is None:
            raise EventInvalid(f"{name}: required for a {etype} event")
        fields[name] = _check_field(etype, name, kind, obj[name], now=now)
    optional = schema["optional"]
    for name, value in obj.items():  # the fields present, not every field the type allows
        kind = optional.get(name)
        if kind is not None and value is not None and value != "":  # "" stands for absent
            fields[name] = _check_field(etype, name, kind, value, now=now)
    if etype == "deployment":
        if "sha" not in fields and "version" not in fields:
            raise EventInvalid("sha or version: a deployment needs at least one of them")
        if fields["status"] != "running" and "finished_at" not in fields:
            raise EventInvalid(
                f"finished_at: required for a deployment with status {fields['status']}"
            )
    if etype == "out_of_band_change" and not fields["what"].strip():
        raise EventInvalid("what: must not be empty (what was changed, e.g. 'PutBucketPolicy')")
    if etype == "change" and fields["number"] < 0:
        raise EventInvalid("number: must be zero or positive")
    raw = dict(obj)
    raw["source"] = source
    given = obj.get("source")
    # The event as sent already says its source: raw is obj, and so is its canonical text.
    same = clean is not None and type(given) is str and given == source
    canonical = clean if same else _canonical(raw)
    return Event(
        source=source,
        type=etype,
        id=event_id,
        fields=fields,
        raw=raw,
        digest=hashlib.sha256(canonical.encode()).hexdigest(),
        canonical=canonical,
    )
