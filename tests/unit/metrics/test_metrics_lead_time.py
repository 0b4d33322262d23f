"""dora.metrics.lead_time: change lead time, merge-to-production, the change start rule."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from dora.metrics.lead_time import change_start, lead_time_for_changes
from dora.metrics.levels import level_for_category

H = 3600.0
SINCE = datetime(2026, 3, 1, tzinfo=UTC)
UNTIL = datetime(2026, 3, 29, tzinfo=UTC)


def t(day: int, hour: float = 0, minute: int = 0) -> datetime:
    """A moment in March 2026, UTC."""
    return datetime(2026, 3, day, tzinfo=UTC) + timedelta(hours=hour, minutes=minute)


def arrivals(rows: list[dict]) -> pd.DataFrame:
    base = {
        "commit_sha": "",
        "service": "checkout",
        "rollout_id": 1,
        "merged_at": None,
        "unattributed": False,
    }
    frame = pd.DataFrame([{**base, **row} for row in rows])
    for column in ("start", "merged_at", "arrived_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def example() -> pd.DataFrame:
    # metrics-background §4.2.
    return arrivals(
        [
            {"change_id": 101, "start": t(4, 9), "merged_at": t(5, 8), "arrived_at": t(5, 10)},
            {
                "change_id": 102,
                "start": t(1, 13),
                "merged_at": t(5, 9, 30),
                "arrived_at": t(5, 10),
            },
            {
                "change_id": 103,
                "start": t(6, 10),
                "merged_at": t(7, 14),
                "arrived_at": t(7, 16),
                "rollout_id": 2,
            },
        ]
    )


def test_worked_example_4_2() -> None:
    result = lead_time_for_changes(example(), since=SINCE, until=UNTIL)
    items = result.items.set_index("change_id")
    # PR-101: Mar 4 09:00 -> Mar 5 10:00 = 25 h; merge 08:00 -> 10:00 = 2 h.
    # PR-102: Mar 1 13:00 -> Mar 5 10:00 = 4 d - 3 h = 93 h; merge 09:30 -> 10:00 = 0.5 h.
    # PR-103: Mar 6 10:00 -> Mar 7 16:00 = 30 h; merge 14:00 -> 16:00 = 2 h.
    assert list(items["lead_time_seconds"]) == [25 * H, 93 * H, 30 * H]
    assert list(items["merge_to_production_seconds"]) == [2 * H, 0.5 * H, 2 * H]
    # p50 of {25, 30, 93} h = 30 h -> D4; merge p50 of {0.5, 2, 2} h = 2 h -> D5.
    assert (result.duration.p50, result.duration.category) == (30 * H, "D4")
    assert (result.merge_to_production.p50, result.merge_to_production.category) == (2 * H, "D5")
    # n = 3 < 10: no badge, though D4 is "high" in 2021, 2023 and 2024 ...
    assert result.duration.level is None and result.merge_to_production.level is None
    assert {y: level_for_category("lead_time", "D4", y) for y in (2021, 2023, 2024)} == {
        2021: "high",
        2023: "high",
        2024: "high",
    }
    # ... and merge-to-prod's D5 is "elite" in 2023 and 2024.
    assert {y: level_for_category("lead_time", "D5", y) for y in (2023, 2024)} == {
        2023: "elite",
        2024: "elite",
    }


def test_squash_and_rebase_start_from_the_pr_commit_list() -> None:
    # PR-101 was squashed: the squash commit on trunk is dated at the merge (Mar 5 08:00), but its
    # own commits were authored from Mar 4 09:00; a rebase keeps author dates the same way.
    first_authored = pd.Series(pd.to_datetime([t(4, 9), None, t(6, 0)], utc=True))
    created = pd.Series(pd.to_datetime([t(4, 12), t(3, 8), t(2, 0)], utc=True))
    merged = pd.Series(pd.to_datetime([t(5, 8), t(5, 8), t(5, 8)], utc=True))
    starts = change_start(first_authored, created, merged)
    # 1: earliest authored. 2: no commit list -> created_at. 3: authored after merge -> created_at.
    assert list(starts) == list(pd.to_datetime([t(4, 9), t(3, 8), t(2, 0)], utc=True))


def test_first_rollout_changes_are_counted_not_timed() -> None:
    frame = arrivals(
        [
            {"change_id": 1, "start": t(2), "arrived_at": t(3), "unattributed": True},
            {"change_id": 2, "start": t(2), "arrived_at": t(3), "unattributed": True},
            {"change_id": 3, "start": t(4), "arrived_at": t(4, 5)},
        ]
    )
    result = lead_time_for_changes(frame, since=SINCE, until=UNTIL)
    assert (result.unattributed, result.duration.n, result.duration.p50) == (2, 1, 5 * H)
    assert result.as_dict()["unattributed"] == 2


def test_durations_at_or_below_zero_are_invalid() -> None:
    frame = arrivals(
        [
            {"change_id": 1, "start": t(3), "arrived_at": t(3)},  # 0 s
            {"change_id": 2, "start": t(3, 2), "arrived_at": t(3)},  # -2 h (clock skew)
            {"change_id": 3, "start": t(2), "arrived_at": t(3)},  # 24 h
        ]
    )
    result = lead_time_for_changes(frame, since=SINCE, until=UNTIL)
    assert (result.invalid, result.duration.n, result.duration.p50) == (2, 1, 24 * H)
    assert list(result.items["invalid"]) == [True, True, False]


def test_ten_changes_earn_a_badge_and_a_median_ci() -> None:
    # Lead times 1..10 h. p50 at position 4.5 -> 5.5 h; p75 at 6.75 -> 7.75 h; p90 at 8.1 -> 9.1 h.
    # n = 10 -> k = 2: CI [x2, x9] = [2 h, 9 h]. 5.5 h -> D5 -> 2024 elite (n >= 10).
    frame = arrivals(
        [{"change_id": i, "start": t(10), "arrived_at": t(10, i)} for i in range(1, 11)]
    )
    result = lead_time_for_changes(frame, since=SINCE, until=UNTIL, benchmark=2024)
    assert result.as_dict() == {
        "n": 10,
        "p50_seconds": 5.5 * H,
        "p75_seconds": pytest.approx(7.75 * H),
        "p90_seconds": pytest.approx(9.1 * H),
        "median_ci95_seconds": [2 * H, 9 * H],
        "category": "D5",
        "level": "elite",
        "invalid": 0,
        "unattributed": 0,
    }


def test_arrivals_are_placed_by_arrived_at_half_open() -> None:
    frame = arrivals(
        [
            {"change_id": 1, "start": t(1) - timedelta(days=3), "arrived_at": SINCE},
            {"change_id": 2, "start": t(20), "arrived_at": UNTIL},
        ]
    )
    result = lead_time_for_changes(frame, since=SINCE, until=UNTIL)
    assert list(result.items["change_id"]) == [1]


def test_direct_pushes_are_changes_by_sha() -> None:
    frame = arrivals(
        [
            {"change_id": None, "commit_sha": "abc", "start": t(3), "arrived_at": t(3, 1)},
            {"change_id": None, "commit_sha": "def", "start": t(3), "arrived_at": t(3, 3)},
        ]
    )
    result = lead_time_for_changes(frame, since=SINCE, until=UNTIL)
    # Two distinct changes (by sha): 1 h and 3 h -> p50 2 h; no merged_at -> no merge figure.
    assert (result.duration.n, result.duration.p50) == (2, 2 * H)
    assert result.merge_to_production.n == 0


def test_no_arrivals_gives_null_figures() -> None:
    empty = arrivals([{"change_id": 1, "start": t(1), "arrived_at": t(2)}]).iloc[0:0]
    result = lead_time_for_changes(empty, since=SINCE, until=UNTIL)
    assert result.as_dict()["n"] == 0 and result.as_dict()["p50_seconds"] is None


def test_a_change_arriving_twice_counts_once_at_its_first_arrival() -> None:
    frame = arrivals(
        [
            {"change_id": 5, "start": t(2), "arrived_at": t(3), "rollout_id": 1},
            {"change_id": 5, "start": t(2), "arrived_at": t(4), "rollout_id": 2},
        ]
    )
    result = lead_time_for_changes(frame, since=SINCE, until=UNTIL)
    assert (result.duration.n, result.duration.p50) == (1, 24 * H)
