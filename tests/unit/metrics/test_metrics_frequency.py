"""dora.metrics.frequency: deployment frequency, its category and level (METRICS §3.1)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from dora.metrics.frequency import deployment_frequency

# Monday 2 March 2026, 00:00 UTC: the window of the worked example is 4 ISO weeks from here.
MON = datetime(2026, 3, 2, tzinfo=UTC)
H = 3600.0


def rollouts(*rows: tuple[datetime, str] | datetime, service: str = "checkout") -> pd.DataFrame:
    live = [r[0] if isinstance(r, tuple) else r for r in rows]
    kinds = [r[1] if isinstance(r, tuple) else "change" for r in rows]
    return pd.DataFrame(
        {
            "rollout_id": range(1, len(rows) + 1),
            "service": service,
            "environment": "production",
            "kind": kinds,
            "first_live_at": pd.to_datetime(live, utc=True),
        }
    )


def at(day: int, hour: float = 10) -> datetime:
    return MON + timedelta(days=day, hours=hour)


def example_rollouts() -> pd.DataFrame:
    # metrics-background §4.1: week 1 Mon x2, Tue x1, Thu x2; week 2 Wed x1; week 3 none;
    # week 4 Mon-Fri, 9 in total (2, 2, 2, 2, 1).
    week1 = [at(0), at(0, 14), at(1), at(3), at(3, 15)]
    week2 = [at(9)]
    week4 = [at(21), at(21, 15), at(22), at(22, 15), at(23), at(23, 15), at(24), at(24, 15), at(25)]
    return rollouts(*week1, *week2, *week4)


def test_worked_example_4_1() -> None:
    result = deployment_frequency(
        example_rollouts(),
        since=MON,
        until=MON + timedelta(days=28),
        first_rollout_at=MON - timedelta(weeks=10),
        benchmark=2024,
    )
    # N = 5 + 1 + 0 + 9 = 15; 15 / 28 days = 0.5357/day; 15 / 4 weeks = 3.75/week.
    assert result.rollouts == 15
    assert result.per_day == pytest.approx(15 / 28)
    assert result.per_week == pytest.approx(3.75)
    # Deploy days per week [3, 1, 0, 5]; sorted [0, 1, 3, 5], linear median (1 + 3)/2 = 2.0.
    assert list(result.weeks["deploy_days"]) == [3, 1, 0, 5]
    assert result.deploy_days_per_week == 2.0
    # 2 <= median < 3 -> F4; 2024 high (F4 >= F4).
    assert (result.category, result.level) == ("F4", "high")
    assert result.as_dict()["category"] == "F4"


@pytest.mark.parametrize(("year", "level"), [(2021, "high"), (2022, "medium"), (2023, "high")])
def test_worked_example_4_1_levels_by_year(year: int, level: str) -> None:
    result = deployment_frequency(
        example_rollouts(),
        since=MON,
        until=MON + timedelta(days=28),
        benchmark=year,
        first_rollout_at=MON - timedelta(weeks=10),
    )
    assert result.level == level


def test_zero_deploy_weeks_pull_the_median_down() -> None:
    # Without week 3's zero the weekly median would be median(1, 3, 5) = 3 -> F5; with it, 2.0.
    result = deployment_frequency(example_rollouts(), since=MON, until=MON + timedelta(days=28))
    assert 0 in list(result.weeks["deploy_days"])
    assert result.category == "F4"


def test_redeploys_and_rollbacks_are_reported_not_counted() -> None:
    frame = rollouts(
        (at(0), "change"),
        (at(1), "config"),
        (at(2), "redeploy"),
        (at(3), "rollback"),
        (at(4), "rollback"),
    )
    result = deployment_frequency(frame, since=MON, until=MON + timedelta(days=7))
    assert (result.rollouts, result.redeploys, result.rollbacks) == (2, 1, 2)
    assert result.deploy_days == 2
    assert len(result.items) == 5 and result.items["counted"].sum() == 2


def test_window_is_half_open() -> None:
    until = MON + timedelta(days=7)
    result = deployment_frequency(rollouts(MON, until), since=MON, until=until)
    assert result.rollouts == 1


def test_days_and_weeks_follow_the_reporting_time_zone() -> None:
    # Sunday 1 March 23:30 UTC is Monday 2 March 00:30 in Berlin (UTC+1 in March).
    sunday_late = MON - timedelta(minutes=30)
    frame = rollouts(sunday_late, MON + timedelta(hours=10))
    since, until = MON - timedelta(days=7), MON + timedelta(days=7)
    utc = deployment_frequency(frame, since=since, until=until)
    berlin = deployment_frequency(frame, since=since, until=until, tz="Europe/Berlin")
    # UTC: one deploy day in each ISO week -> [1, 1]. Berlin: both on Monday 2 March -> [0, 1].
    assert list(utc.weeks["deploy_days"]) == [1, 1]
    assert list(berlin.weeks["deploy_days"]) == [0, 1]
    assert (utc.deploy_days, berlin.deploy_days) == (2, 1)


def test_f6_needs_two_rollouts_per_deploy_day() -> None:
    two_a_day = [at(d, h) for d in range(5) for h in (9, 15)]
    result = deployment_frequency(rollouts(*two_a_day), since=MON, until=MON + timedelta(days=7))
    # Deploy days [5] -> median 5 >= 3, and 10 rollouts / 5 deploy days = 2 -> F6.
    assert result.category == "F6"
    once_a_day = [at(d) for d in range(5)]
    result = deployment_frequency(rollouts(*once_a_day), since=MON, until=MON + timedelta(days=7))
    assert result.category == "F5"


def test_f3_counts_deploy_days_per_30_day_month() -> None:
    # 84-day window (12 weeks) -> 84 // 30 = 2 whole 30-day blocks counted back from the last day.
    until = MON + timedelta(days=84)
    last_day = until - timedelta(days=1)
    # One rollout 5 days and one 35 days before the last day: one in each block -> median 1 -> F3.
    # Weeks: 2 of 12 with a deploy day -> median 0, so not F4.
    frame = rollouts(last_day - timedelta(days=5), last_day - timedelta(days=35))
    result = deployment_frequency(frame, since=MON, until=until)
    assert result.deploy_days_per_week == 0
    assert result.category == "F3"


def test_f2_and_f1_look_back_half_a_year_before_until() -> None:
    since, until = MON, MON + timedelta(days=28)
    # 100 days before until: outside the window but within 182.5 days -> F2.
    recent = deployment_frequency(rollouts(until - timedelta(days=100)), since=since, until=until)
    assert (recent.rollouts, recent.category) == (0, "F2")
    # 183 days before until -> F1.
    old = deployment_frequency(rollouts(until - timedelta(days=183)), since=since, until=until)
    assert old.category == "F1"


def test_level_needs_the_first_rollout_eight_weeks_before_until() -> None:
    until = MON + timedelta(days=28)
    frame = rollouts(*[at(d) for d in range(0, 28, 2)])
    # Earliest rollout in the frame is MON, 4 weeks before until: category yes, level no.
    short = deployment_frequency(frame, since=MON, until=until, benchmark=2024)
    assert short.category is not None and short.level is None and not short.sufficient
    long = deployment_frequency(
        frame, since=MON, until=until, first_rollout_at=until - timedelta(weeks=8), benchmark=2024
    )
    assert long.level is not None and long.sufficient


def test_median_gap_pools_gaps_within_each_service() -> None:
    a = rollouts(at(0, 0), at(0, 10), service="a")
    b = rollouts(at(0, 1), at(0, 5), service="b")
    frame = pd.concat([a, b], ignore_index=True)
    result = deployment_frequency(frame, since=MON, until=MON + timedelta(days=7))
    # Gaps: a 10 h, b 4 h -> median (4 + 10)/2 = 7 h (not the interleaved 1, 4, 5 h -> 4 h).
    assert result.median_gap_seconds == 7 * H


def test_no_rollouts_gives_zeros_and_nulls() -> None:
    empty = rollouts()
    result = deployment_frequency(empty, since=MON, until=MON + timedelta(days=28))
    assert result.as_dict() == {
        "rollouts": 0,
        "per_day": 0.0,
        "per_week": 0.0,
        "deploy_days_per_week": None,
        "median_gap_seconds": None,
        "category": None,
        "level": None,
    }


def test_weekly_rate_has_an_exact_poisson_interval() -> None:
    result = deployment_frequency(rollouts(), since=MON, until=MON + timedelta(days=14))
    # 0 events: upper mean -ln(0.025) = 3.6889 over 2 weeks = 1.8444/week.
    assert result.per_week_ci95 == pytest.approx((0.0, 3.688879454113936 / 2))


def test_naive_timestamps_are_rejected() -> None:
    frame = rollouts(at(0))
    frame["first_live_at"] = frame["first_live_at"].dt.tz_localize(None)
    with pytest.raises(ValueError, match="naive"):
        deployment_frequency(frame, since=MON, until=MON + timedelta(days=7))
    with pytest.raises(ValueError, match="aware"):
        deployment_frequency(rollouts(), since=datetime(2026, 3, 2), until=MON + timedelta(days=7))


def test_short_window_uses_every_week_it_touches() -> None:
    # Sat 7 -> Tue 10 March: 1.5 days of one ISO week and 2 of the next; neither is half in the
    # window, so both count. Rollouts Sat and Mon -> [1, 1] -> median 1.
    since, until = MON + timedelta(days=5), MON + timedelta(days=8)
    result = deployment_frequency(rollouts(at(5), at(7)), since=since, until=until)
    assert list(result.weeks["deploy_days"]) == [1, 1]
    assert result.deploy_days_per_week == 1.0


def test_definitions_version() -> None:
    from dora.metrics import DEFINITIONS_VERSION

    assert DEFINITIONS_VERSION == "2"


def test_window_edges_finer_than_the_column_unit() -> None:
    # A frame in whole seconds (as pandas infers for some sources) and a window whose edges
    # carry microseconds: the rollout 1 µs before `since` is out, the one at `until` - 1 s in.
    since = MON + timedelta(microseconds=500_001)
    frame = rollouts(MON, MON + timedelta(seconds=1), at(3), MON + timedelta(days=7, seconds=-1))
    frame["first_live_at"] = frame["first_live_at"].dt.as_unit("s")
    result = deployment_frequency(frame, since=since, until=MON + timedelta(days=7))
    assert result.rollouts == 3
    assert list(result.items["rollout_id"]) == [2, 3, 4]
    # Out of order and with a missing moment: sorted, and the missing one never counts.
    missing = rollouts(at(2)).assign(rollout_id=9, first_live_at=pd.NaT)
    shuffled = pd.concat([frame.iloc[[3, 0, 2, 1]], missing], ignore_index=True)
    again = deployment_frequency(shuffled, since=since, until=MON + timedelta(days=7))
    assert again.rollouts == 3 and list(again.items["rollout_id"]) == [2, 3, 4]
