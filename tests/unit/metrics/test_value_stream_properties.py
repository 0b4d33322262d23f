"""dora.metrics.value_stream against a brute-force reading of METRICS §5 on random histories:
each change's stages walked one by one, machine process time as the measure of the union of its
runs inside each stage, minute by minute."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from dora.metrics.value_stream import value_stream

BASE = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
SINCE, UNTIL = BASE + timedelta(minutes=30), BASE + timedelta(minutes=200)
# The machine and wait stages (no "active" coding stage: its business hours are tested apart).
COLUMNS = ("merged_at", "build_at", "production_approved_at", "arrived_at", "estate_reached_at")
KINDS = {
    "build_at": "machine",
    "production_approved_at": "wait",
    "arrived_at": "machine",
    "estate_reached_at": "machine",
}
NAMES = {
    "build_at": "build",
    "production_approved_at": "approval",
    "arrived_at": "production",
    "estate_reached_at": "rollout",
}

minute = st.integers(min_value=0, max_value=240)
change = st.fixed_dictionaries({column: st.none() | minute for column in COLUMNS})
run = st.tuples(minute, minute)  # (start, finish), finish may precede start


def _at(minutes: int | None) -> datetime | None:
    return None if minutes is None else BASE + timedelta(minutes=minutes)


def _expected(history: dict[int, tuple[dict, list]]) -> dict[tuple[int, str], tuple]:
    """(change, stage) -> (elapsed minutes, process minutes, anomaly), stage by stage."""
    out = {}
    for change_id, (events, runs) in history.items():
        reach = None
        for column in COLUMNS:
            moment = events[column]
            if moment is None:
                continue
            if reach is not None:
                start, end = reach, max(reach, moment)
                process = 0
                if KINDS[column] == "machine":
                    # Minutes of the stage inside some run (a run [s, f) with f <= s is none).
                    process = sum(1 for m in range(start, end) if any(s <= m < f for s, f in runs))
                out[(change_id, NAMES[column])] = (end - start, process, moment < reach)
            reach = moment if reach is None else max(reach, moment)
    return out


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(
        st.integers(min_value=1, max_value=40),
        st.tuples(change, st.lists(run, max_size=5)),
        max_size=8,
    )
)
def test_stages_and_machine_time_match_a_brute_force_walk(history: dict) -> None:
    ids = list(history)[::-1]  # not in id order
    frame = pd.DataFrame(
        {
            "change_id": pd.Series(ids, dtype="int64"),
            "start": pd.Series([None] * len(ids), dtype="datetime64[us, UTC]"),
            "created_at": pd.Series([None] * len(ids), dtype="datetime64[us, UTC]"),
            "first_review_at": pd.Series([None] * len(ids), dtype="datetime64[us, UTC]"),
            **{
                column: pd.Series(
                    [_at(history[i][0][column]) for i in ids], dtype="datetime64[us, UTC]"
                )
                for column in COLUMNS
            },
        }
    )
    runs = [(i, s, f) for i in ids for s, f in history[i][1]][::-1]  # interleaved, reversed
    intervals = pd.DataFrame(
        {
            "change_id": pd.Series([i for i, _, _ in runs], dtype="int64"),
            "started_at": pd.Series([_at(s) for _, s, _ in runs], dtype="datetime64[us, UTC]"),
            "finished_at": pd.Series([_at(f) for _, _, f in runs], dtype="datetime64[us, UTC]"),
        }
    )
    result = value_stream(frame, since=SINCE, until=UNTIL, intervals=intervals)
    items = result.items
    got = {
        (row.change_id, row.stage): (
            row.elapsed_seconds / 60,
            row.process_seconds / 60,
            bool(row.anomaly),
        )
        for row in items.itertuples(index=False)
    }
    assert got == _expected(history)
    # Sorted by change, then by the stages' order.
    order = [COLUMNS.index(next(c for c, n in NAMES.items() if n == s)) for s in items["stage"]]
    assert list(zip(items["change_id"], order, strict=True)) == sorted(
        zip(items["change_id"], order, strict=True)
    )
    placed = items[items["in_window"]]
    for stage in result.stages.itertuples(index=False):
        rows = placed[placed["stage"] == stage.name]
        assert stage.n == len(rows)
        assert stage.process_seconds == rows["process_seconds"].sum()
