"""dora.reads.dashboards without a database: weeks, weekly grouping, period comparisons, figures."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from dora.reads import dashboards as dash
from dora.reads.figures import HEADLINE, Figure
from dora.reads.weeks import (
    compare,
    local_monday,
    monday_numbers,
    week_figure,
    week_rows,
    week_starts,
    weekly,
    weeks_window,
)

NOW = datetime(2026, 3, 30, 12, tzinfo=UTC)
START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
END = datetime(2026, 3, 30, tzinfo=UTC)  # four weeks later


def frames(seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rollouts and arrivals over four weeks (and history before), with failures and rework."""
    rng = random.Random(seed)
    rollouts, arrivals = [], []
    moment = START - timedelta(weeks=10)
    rollout_id = 0
    while moment < END:
        moment += timedelta(hours=rng.uniform(2, 30))
        rollout_id += 1
        failed = rng.random() < 0.2
        rollouts.append(
            {
                "rollout_id": rollout_id,
                "service": rng.choice(["a", "b"]),
                "environment": "production",
                "kind": rng.choice(["change"] * 8 + ["config", "rollback"]),
                "first_live_at": moment,
                "failure": "confirmed" if failed else "",
                "restored_at": moment + timedelta(hours=rng.uniform(0.1, 9)) if failed else None,
                "remediation": rng.random() < 0.1,
            }
        )
        for change in range(rng.randint(0, 3)):
            start = moment - timedelta(hours=rng.uniform(1, 200))
            arrivals.append(
                {
                    "change_id": rollout_id * 10 + change,
                    "commit_sha": "",
                    "service": rollouts[-1]["service"],
                    "rollout_id": rollout_id,
                    "start": start,
                    "merged_at": start + timedelta(hours=1),
                    "arrived_at": moment,
                    "unattributed": False,
                }
            )
    rollout_frame = pd.DataFrame(rollouts)
    rollout_frame["first_live_at"] = pd.to_datetime(rollout_frame["first_live_at"], utc=True)
    rollout_frame["restored_at"] = pd.to_datetime(rollout_frame["restored_at"], utc=True)
    arrival_frame = pd.DataFrame(arrivals)
    for column in ("start", "merged_at", "arrived_at"):
        arrival_frame[column] = pd.to_datetime(arrival_frame[column], utc=True)
    return rollout_frame, arrival_frame


def headline(since: datetime, until: datetime, tz: str = "UTC") -> dash.Headline:
    rollouts, arrivals = frames()
    return dash.headline(
        rollouts,
        arrivals,
        since=since,
        until=until,
        now=NOW,
        tz=tz,
        benchmark=2024,
        first_rollout_at=None,
    )


def test_dashboards_weekly_values_equal_the_metric_over_each_week_alone() -> None:
    weeks = week_starts(END, 4, "UTC")
    series = weekly(headline(START, END), weeks=weeks, tz="UTC")

    for i, week in enumerate(weeks):
        alone = headline(START + timedelta(weeks=i), START + timedelta(weeks=i + 1))
        lead = series.row("lead_time", week)
        assert lead["n"] == alone.lead_time.duration.n
        assert lead["value"] == pytest.approx(alone.lead_time.duration.p50)
        ci = alone.lead_time.duration.median_ci95
        assert (lead["lo"], lead["hi"]) == (ci if ci else (None, None))
        cfr = series.row("change_failure_rate", week)
        assert cfr["n"] == alone.change_failure.rollouts
        assert cfr["value"] == pytest.approx(alone.change_failure.rate)
        assert series.row("deployment_frequency", week)["n"] == alone.frequency.rollouts
        assert series.row("rework_rate", week)["n"] == alone.rework.rollouts
        assert series.row("recovery_time", week)["n"] == alone.recovery.duration.n


