"""The explain lists: default orders, sort keys, filters, and durations in human units."""

from __future__ import annotations

from dora.item_lists import (
    filter_choices,
    filters_active,
    items_filtered,
    items_sorted,
    sort_parse,
    spec_of,
)

LEAD_COLUMNS = ["change", "service", "arrival", "lead_time_seconds"]
# Three changes: b arrived last, c is the slowest, d has no arrival/duration yet.
LEAD = [
    {"change": "a", "service": "x", "arrival": "2026-01-02T00:00:00Z", "lead_time_seconds": 600},
    {"change": "b", "service": "y", "arrival": "2026-01-03T00:00:00Z", "lead_time_seconds": 60},
    {"change": "c", "service": "x", "arrival": "2026-01-01T00:00:00Z", "lead_time_seconds": 9000},
    {"change": "d", "service": "y", "arrival": None, "lead_time_seconds": None},
]


def changes(rows: list) -> list[str]:
    return [r["change"] for r in rows]


def test_items_sorted_newest_first_by_default() -> None:
    spec = spec_of("lead_time")
    keys = sort_parse(None, spec, LEAD_COLUMNS)
    assert keys == ("-arrival",)
    assert changes(items_sorted(LEAD, keys, spec)) == ["b", "a", "c", "d"]


def test_items_sorted_by_duration_descending_puts_the_slowest_first() -> None:
    spec = spec_of("lead_time")
    keys = sort_parse("-duration", spec, LEAD_COLUMNS)
    assert changes(items_sorted(LEAD, keys, spec)) == ["c", "a", "b", "d"]  # d has none: last


def test_items_sorted_ascending_keeps_missing_values_last() -> None:
    spec = spec_of("lead_time")
    keys = sort_parse("duration", spec, LEAD_COLUMNS)
    assert changes(items_sorted(LEAD, keys, spec)) == ["b", "a", "c", "d"]


def test_sort_parse_ignores_a_column_the_list_does_not_have() -> None:
    spec = spec_of("lead_time")
    assert sort_parse("-nonsense", spec, LEAD_COLUMNS) == ("-arrival",)


CFR = [
    {"rollout": 1, "service": "x", "first_live_at": "2026-01-01T00:00:00Z", "failed": False,
     "causes": ""},
    {"rollout": 2, "service": "x", "first_live_at": "2026-01-02T00:00:00Z", "failed": True,
     "causes": "hotfix,incident"},
    {"rollout": 3, "service": "y", "first_live_at": "2026-01-03T00:00:00Z", "failed": False,
     "causes": ""},
    {"rollout": 4, "service": "y", "first_live_at": "2026-01-04T00:00:00Z", "failed": True,
     "causes": "revert"},
]  # fmt: skip
CFR_COLUMNS = ["service", "first_live_at", "failed", "causes"]


def test_change_failure_list_puts_failed_first_then_newest() -> None:
    spec = spec_of("change_failure_rate")
    keys = sort_parse(None, spec, CFR_COLUMNS)
    assert [r["rollout"] for r in items_sorted(CFR, keys, spec)] == [4, 2, 3, 1]


def test_filters_failed_only_service_and_cause() -> None:
    spec = spec_of("change_failure_rate")
    failed = filters_active(spec, {"failed": "1"})
    assert [r["rollout"] for r in items_filtered(CFR, spec, failed)] == [2, 4]
    by_service = filters_active(spec, {"of_service": "y"})
    assert [r["rollout"] for r in items_filtered(CFR, spec, by_service)] == [3, 4]
    # "incident" is one of rollout 2's two causes.
    by_cause = filters_active(spec, {"cause": "incident"})
    assert [r["rollout"] for r in items_filtered(CFR, spec, by_cause)] == [2]
    both = filters_active(spec, {"failed": "1", "of_service": "x", "team": "ignored"})
    assert both == {"failed": "1", "of_service": "x"}
    assert [r["rollout"] for r in items_filtered(CFR, spec, both)] == [2]


def test_filter_choices_offer_the_values_present() -> None:
    spec = spec_of("change_failure_rate")
    choices = {flt.param: values for flt, values in filter_choices(CFR, spec, CFR_COLUMNS)}
    assert choices == {"failed": [], "of_service": ["x", "y"], "cause": ["hotfix", "incident",
                                                                        "revert"]}  # fmt: skip


def test_value_stream_filters_by_stage() -> None:
    spec = spec_of("value_stream")
    rows = [{"stage": "review", "stage_start": "1"}, {"stage": "deploy", "stage_start": "2"}]
    active = filters_active(spec, {"stage": "review"})
    assert items_filtered(rows, spec, active) == [rows[0]]
