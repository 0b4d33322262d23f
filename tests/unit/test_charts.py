"""dora.charts: figure dicts from DataFrames, JSON-ready, without a database."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd

from dora import charts


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

    upper, lower, line = figure["data"]
    assert line["y"] == [1.0, None, 2.0]
    assert lower["y"] == [0.5, None, 1.0] and lower["fill"] == "tonexty"
    assert upper["y"] == [2.0, None, 3.0]
    assert line["x"] == ["2026-03-02", "2026-03-09", "2026-03-16"]
    assert line["customdata"] == [8, 0, 12]
    assert figure["layout"]["title"]["text"] == "Lead time"
    json.dumps(figure)  # plain values only: no numpy, no pandas


def test_charts_trend_figure_rates_in_percent_with_fixed_axis() -> None:
    frame = weeks_frame().assign(value=[0.1, 0.25, None], lo=[0.0, 0.1, None], hi=[0.3, 0.5, None])

    figure = charts.trend_figure(frame, title="CFR", unit="%")

    assert figure["data"][2]["y"] == [10.0, 25.0, None]
    assert figure["layout"]["yaxis"]["range"] == [0, 100]


def test_charts_lead_time_distribution_buckets_and_drops_invalid() -> None:
    seconds = pd.Series([60.0, 3599.0, 3600.0, 5 * 3600.0, 3 * 86400.0, 40 * 86400.0, -5.0, None])

    figure = charts.lead_time_distribution_figure(seconds)

    bar = figure["data"][0]
    counts = dict(zip(bar["x"], bar["y"], strict=True))
    assert counts["< 1 h"] == 2
    assert counts["1–4 h"] == 1
    assert counts["4–12 h"] == 1
    assert counts["2–7 d"] == 1
    assert counts["≥ 30 d"] == 1
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
    assert heatmap["customdata"][2][1] == "2026-03-11"
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
