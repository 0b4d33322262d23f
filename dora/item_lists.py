"""The explain page's item lists: each figure's default order, its sort keys and its filters.

Pure Python over the records `dora.reads.report_items.frame_records` returns (plain dicts, ISO
timestamps as text, durations in seconds): the page sorts and filters the figure's whole list, then
pages it. A `sort=` value names one column (`sort=arrival`, `sort=-duration`: a leading minus is
descending); `duration` stands for the figure's own duration column. Items without a value go
last in either direction, so "slowest first" never starts with the unfinished ones.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

DURATION = "duration"


@dataclass(frozen=True)
class Filter:
    """One filter of a list: its URL parameter, the column it reads and how it matches."""

    param: str
    column: str
    label: str
    # "flag": keeps the items whose column is true (parameter value "1");
    # "value": keeps the items whose column equals the chosen value;
    # "member": keeps the items whose comma-separated column holds the chosen value.
    kind: str


FAILED = Filter("failed", "failed", "failed only", "flag")
SERVICE = Filter("of_service", "service", "service", "value")
STAGE = Filter("stage", "stage", "stage", "value")


@dataclass(frozen=True)
class ListSpec:
    """How one figure's items are listed: `time` orders newest first by default, `duration` is
    what `sort=duration` means, `default` the order without `sort=` (keys as in the URL)."""

    time: str
    duration: str | None = None
    default: tuple[str, ...] = ()
    filters: tuple[Filter, ...] = (SERVICE,)
    # One-click orders shown above the list: (label, sort value).
    quick: tuple[tuple[str, str], ...] = field(default=())

    def default_sort(self) -> tuple[str, ...]:
        return self.default or (f"-{self.time}",)


SPECS: dict[str, ListSpec] = {
    "deployment_frequency": ListSpec("first_live_at", "gap_seconds"),
    "lead_time": ListSpec(
        "arrival",
        "lead_time_seconds",
        quick=(("Newest first", "-arrival"), ("Slowest first", "-duration")),
    ),
    "merge_to_production": ListSpec(
        "arrival",
        "merge_to_production_seconds",
        quick=(("Newest first", "-arrival"), ("Slowest first", "-duration")),
    ),
    "change_failure_rate": ListSpec(
        "first_live_at",
        default=("-failed", "-first_live_at"),
        filters=(FAILED, SERVICE, Filter("cause", "causes", "cause", "member")),
        quick=(("Failed first", "-failed"), ("Newest first", "-first_live_at")),
    ),
    "deploy_failure_rate": ListSpec(
        "finished_at",
        default=("-failed", "-finished_at"),
        filters=(FAILED, SERVICE),
        quick=(("Failed first", "-failed"), ("Newest first", "-finished_at")),
    ),
    "recovery_time": ListSpec(
        "first_live_at",
        "recovery_seconds",
        filters=(SERVICE, Filter("failure", "failure", "failure", "value")),
        quick=(("Newest first", "-first_live_at"), ("Slowest first", "-duration")),
    ),
    "time_to_restore": ListSpec(
        "impact_start",
        "restore_seconds",
        filters=(SERVICE, Filter("cause", "cause", "cause", "value")),
        quick=(("Newest first", "-impact_start"), ("Slowest first", "-duration")),
    ),
    "rework_rate": ListSpec(
        "first_live_at",
        filters=(Filter("rework", "rework", "rework only", "flag"), SERVICE),
    ),
    "lead_time_all_targets": ListSpec(
        "arrival",
        "lead_time_all_targets_seconds",
        quick=(("Newest first", "-arrival"), ("Slowest first", "-duration")),
    ),
    "rollout_lag": ListSpec(
        "arrival",
        "rollout_lag_seconds",
        quick=(("Newest first", "-arrival"), ("Slowest first", "-duration")),
    ),
    "version_spread": ListSpec("finished_at"),
    "automation_lag": ListSpec(
        "last_success_at",
        "lag_seconds",
        filters=(SERVICE, Filter("stale", "stale", "stale only", "flag")),
        quick=(("Most lagging first", "-duration"),),
    ),
    "out_of_band_changes": ListSpec(
        "changed_at",
        filters=(SERVICE, Filter("environment", "environment", "environment", "value")),
    ),
    "value_stream": ListSpec(
        "stage_start",
        "elapsed_seconds",
        filters=(STAGE,),
        quick=(("Newest first", "-stage_start"), ("Slowest first", "-duration")),
    ),
}


def spec_of(name: str) -> ListSpec:
    """The list spec of figure `name` (newest first by `first_live_at` when none is written)."""
    return SPECS.get(name, ListSpec("first_live_at"))


def sort_key_of(column: str, spec: ListSpec) -> str:
    """The `sort=` key of a column: `duration` for the figure's duration, else its name."""
    return DURATION if column == spec.duration else column


