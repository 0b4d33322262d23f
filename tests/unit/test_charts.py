"""dora.reads.charts: figure dicts from DataFrames, JSON-ready, without a database."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd

from dora.reads import charts


def weeks_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "week": [date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)],
            "value": [3600.0, None, 7200.0],
            "lo": [1800.0, None, np.float64(3600.0)],
            "hi": [7200.0, None, 10800.0],
            "n": [8, 0, np.int64(12)],
        }
    )


def test_charts_trend_figure_has_band_and_line_in_hours() -> None:
    figure = charts.trend_figure(weeks_frame(), title="Lead time", unit="hours")

    band, line = figure["data"]
    assert line["y"] == [1.0, None, 2.0]
    assert line["x"] == ["2026-03-02", "2026-03-09", "2026-03-16"]
    assert line["connectgaps"] is False
    # Hover text for people, with n: 3600 s is "1.0 h", 7200 s "2.0 h".
    assert line["customdata"] == [["1.0 h", 8], ["no items", 0], ["2.0 h", 12]]
    assert band["fill"] == "toself" and band["connectgaps"] is False
    assert figure["layout"]["yaxis"]["title"]["text"] == "hours"
    assert figure["layout"]["title"]["text"] == "Lead time"
    json.dumps(figure)  # plain values only: no numpy, no pandas


def test_charts_trend_figure_draws_days_when_a_value_is_above_48_hours() -> None:
    frame = weeks_frame().assign(
        value=[3 * 86400.0, None, 86400.0],
        lo=[2 * 86400.0, None, 43200.0],
        hi=[5 * 86400.0, None, 2 * 86400.0],
    )

    figure = charts.trend_figure(frame, title="Lead time", unit="hours")

    band, line = figure["data"]
    assert figure["layout"]["yaxis"]["title"]["text"] == "days"
    assert line["y"] == [3.0, None, 1.0]
    assert [text for text, _ in line["customdata"]] == ["3.0 days", "no items", "24 h"]
    assert max(v for v in band["y"] if v is not None) == 5.0


def test_charts_trend_band_has_no_fill_segment_across_a_missing_week() -> None:
    weeks = [date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16), date(2026, 3, 23)]
    frame = pd.DataFrame(
        {
            "week": weeks + [date(2026, 3, 30)],
            "value": [1.0, 2.0, None, 4.0, 5.0],
            "lo": [0.5, 1.5, None, 3.5, 4.5],
            "hi": [1.5, 2.5, None, 4.5, 5.5],
            "n": [6, 6, 0, 6, 6],
        }
    )

    band, _ = charts.trend_figure(frame, title="Rollouts", unit="rollouts")["data"]

    # One closed polygon per run of weeks (2 Mar-9 Mar, 23 Mar-30 Mar), None between them.
    assert band["x"] == [
        "2026-03-02", "2026-03-09", "2026-03-09", "2026-03-02", "2026-03-02",
        None,
        "2026-03-23", "2026-03-30", "2026-03-30", "2026-03-23", "2026-03-23",
    ]  # fmt: skip
    assert band["y"] == [1.5, 2.5, 1.5, 0.5, 1.5, None, 4.5, 5.5, 4.5, 3.5, 4.5]
    segments: list[list[str]] = [[]]
    for x in band["x"]:
        if x is None:
            segments.append([])
        else:
            segments[-1].append(x)
    for segment in segments:  # no polygon reaches from before the gap to after it
        assert not (min(segment) < "2026-03-16" < max(segment)), segment


def test_charts_trend_band_of_a_lone_week_is_a_narrow_rectangle() -> None:
    band, _ = charts.trend_figure(weeks_frame(), title="Lead time", unit="hours")["data"]

    # Weeks 2 Mar and 16 Mar have intervals, 9 Mar none: two rectangles, ±1.5 days wide.
    assert band["x"][:5] == [
        "2026-02-28T12:00:00", "2026-03-03T12:00:00", "2026-03-03T12:00:00",
        "2026-02-28T12:00:00", "2026-02-28T12:00:00",
    ]  # fmt: skip
    assert band["y"][:5] == [2.0, 2.0, 0.5, 0.5, 2.0]
    assert band["x"][5] is None and band["y"][5] is None
    assert band["y"][6:] == [3.0, 3.0, 1.0, 1.0, 3.0]


def test_charts_trend_figure_rates_in_percent_with_fixed_axis() -> None:
    frame = weeks_frame().assign(value=[0.1, 0.25, None], lo=[0.0, 0.1, None], hi=[0.3, 0.5, None])

    figure = charts.trend_figure(frame, title="CFR", unit="%")

    assert figure["data"][1]["y"] == [10.0, 25.0, None]
    assert figure["data"][1]["customdata"][1] == ["25.0%", 0]
    assert figure["layout"]["yaxis"]["range"] == [0, 100]


def test_charts_lead_time_distribution_buckets_and_drops_invalid() -> None:
    seconds = pd.Series([60.0, 3599.0, 3600.0, 5 * 3600.0, 3 * 86400.0, 40 * 86400.0, -5.0, None])

    figure = charts.lead_time_distribution_figure(seconds)

    bar = figure["data"][0]
    counts = dict(zip(bar["x"], bar["y"], strict=True))
    assert counts["< 1 h"] == 2
    assert counts["1–4 h"] == 1
    assert counts["4–12 h"] == 1
    assert counts["2–7 days"] == 1
    assert counts["≥ 30 days"] == 1
    assert sum(bar["y"]) == 6
    assert "n=6" in figure["layout"]["title"]["text"]


def test_charts_lead_time_distribution_of_nothing_is_all_zero() -> None:
    figure = charts.lead_time_distribution_figure(pd.Series([], dtype=float))

    assert sum(figure["data"][0]["y"]) == 0
    assert not charts.figure_has_data(figure)


def test_charts_noted_when_empty_says_so_and_leaves_data_alone() -> None:
    empty = charts.lead_time_distribution_figure(pd.Series([], dtype=float))
    full = charts.lead_time_distribution_figure(pd.Series([60.0]))

    notes = charts.noted_when_empty(empty)["layout"]["annotations"]
    assert [note["text"] for note in notes] == ["No items in this window"]
    assert charts.noted_when_empty(full) is full
    assert "annotations" not in empty["layout"]  # the input is not changed


def test_charts_deploy_calendar_places_days_by_weekday_and_week() -> None:
    days = pd.DataFrame(
        {"day": [pd.Timestamp("2026-03-02"), pd.Timestamp("2026-03-11")], "rollouts": [3, 1]}
    )

    figure = charts.deploy_calendar_figure(days, first_monday=date(2026, 3, 2), weeks=2)

    heatmap = figure["data"][0]
    assert heatmap["x"] == ["2026-03-02", "2026-03-09"]
    assert heatmap["y"][0] == "Mon"
    assert heatmap["z"][0] == [3, 0]  # Monday of week 1
    assert heatmap["z"][2] == [0, 1]  # Wednesday of week 2
    assert heatmap["customdata"][2][1] == "Wed 11 Mar 2026"  # the pages' date format
    assert figure["layout"]["xaxis"]["ticktext"] == ["2 Mar", "9 Mar"]
    assert "4 in 2 weeks" in figure["layout"]["title"]["text"]
    assert charts.figure_has_data(figure)


def test_charts_value_stream_splits_the_median_by_process_share() -> None:
    stages = pd.DataFrame(
        {
            "name": ["review", "build", "empty"],
            "n": [10, 10, 0],
            "p50_seconds": [7200.0, 3600.0, None],
            "elapsed_seconds": [100.0, 50.0, 0.0],
            "process_seconds": [0.0, 40.0, 0.0],
            "wait_seconds": [100.0, 10.0, 0.0],
        }
    )

    figure = charts.value_stream_figure(stages)

    process, wait = figure["data"]
    assert process["y"] == ["review", "build"]  # a stage without a median is left out
    assert process["x"] == [0.0, 0.8]
    assert wait["x"] == [2.0, 0.2]
    assert figure["layout"]["barmode"] == "stack"


def test_charts_level_distribution_labels_every_level_in_its_colour() -> None:
    figure = charts.level_distribution_figure({"elite": 2, "low": 1, "insufficient": 3})

    bar = figure["data"][0]
    assert bar["x"] == ["Elite", "High", "Medium", "Low", "Insufficient data"]
    assert bar["y"] == [2, 0, 0, 1, 3]
    assert bar["marker"]["color"][0] == charts.LEVEL_COLOURS["elite"]
    assert "6 services" in figure["layout"]["title"]["text"]


def test_charts_rollouts_by_target_one_trace_per_target() -> None:
    cells = pd.DataFrame(
        {
            "environment": ["staging", "production", "production"],
            "target": ["", "eu-west-1", "us-east-1"],
            "deployments": [5, 4, np.int64(3)],
        }
    )

    figure = charts.rollouts_by_target_figure(cells)

    names = [trace["name"] for trace in figure["data"]]
    assert names == ["(default)", "eu-west-1", "us-east-1"]
    assert figure["data"][1]["y"] == [4]
    json.dumps(figure)


def test_charts_plain_turns_numpy_and_pandas_into_json_values() -> None:
    assert charts.plain(np.int64(3)) == 3
    assert charts.plain(np.float64("nan")) is None
    assert charts.plain(pd.NaT) is None
    assert charts.plain(pd.Timestamp("2026-03-02T10:00:00Z")) == "2026-03-02T10:00:00+00:00"
    assert charts.plain(date(2026, 3, 2)) == "2026-03-02"


def test_charts_axes_make_room_for_their_labels_on_a_narrow_card() -> None:
    figure = charts.level_distribution_figure({"top": 3}, bands=True, year=2025)

    assert figure["layout"]["xaxis"]["automargin"] is True
    assert figure["layout"]["yaxis"]["automargin"] is True
    assert figure["layout"]["xaxis"]["type"] == "category"  # the caller's axis is kept


def test_charts_automation_lag_in_hours_until_a_lag_is_above_48_hours() -> None:
    from dora.reads.estate_matrix import automation_lag_figure

    instances = pd.DataFrame(
        {
            "service": ["shop", "shop"],
            "environment": ["production", "staging"],
            "target": ["", "eu"],
            "lag_seconds": [10 * 3600.0, 30 * 3600.0],
            "stale_after_seconds": [24 * 3600.0, 24 * 3600.0],
        }
    )

    bars, limits = automation_lag_figure(instances)["data"]
    # 30 h is the largest: hours; bars sorted by lag, longest first.
    assert bars["x"] == [30.0, 10.0]
    assert [text for _, text in bars["customdata"]] == ["30 h", "10 h"]
    assert limits["customdata"] == ["24 h", "24 h"]

    instances.loc[0, "lag_seconds"] = 60 * 3600.0  # 2.5 days: the axis turns to days
    figure = automation_lag_figure(instances)
    assert figure["layout"]["xaxis"]["title"]["text"] == "days"
    assert figure["data"][0]["x"] == [2.5, 1.25]
    assert figure["data"][0]["customdata"][0][1] == "2.5 days"
