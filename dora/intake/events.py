"""Event intake (CONTRACT §1): `events_record()` validates with dora.intake.schema, then upserts."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

from dora import bulk
from dora.estate import EstateCache, UnknownServices
from dora.generation import facts_changed
from dora.intake import derive, records
from dora.intake.event_base import SERVICE_TYPES, Event
from dora.intake.event_base import (
    commit_reverted_sha as commit_reverted_sha,  # its callers import it here
)
from dora.intake.schema import DEFAULT_SOURCE, EVENT_TYPES, EventInvalid, event_validate
from dora.models import Commit, RawEvent
from dora.prometheus import intake_counted
from dora.retry import atomic_retry

BATCH_SIZE = 1000


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
    # Services without configuration that stored events named (DORA_UNKNOWN_SERVICES warn or
    # reject): kept even when the items are not (import_events prints them).
    unconfigured_services: set[str] = field(default_factory=set)
    refused_services: set[str] = field(default_factory=set)  # unknown, their events rejected

    def add(self, item: ItemResult) -> None:
        self.items.append(item)
        self.counts[item.status] += 1

    def merge(self, other: IntakeReport) -> None:
        for item in other.items:
            self.add(item)


_STALE_WARNING = (
    "not stored: the stored version of this event has a later updated_at than this one's "
    "({when}), so this older version was ignored"
)


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
    sent_by: str = "",
    allowed: Callable[[Event], str | None] | None = None,
    unknown_services: str | None = None,
) -> IntakeReport:
    """Validate and upsert events, then re-derive the facts they touch.

    Items may be dicts, or `EventInvalid` instances standing for input that could not even be
    parsed (the caller's line that was not JSON); those are reported as rejected in place.
    Each batch is one transaction that stores its records and marks the (service, environment)
    pairs they invalidate; the marked pairs are derived again at the end, and also after every
    `derive_every` events when given (bulk imports: fewer, larger derivations).
    defer_derivation only marks them: a caller recording many small pages derives once, with
    `dora.intake.derive.pending_derive()`, when it is done (the beat task derives what is left).
    With keep_items False only rejected items are kept in the report (streaming large files).
    `progress` is called with the number of events handled so far after each batch.
    `sent_by` is stored with each event (who sent it: token:<name>, webhook:<source>, ...);
    `allowed` says why a valid event may not be stored by this sender (a token's limits), or
    None: such an event is rejected with that reason.
    `unknown_services` (create, warn or reject; None: DORA_UNKNOWN_SERVICES and its default)
    says what an event naming a service that does not exist does (dora.estate.UnknownServices).
    """
    now = now or datetime.now(UTC)
    report = IntakeReport()
    estate = EstateCache()  # services, environments, targets: looked up once per call
    services = UnknownServices(unknown_services)
    offset = since_derived = 0
    for chunk in batches(events, batch_size):
        valid: list[tuple[int, Event]] = []
        for i, obj in enumerate(chunk, start=offset):
            try:
                if isinstance(obj, EventInvalid):
                    raise obj
                event = event_validate(obj, default_source=default_source, now=now)
                refusal = allowed(event) if allowed is not None else None
                if refusal:
                    raise EventInvalid(refusal)
                valid.append((i, event))
            except EventInvalid as exc:
                report.add(ItemResult(index=i, status="rejected", reason=str(exc)))
                intake_counted(_type_named(obj), "rejected")
        offset += len(chunk)
        valid, service_warnings = _services_check(valid, services, report)

        def batch_store(valid: list[tuple[int, Event]] = valid) -> list[str]:
            statuses, touched = _records_upsert(
                [e for _, e in valid], now=now, estate=estate, sent_by=sent_by
            )
            derive.touched_mark(touched)
            if any(status in ("created", "updated") for status in statuses):
                facts_changed()
            return statuses

        statuses = atomic_retry(batch_store, on_retry=estate.forget)
        warnings = _unknown_sha_warnings([e for _, e in valid]) if keep_items else {}
        for (i, event), status in zip(valid, statuses, strict=True):
            warning = "; ".join(
                w for w in (service_warnings.get(event.key), warnings.get(event.key)) if w
            )
            warning = warning or None
            if status == "stale":
                status, warning = "unchanged", _STALE_WARNING.format(when=event.source_time)
            item = ItemResult(index=i, status=status, key=":".join(event.key), warning=warning)
            intake_counted(event.type, status)
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


def _type_named(item: Any) -> str:
    """The event type a rejected item names, for the rejection counter: a known type or
    'unknown' (never the sender's free text as a label value)."""
    named = item.get("type") if isinstance(item, Mapping) else None
    return named if isinstance(named, str) and named in EVENT_TYPES else "unknown"


def _services_check(
    valid: list[tuple[int, Event]], services: UnknownServices, report: IntakeReport
) -> tuple[list[tuple[int, Event]], dict[tuple[str, str, str], str]]:
    """The events of a batch that may be stored, and their warnings, by what their service is
    (DORA_UNKNOWN_SERVICES); the others are rejected into `report`. Nothing else is lost."""
    rejections, warnings = services.check(
        e.fields["service"] for _, e in valid if e.type in SERVICE_TYPES
    )
    report.unconfigured_services |= set(warnings)
    report.refused_services |= set(rejections)
    if not rejections and not warnings:
        return valid, {}
    kept: list[tuple[int, Event]] = []
    warned: dict[tuple[str, str, str], str] = {}
    for i, event in valid:
        name = event.fields.get("service") if event.type in SERVICE_TYPES else None
        if name in rejections:
            reason = rejections[name]
            repo = event.fields.get("repo", "")
            if repo and repo.rsplit("/", 1)[-1] == name:  # the GitHub adapter's fallback name
                reason += (
                    f" A source names a service after its repository when no service lists "
                    f"it: add {repo} to a service's repos."
                )
            report.add(ItemResult(index=i, status="rejected", reason=reason))
            intake_counted(event.type, "rejected")
            continue
        if name in warnings:
            warned[event.key] = warnings[name]
        kept.append((i, event))
    return kept, warned


def _supersedes(new: Event, old: tuple[str, datetime | None]) -> bool:
    """Whether `new` replaces a stored version (digest, updated_at): records._RAW_APPLIES."""
    digest, source_time = old
    return new.digest != digest and (
        source_time is None or new.source_time is None or new.source_time >= source_time
    )


def _records_upsert(
    events: list[Event],
    *,
    now: datetime,
    estate: EstateCache | None = None,
    sent_by: str = "",
) -> tuple[list[str], Any]:
    """Store raw events and records; return each event's status and what to derive again.

    Statuses are created, updated, unchanged, or stale (not stored: the stored version has a
    later updated_at; reported as unchanged with a warning).
    """
    touched = derive.Touched()
    if not events:
        return [], touched
    # Within one batch the same key may repeat: its versions are applied in order by the rule
    # that applies against the stored version, each reporting against the one before it.
    winners: dict[tuple[str, str, str], Event] = {}
    repeated: set[tuple[str, str, str]] = set()
    for event in events:
        current = winners.get(event.key)
        if current is None:
            winners[event.key] = event
        else:
            repeated.add(event.key)
            if _supersedes(event, (current.digest, current.source_time)):
                winners[event.key] = event
    before: dict[tuple[str, str, str], Any] = {}
    if repeated:
        before = bulk.rows_by_key(
            RawEvent, ["source", "type", "external_id"], ["digest", "source_updated_at"], repeated
        )
    stored = records.raw_store(list(winners.values()), now=now, sent_by=sent_by)
    statuses: list[str] = []
    state: dict[tuple[str, str, str], tuple[str, datetime | None] | None] = {}
    for event in events:
        key = event.key
        if key not in repeated:
            statuses.append(stored[key])
            continue
        if key not in state:
            state[key] = None if stored[key] == "created" else before.get(key)
        previous = state[key]
        if previous is None:
            statuses.append("created")
        elif previous[0] == event.digest:
            statuses.append("unchanged")
        elif _supersedes(event, previous):
            statuses.append("updated")
        else:
            statuses.append("stale")
            continue
        state[key] = (event.digest, event.source_time)
    changed = [e for k, e in winners.items() if stored[k] in ("created", "updated")]
    if changed:
        records.records_store(
            changed, estate=estate or EstateCache(), touched=touched, now=now, sent_by=sent_by
        )
    return statuses, touched


def _unknown_sha_warnings(events: list[Event]) -> dict[tuple[str, str, str], str]:
    """Deployments naming a sha no commit event has described yet: stored, but say so."""
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