def column_of(key: str, spec: ListSpec) -> str:
    return spec.duration if key == DURATION and spec.duration else key


def sort_parse(value: str | None, spec: ListSpec, columns: Sequence[str]) -> tuple[str, ...]:
    """The `sort=` value as keys (`-arrival`); the figure's default when absent or naming no
    listed column (a stale link still shows the list rather than an error)."""
    if not value:
        return spec.default_sort()
    keys = []
    for part in value.split(","):
        part = part.strip()
        name = part.removeprefix("-")
        if name and column_of(name, spec) in columns:
            keys.append(part)
    return tuple(keys) or spec.default_sort()


def _comparable(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    return value


def items_sorted(
    records: Sequence[Mapping[str, Any]], keys: Sequence[str], spec: ListSpec
) -> list[Mapping[str, Any]]:
    """`records` ordered by `keys` (first key first; `-` descending); a missing value (None)
    goes last whichever the direction; ties keep the newest first, then the given order."""
    rows = list(records)
    tie = f"-{spec.time}"
    order = list(keys) + ([tie] if tie not in keys and spec.time not in keys else [])
    for key in reversed(order):  # stable sorts, least significant key first
        descending = key.startswith("-")
        column = column_of(key.removeprefix("-"), spec)
        present = [r for r in rows if r.get(column) is not None]
        missing = [r for r in rows if r.get(column) is None]
        present.sort(key=lambda r: _comparable(r[column]), reverse=descending)
        rows = present + missing
    return rows


def _matches(record: Mapping[str, Any], flt: Filter, chosen: str) -> bool:
    value = record.get(flt.column)
    if flt.kind == "flag":
        return bool(value)
    if value is None:
        return False
    if flt.kind == "member":
        return chosen in [part.strip() for part in str(value).split(",")]
    return str(value) == chosen


def filters_active(spec: ListSpec, params: Mapping[str, str]) -> dict[str, str]:
    """The filters of `spec` that the URL sets: parameter -> chosen value (flags: "1")."""
    active = {}
    for flt in spec.filters:
        chosen = (params.get(flt.param) or "").strip()
        if flt.kind == "flag":
            if chosen in ("1", "yes", "true", "on"):
                active[flt.param] = "1"
        elif chosen:
            active[flt.param] = chosen
    return active


def items_filtered(
    records: Sequence[Mapping[str, Any]], spec: ListSpec, active: Mapping[str, str]
) -> list[Mapping[str, Any]]:
    """The records every active filter keeps."""
    rows = list(records)
    for flt in spec.filters:
        if flt.param in active:
            rows = [r for r in rows if _matches(r, flt, active[flt.param])]
    return rows


def filter_choices(
    records: Sequence[Mapping[str, Any]], spec: ListSpec, columns: Sequence[str]
) -> list[tuple[Filter, list[str]]]:
    """The filters that apply to this list (their column is listed and has a value), each with
    its choices (sorted distinct values; none for a flag)."""
    out = []
    for flt in spec.filters:
        if flt.column not in columns:
            continue
        values = [r.get(flt.column) for r in records]
        if flt.kind == "flag":
            if any(values):
                out.append((flt, []))
            continue
        seen: set[str] = set()
        for value in values:
            if value is None or value == "":
                continue
            parts = str(value).split(",") if flt.kind == "member" else [str(value)]
            seen |= {p.strip() for p in parts if p.strip()}
        if len(seen) > 1 or (seen and flt.param in ("cause", "stage", "failure")):
            out.append((flt, sorted(seen)))
    return out