def test_dashboards_weekly_values_in_a_time_zone_equal_each_local_week_alone() -> None:
    zone = "America/New_York"
    first = local_monday(START + timedelta(days=1), zone)
    last = first + timedelta(weeks=4)
    weeks = week_starts(last, 4, zone)
    series = weekly(headline(first, last, zone), weeks=weeks, tz=zone)

    counted = 0
    for i, week in enumerate(weeks):
        since = local_monday(first + timedelta(weeks=i, days=1), zone)
        alone = headline(since, local_monday(since + timedelta(weeks=1, days=1), zone), zone)
        lead = series.row("lead_time", week)
        assert lead["n"] == alone.lead_time.duration.n
        assert lead["value"] == pytest.approx(alone.lead_time.duration.p50)
        assert series.row("deployment_frequency", week)["n"] == alone.frequency.rollouts
        assert series.row("change_failure_rate", week)["n"] == alone.change_failure.rollouts
        assert series.row("recovery_time", week)["n"] == alone.recovery.duration.n
        counted += lead["n"]
    assert counted > 10


def test_dashboards_monday_numbers_are_local_mondays_floored_before_1970() -> None:
    moments = pd.Series(
        [
            datetime(2026, 3, 8, 23, 30, tzinfo=UTC),  # Sunday in UTC, Monday in Berlin
            datetime(1969, 12, 28, 23, tzinfo=UTC),  # a Sunday before the epoch
            None,
            datetime(1970, 1, 5, tzinfo=UTC),  # a Monday, midnight
        ]
    )
    day = date(1970, 1, 1)

    utc_numbers, present = monday_numbers(moments, "UTC")
    berlin_numbers, _ = monday_numbers(moments, "Europe/Berlin")

    assert present.tolist() == [True, True, False, True]
    assert utc_numbers[[0, 1, 3]].tolist() == [
        (date(2026, 3, 2) - day).days,
        (date(1969, 12, 22) - day).days,
        (date(1970, 1, 5) - day).days,
    ]
    assert berlin_numbers[[0, 1, 3]].tolist() == [
        (date(2026, 3, 9) - day).days,
        (date(1969, 12, 29) - day).days,  # already Monday 00:00 in Berlin
        (date(1970, 1, 5) - day).days,
    ]


def test_dashboards_week_rows_compare_this_week_with_last_and_pool_the_window() -> None:
    result = headline(START, END)
    series = weekly(result, weeks=week_starts(END, 4, "UTC"), tz="UTC")

    rows = {row.key: row for row in week_rows(result, series)}

    assert list(rows) == list(HEADLINE)
    lead = rows["lead_time"]
    assert lead.twelve_weeks.n == result.lead_time.duration.n  # pooled, not a median of medians
    assert lead.this_week.n == series.row("lead_time", series.weeks[-1])["n"]
    counts = series.series["deployment_frequency"]["value"]
    assert rows["deployment_frequency"].twelve_weeks.value == counts.median()


def test_dashboards_local_monday_and_weeks_in_a_time_zone() -> None:
    # Wednesday 4 March 2026, 10:00 UTC: in New York it is the same Wednesday.
    moment = datetime(2026, 3, 4, 10, tzinfo=UTC)

    assert local_monday(moment, "UTC") == datetime(2026, 3, 2, tzinfo=UTC)
    assert local_monday(moment, "America/New_York") == datetime(2026, 3, 2, 5, tzinfo=UTC)
    # Sunday 23:30 UTC is already Monday in Berlin.
    assert local_monday(datetime(2026, 3, 8, 23, 30, tzinfo=UTC), "Europe/Berlin") == (
        datetime(2026, 3, 8, 23, tzinfo=UTC)
    )
    end = local_monday(moment, "Europe/Berlin")
    assert week_starts(end, 3, "Europe/Berlin") == [
        date(2026, 2, 9),
        date(2026, 2, 16),
        date(2026, 2, 23),
    ]
    # Across the change to summer time (29 March in Europe) the weeks stay local Mondays.
    spring = local_monday(datetime(2026, 4, 1, tzinfo=UTC), "Europe/Berlin")
    assert spring == datetime(2026, 3, 29, 22, tzinfo=UTC)
    assert weeks_window(spring, 2, "Europe/Berlin") == datetime(2026, 3, 15, 23, tzinfo=UTC)


