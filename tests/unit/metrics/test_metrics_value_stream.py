"""dora.metrics.value_stream: stages, skips, anomalies, process time, flow efficiency (§5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from dora.metrics.value_stream import business_seconds, value_stream

H = 3600.0
MIN = 60.0
# Monday 2 March 2026.
MON = datetime(2026, 3, 2, tzinfo=UTC)
SINCE, UNTIL = MON, MON + timedelta(days=7)


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Day 0 = Monday."""
    return MON + timedelta(days=day, hours=hour, minutes=minute)


EVENT_COLUMNS = (
    "issue_created_at",
    "start",
    "created_at",
    "first_review_at",
    "merged_at",
    "build_at",
    "production_approved_at",
    "arrived_at",
    "estate_reached_at",
)


def changes(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame([{c: None for c in EVENT_COLUMNS} | row for row in rows])
    for column in EVENT_COLUMNS:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def example_7_2() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    # metrics-background §7.2 (business hours 09:00-17:00 Mon-Fri).
    change = changes(
        [
            {
                "change_id": 1,
                "issue_created_at": at(0, 9),  # E0 Mon 09:00
                "start": at(0, 13),  # E2 first commit Mon 13:00
                "created_at": at(1, 10),  # E3 PR opened Tue 10:00
                "first_review_at": at(1, 15),  # E4 Tue 15:00
                "merged_at": at(2, 9, 30),  # E6 Wed 09:30
                "build_at": at(2, 9, 55),  # E7 CI (queued 09:31) ran 09:35-09:55
                "production_approved_at": at(3, 14),  # E9 Thu 14:00
                "arrived_at": at(3, 14, 25),  # E10 prod deploy ran 14:05-14:25
            }
        ]
    )
    preprod = pd.DataFrame(
        {
            "change_id": [1],
            "environment": ["staging"],
            "order": [3],
            "first_live_at": pd.to_datetime([at(2, 10, 10)], utc=True),  # ran 10:00-10:10
        }
    )
    runs = pd.DataFrame(
        {
            "change_id": [1, 1, 1],
            "started_at": pd.to_datetime([at(2, 9, 35), at(2, 10), at(3, 14, 5)], utc=True),
            "finished_at": pd.to_datetime([at(2, 9, 55), at(2, 10, 10), at(3, 14, 25)], utc=True),
        }
    )
    return change, preprod, runs


def test_worked_example_7_2() -> None:
    change, preprod, runs = example_7_2()
    result = value_stream(change, since=SINCE, until=UNTIL, preprod=preprod, intervals=runs)
    stages = result.stages.set_index("name")
    elapsed = stages["p50_seconds"].to_dict()
    # Backlog Mon 09:00 -> 13:00 = 4 h; coding Mon 13:00 -> Tue 10:00 = 21 h; pickup 10:00 ->
    # 15:00 = 5 h; review Tue 15:00 -> Wed 09:30 = 18 h 30 m; build 09:30 -> 09:55 = 25 m;
    # staging 09:55 -> 10:10 = 15 m; approval Wed 10:10 -> Thu 14:00 = 27 h 50 m; production
    # 14:00 -> 14:25 = 25 m.
    assert elapsed == {
        "backlog": 4 * H,
        "coding": 21 * H,
        "pickup": 5 * H,
        "review": 18.5 * H,
        "build": 25 * MIN,
        "deploy:staging": 15 * MIN,
        "approval": 27 * H + 50 * MIN,
        "production": 25 * MIN,
    }
    # Process: coding's business hours Mon 13-17 (4 h) + Tue 9-10 (1 h) = 5 h; build 20 m;
    # staging 10 m; production 20 m. Total 300 + 20 + 10 + 20 = 350 min.
    process = stages["process_seconds"].to_dict()
    assert process["coding"] == 5 * H
    assert (process["build"], process["deploy:staging"], process["production"]) == (
        20 * MIN,
        10 * MIN,
        20 * MIN,
    )
    assert process["approval"] == 0 and process["review"] == 0
    # E0 -> E10 = Mon 09:00 -> Thu 14:25 = 72 h + 5 h 25 m = 4645 min; 350 / 4645 = 7.5%.
    assert stages["elapsed_seconds"].sum() == 4645 * MIN
    assert result.flow_efficiency == pytest.approx(350 / 4645)
    assert round(result.flow_efficiency, 3) == 0.075
    # Delivery (E2 -> E10 = 73 h 25 m = 4405 min): 350 / 4405.
    assert result.delivery_flow_efficiency == pytest.approx(350 / 4405)
    # Approval: 1670 of 4645 min = 36% -> the bottleneck.
    assert round(stages.loc["approval", "elapsed_seconds"] / (4645 * MIN), 2) == 0.36
    assert result.bottleneck == "approval"
    assert result.as_dict()["stages"][0] == {
        "name": "backlog",
        "n": 1,
        "p50_seconds": 4 * H,
        "p90_seconds": 4 * H,
    }


def test_missing_event_skips_its_stage() -> None:
    # No first review recorded: pickup is skipped (not 0) and review runs from the PR opening.
    frame = changes(
        [{"change_id": 1, "start": at(0, 9), "created_at": at(0, 12), "merged_at": at(0, 18)}]
    )
    stages = value_stream(frame, since=SINCE, until=UNTIL).stages.set_index("name")
    assert "pickup" not in stages.index
    # coding 09:00 -> 12:00 = 3 h; review 12:00 -> 18:00 = 6 h.
    assert stages["p50_seconds"].to_dict() == {"coding": 3 * H, "review": 6 * H}


def test_out_of_order_events_clamp_to_zero_and_count() -> None:
    # Reviewed at 11:00, before the PR was opened at 12:00 (E4 < E3).
    frame = changes(
        [
            {
                "change_id": 1,
                "start": at(0, 9),
                "created_at": at(0, 12),
                "first_review_at": at(0, 11),
                "merged_at": at(0, 18),
            }
        ]
    )
    result = value_stream(frame, since=SINCE, until=UNTIL)
    stages = result.stages.set_index("name")
    # pickup clamps to 0; review runs from the latest time seen (12:00): 6 h; 3 + 0 + 6 = 9 h.
    assert stages.loc["pickup", "p50_seconds"] == 0
    assert stages.loc["review", "p50_seconds"] == 6 * H
    assert (result.anomalies, stages.loc["pickup", "anomalies"]) == (1, 1)


def test_stages_are_placed_by_their_end_event() -> None:
    frame = changes(
        [{"change_id": 1, "start": at(-3, 9), "created_at": at(-1, 9), "merged_at": at(0, 9)}]
    )
    stages = value_stream(frame, since=SINCE, until=UNTIL).stages.set_index("name")
    # Coding ended before the window (n = 0); review ended inside it.
    assert (stages.loc["coding", "n"], stages.loc["review", "n"]) == (0, 1)


def test_p50_and_p90_over_changes() -> None:
    # Coding lasts 1..10 h for ten changes: p50 position 4.5 -> 5.5 h; p90 position 8.1 -> 9.1 h.
    frame = changes(
        [
            {"change_id": i, "start": at(1, 0), "created_at": at(1, 0) + timedelta(hours=i)}
            for i in range(1, 11)
        ]
    )
    coding = value_stream(frame, since=SINCE, until=UNTIL).as_dict()["stages"][0]
    assert coding == {
        "name": "coding",
        "n": 10,
        "p50_seconds": 5.5 * H,
        "p90_seconds": pytest.approx(9.1 * H),
    }


def test_overlapping_runs_count_once() -> None:
    # Two CI jobs 09:00-09:30 and 09:20-09:40 inside a build stage 09:00 -> 10:00: union 40 min.
    frame = changes([{"change_id": 1, "merged_at": at(0, 9), "build_at": at(0, 10)}])
    runs = pd.DataFrame(
        {
            "change_id": [1, 1],
            "started_at": pd.to_datetime([at(0, 9), at(0, 9, 20)], utc=True),
            "finished_at": pd.to_datetime([at(0, 9, 30), at(0, 9, 40)], utc=True),
        }
    )
    stages = value_stream(frame, since=SINCE, until=UNTIL, intervals=runs).stages
    build = stages.set_index("name").loc["build"]
    assert (build["process_seconds"], build["wait_seconds"]) == (40 * MIN, 20 * MIN)


def test_business_seconds_skip_nights_and_weekends() -> None:
    starts = pd.Series(pd.to_datetime([at(4, 16), at(0, 8), at(5, 10)], utc=True))
    ends = pd.Series(pd.to_datetime([at(7, 10), at(0, 18), at(6, 12)], utc=True))
    # Fri 16:00 -> Mon 10:00: Fri 1 h + Mon 1 h = 2 h. Mon 08:00 -> 18:00: 8 h. Sat -> Sun: 0.
    assert list(business_seconds(starts, ends)) == [2 * H, 8 * H, 0.0]


def test_no_changes_gives_empty_stages() -> None:
    result = value_stream(changes([{"change_id": 1}]).iloc[0:0], since=SINCE, until=UNTIL)
    assert result.as_dict() == {"stages": [], "flow_efficiency": None}


def test_runs_of_several_changes_are_matched_to_each_change_and_stage() -> None:
    # Change 7 (listed first): merged 09:00, built 09:30, live 12:00; CI 09:00-09:10 (build),
    # a deploy 11:00-11:05 (production). Change 3: merged 10:00, built 11:00, live 13:00; runs
    # given out of order and interleaved with change 7's: 10:00-10:20 with 10:10-10:15 inside it
    # (one block), 10:50-11:30 across build and production, and 12:00 "finishing" at 11:20 (a
    # block of no time). Build: change 3 20 + 10 = 30 min, change 7 10 min; production:
    # change 3 30 min, change 7 5 min.
    frame = changes(
        [
            {"change_id": 7, "merged_at": at(0, 9), "build_at": at(0, 9, 30),
             "arrived_at": at(0, 12)},
            {"change_id": 3, "merged_at": at(0, 10), "build_at": at(0, 11),
             "arrived_at": at(0, 13)},
        ]
    )  # fmt: skip
    runs = pd.DataFrame(
        {
            "change_id": [3, 7, 3, 3, 7, 3],
            "started_at": pd.to_datetime(
                [at(0, 10, 50), at(0, 11), at(0, 12), at(0, 10, 10), at(0, 9), at(0, 10)],
                utc=True,
            ),
            "finished_at": pd.to_datetime(
                [
                    at(0, 11, 30),
                    at(0, 11, 5),
                    at(0, 11, 20),
                    at(0, 10, 15),
                    at(0, 9, 10),
                    at(0, 10, 20),
                ],
                utc=True,
            ),  # fmt: skip
        }
    )
    result = value_stream(frame, since=SINCE, until=UNTIL, intervals=runs)
    items = result.items.set_index(["change_id", "stage"])["process_seconds"].to_dict()
    assert items == {
        (3, "build"): 30 * MIN,
        (3, "production"): 30 * MIN,
        (7, "build"): 10 * MIN,
        (7, "production"): 5 * MIN,
    }
    assert list(result.items["change_id"]) == [3, 3, 7, 7]  # by change, then stage
    stages = result.stages.set_index("name")
    assert stages.loc["build", "p50_seconds"] == 45 * MIN  # elapsed 60 and 30 min
    assert (
        stages.loc["build", "process_seconds"],
        stages.loc["production", "process_seconds"],
    ) == (
        40 * MIN,
        35 * MIN,
    )
    # First event to production: 180 min each.
    assert result.flow_efficiency == pytest.approx(75 / 360)