def figure(key: str, value: float | None, ci: tuple[float, float] | None) -> Figure:
    return Figure(key, value, "", 10, "", ci, "", None, "", "")


def test_dashboards_compare_says_unchanged_when_the_shown_values_are_equal() -> None:
    # 22.2 h and 21.9 h both show "22 h": no arrow, no "+0.3 h".
    same = compare(
        "lead_time", figure("lead_time", 22.2 * 3600, None), figure("lead_time", 21.9 * 3600, None)
    )
    assert (same.text, same.direction, same.better) == ("unchanged", "flat", None)
    # 12.04% and 11.96% both show "12.0%".
    rate = compare(
        "rework_rate", figure("rework_rate", 0.1204, None), figure("rework_rate", 0.1196, None)
    )
    assert (rate.text, rate.direction, rate.better) == ("unchanged", "flat", None)
    # 49 h against 47 h: "2.0 days" against "47 h" is a change.
    slower = compare(
        "lead_time", figure("lead_time", 49 * 3600, None), figure("lead_time", 47 * 3600, None)
    )
    assert slower.direction == "up" and slower.text == "+2.0 h"


def test_dashboards_compare_is_significant_only_when_intervals_do_not_overlap() -> None:
    apart = compare(
        "lead_time",
        figure("lead_time", 7200, (6000, 8000)),
        figure("lead_time", 3600, (3000, 4000)),
    )
    assert apart.direction == "up" and apart.better is False and apart.significant is True
    assert apart.text == "+1.0 h" and apart.significance_text == "significant"

    overlapping = compare(
        "change_failure_rate",
        figure("change_failure_rate", 0.1, (0.05, 0.2)),
        figure("change_failure_rate", 0.15, (0.1, 0.3)),
    )
    assert overlapping.better is True and overlapping.significant is False
    assert overlapping.text == "−5.0 pts"  # a typographic minus, as durations

    faster = compare(
        "deployment_frequency",
        figure("deployment_frequency", 12.0, (10, 14)),
        figure("deployment_frequency", 4.0, (3, 5)),
    )
    assert faster.better is True and faster.significant is True

    unknown = compare("recovery_time", figure("recovery_time", 60, None), figure("x", 30, None))
    assert unknown.significant is None and unknown.significance_text == "too few to tell"
    missing = compare("lead_time", figure("lead_time", None, None), figure("x", 30, None))
    assert missing.direction == "none"


def test_dashboards_figures_withhold_levels_below_the_badge_minimums() -> None:
    result = headline(END - timedelta(days=2), END)  # two days: few items

    figures = {f.key: f for f in result.figures}

    lead = figures["lead_time"]
    assert lead.n < 10 and lead.badge == "insufficient"
    assert lead.minimum_text == f"n={lead.n}, a level needs 10 changes"
    assert figures["change_failure_rate"].badge == "insufficient"
    assert "a level needs 20 rollouts" in figures["change_failure_rate"].minimum_text
    assert figures["rework_rate"].badge == "insufficient"
    assert result.level is None or result.level in ("elite", "high", "medium", "low")

    whole = {f.key: f for f in headline(START, END).figures}
    assert whole["lead_time"].badge in ("elite", "high", "medium", "low")
    assert whole["rework_rate"].badge == "reference"
    assert "22%" in whole["rework_rate"].minimum_text


def test_dashboards_week_figures_mark_small_samples() -> None:
    small = week_figure("lead_time", {"value": 3600.0, "lo": None, "hi": None, "n": 3})
    enough = week_figure("lead_time", {"value": 3600.0, "lo": 1.0, "hi": 2.0, "n": 12})
    empty = week_figure("change_failure_rate", {"value": None, "n": 0})
    counts = week_figure("deployment_frequency", {"value": 2.0, "lo": 0.2, "hi": 7.2, "n": 2})

    assert small.minimum_text == "small sample: a level needs 10"
    assert enough.minimum_text == "" and enough.text == "1.0 h"
    assert empty.minimum_text == "" and empty.text == "–"
    assert counts.minimum_text == "" and counts.text == "2" and counts.ci_text == "0.2–7.2"
