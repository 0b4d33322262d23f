"""DataFrames -> plotly figure dicts for the dashboards: pure, no Django, no database.

Each function returns a plain `{"data": [...], "layout": {...}}` dict of JSON-ready values
(floats, strings, ISO dates; never numpy or pandas objects), drawn in the browser by plotly.js
served from our static files. Durations arrive in seconds and are drawn in hours, or in days when
the chart holds one above 48 hours (dora.units), with hover text for people ("2.0 days"); rates
arrive as 0..1 and are drawn in percent. Every trace carries n in its hover text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

import pandas as pd

from dora.units import duration_axis_unit, duration_human

# Level colours (always drawn with the level's name beside them: colour is never the only cue).
LEVEL_COLOURS = {
    "elite": "#1a7f37",
    "high": "#0969da",
    "medium": "#9a6700",
    "low": "#cf222e",
    "insufficient": "#8c959f",
}
LEVEL_LABELS = {
    "elite": "Elite",
    "high": "High",
    "medium": "Medium",
    "low": "Low",
    "insufficient": "Insufficient data",
}
# 2025 has no levels: services are counted by the band their overall percentile falls in.
BAND_COLOURS = {
    "top": "#1a7f37",
    "upper": "#0969da",
    "lower": "#9a6700",
    "bottom": "#cf222e",
    "insufficient": "#8c959f",
}
BAND_LABELS = {
    "top": "Better than 75%+",
    "upper": "Better than 50–75%",
    "lower": "Better than 25–50%",
    "bottom": "Better than under 25%",
    "insufficient": "Insufficient data",
}
LINE = "#0969da"
BAND = "rgba(9, 105, 218, 0.15)"
WAIT = "#d4a72c"
PROCESS = "#0969da"
FONT = 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif'
HOUR = 3600.0
# Dates in charts the way the pages write them (Django "D j M Y" / "j M"): "Mon 30 Nov 2026"
# in hover labels, "30 Nov" on an axis (d3 time formats).
HOVER_DATE = "%a %-d %b %Y"
TICK_DATE = "%-d %b"
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
# Lead-time distribution buckets: (upper bound in seconds, label); the last is open-ended.
LEAD_TIME_BUCKETS = (
    (HOUR, "< 1 h"),
    (4 * HOUR, "1–4 h"),
    (12 * HOUR, "4–12 h"),
    (24 * HOUR, "12–24 h"),
    (2 * 24 * HOUR, "24–48 h"),  # days only above 48 h, as everywhere (dora.units)
    (7 * 24 * HOUR, "2–7 days"),
    (30 * 24 * HOUR, "7–30 days"),
    (math.inf, "≥ 30 days"),
)


def plain(value: Any) -> Any:
    """A JSON-ready scalar: None for missing, float/int/str/ISO date otherwise."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return pd.Timestamp(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return None if isinstance(value, float) and math.isnan(value) else value
    if hasattr(value, "item"):  # numpy scalars
        return plain(value.item())
    if pd.isna(value):
        return None
    return value


def _values(series: Sequence[Any] | pd.Series) -> list[Any]:
    return [plain(v) for v in list(series)]


def _scaled(series: pd.Series, factor: float) -> list[float | None]:
    return [None if v is None else float(v) / factor for v in _values(series)]


def base_layout(title: str, *, height: int = 260, **extra: Any) -> dict[str, Any]:
    """The house layout: small margins, system font, a title plotly also uses as its label."""
    layout: dict[str, Any] = {
        "title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 14}},
        "height": height,
        "margin": {"l": 56, "r": 16, "t": 40, "b": 40},
        "font": {"family": FONT, "size": 12, "color": "#1f2328"},
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "hovermode": "x unified",
        "showlegend": False,
        "xaxis": {"gridcolor": "#eaeef2", "linecolor": "#d1d9e0"},
        "yaxis": {"gridcolor": "#eaeef2", "linecolor": "#d1d9e0", "rangemode": "tozero"},
    }
    layout.update(extra)
    # Axis labels make room for themselves: on a narrow card plotly turns long category labels
    # ("Better than 75%+") and the margins they need grow, instead of the labels being cut off.
    for axis in ("xaxis", "yaxis"):
        layout[axis] = {**layout[axis], "automargin": True}
    return layout


def contiguous_runs(present: Sequence[bool]) -> list[tuple[int, int]]:
    """(first, last) of each run of consecutive True values: [T, T, F, T] -> [(0, 1), (3, 3)]."""
    runs: list[tuple[int, int]] = []
    start: int | None = None
    for i, flag in enumerate([*present, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((start, i - 1))
            start = None
    return runs


# Half the width of the band drawn around a week that has no neighbour with an interval (a
# polygon of one x would be invisible).
LONE_WEEK_HALF_WIDTH = pd.Timedelta(days=1.5)


def band_polygons(
    x: Sequence[Any], lo: Sequence[float | None], hi: Sequence[float | None]
) -> tuple[list[Any], list[float | None]]:
    """The 95% band as one closed polygon per run of consecutive weeks with an interval, joined
    by None so plotly (fill "toself") fills each run on its own: a week without an interval
    breaks the band instead of being bridged by a stray triangle. A lone week gets a narrow
    rectangle (±1.5 days) so its interval still shows."""
    xs: list[Any] = []
    ys: list[float | None] = []
    present = [a is not None and b is not None for a, b in zip(lo, hi, strict=True)]
    for first, last in contiguous_runs(present):
        if xs:
            xs.append(None)
            ys.append(None)
        if first == last:
            week = pd.Timestamp(x[first])
            left = (week - LONE_WEEK_HALF_WIDTH).isoformat()
            right = (week + LONE_WEEK_HALF_WIDTH).isoformat()
            xs += [left, right, right, left, left]
            ys += [hi[first], hi[first], lo[first], lo[first], hi[first]]
            continue
        run = range(first, last + 1)
        back = range(last, first - 1, -1)
        xs += [x[i] for i in run] + [x[i] for i in back] + [x[first]]
        ys += [hi[i] for i in run] + [lo[i] for i in back] + [hi[first]]
    return xs, ys


DURATION_UNITS = ("hours", "duration")


def _point_text(value: float | None, raw: float | None, unit: str) -> str:
    """A point's value for its hover label: "47 h", "2.0 days", "12.5%", "35 rollouts"."""
    if value is None:
        return "no items"
    if unit in DURATION_UNITS:
        return duration_human(raw)
    if unit == "%":
        return f"{value:.1f}%"
    return f"{value:.3g} {unit}"


def trend_figure(
    weeks: pd.DataFrame, *, title: str, unit: str, colour: str = LINE
) -> dict[str, Any]:
    """A weekly line with its 95% interval as a band.

    weeks: one row per week; columns week (date, the Monday), value, lo, hi (in `unit`'s base:
      seconds for a duration, a 0..1 rate for "%", a count otherwise; None where a week has
      none), n (items behind the week's value).
    unit: "hours" (or "duration"): a duration, drawn in hours, or in days when any value or
      bound is above 48 hours (dora.units.duration_axis_unit); "%"; or a count's noun
      ("rollouts"). Sets the scale and the axis title.
    A week without a value breaks the line and a week without an interval breaks the band
    (connectgaps off, one band polygon per run of weeks). Hover text is for people: "2.0 days
    (n=8)", never "48.3 hours".
    """
    raw_value = [None if v is None else float(v) for v in _values(weeks["value"])]
    if unit in DURATION_UNITS:
        bounds = [*raw_value, *_values(weeks["lo"]), *_values(weeks["hi"])]
        axis_title, factor = duration_axis_unit(bounds)
    else:
        axis_title, factor = unit, (0.01 if unit == "%" else 1.0)
    x = _values(weeks["week"])
    value = _scaled(weeks["value"], factor)
    lo = _scaled(weeks["lo"], factor)
    hi = _scaled(weeks["hi"], factor)
    n = [int(v or 0) for v in _values(weeks["n"])]
    band_x, band_y = band_polygons(x, lo, hi)
    band = {
        "type": "scatter",
        "x": band_x,
        "y": band_y,
        "mode": "lines",
        "line": {"width": 0},
        "fill": "toself",
        "fillcolor": BAND,
        "hoverinfo": "skip",
        "name": "95% CI",
        "connectgaps": False,
    }
    line = {
        "type": "scatter",
        "x": x,
        "y": value,
        "mode": "lines+markers",
        "line": {"color": colour, "width": 2},
        "marker": {"size": 6},
        "name": title,
        "customdata": [
            [_point_text(v, r, unit), count]
            for v, r, count in zip(value, raw_value, n, strict=True)
        ],
        "hovertemplate": "%{customdata[0]} (n=%{customdata[1]})<extra></extra>",
        "connectgaps": False,
    }
    return {
        "data": [band, line],
        "layout": base_layout(
            title,
            yaxis={
                "title": {"text": axis_title},
                "gridcolor": "#eaeef2",
                "rangemode": "tozero",
                **({"range": [0, 100]} if unit == "%" else {}),
            },
            xaxis={
                "type": "date",
                "tickformat": TICK_DATE,
                "hoverformat": f"week of {HOVER_DATE}",
                "gridcolor": "#eaeef2",
            },
        ),
    }


def lead_time_distribution_figure(seconds: pd.Series) -> dict[str, Any]:
    """Changes per lead-time bucket (< 1 h ... ≥ 30 days): readable on any spread of durations."""
    values = pd.to_numeric(pd.Series(seconds, dtype="float64"), errors="coerce").dropna()
    values = values[values > 0]
    bounds = [0.0, *[b for b, _ in LEAD_TIME_BUCKETS]]
    labels = [label for _, label in LEAD_TIME_BUCKETS]
    counts = pd.cut(values, bins=bounds, labels=labels, right=False).value_counts()
    y = [int(counts.get(label, 0)) for label in labels]
    return {
        "data": [
            {
                "type": "bar",
                "x": labels,
                "y": y,
                "marker": {"color": LINE},
                "text": [str(v) if v else "" for v in y],
                "textposition": "outside",
                "hovertemplate": "%{x}: %{y} changes<extra></extra>",
                "name": "changes",
            }
        ],
        "layout": base_layout(
            f"Lead time distribution (n={len(values)})",
            yaxis={"title": {"text": "changes"}, "gridcolor": "#eaeef2", "rangemode": "tozero"},
            xaxis={"type": "category"},
            hovermode="closest",
        ),
    }


def _day_text(day: pd.Timestamp, *, short: bool = False) -> str:
    """A day the way the pages write it: "Mon 30 Nov 2026", or "30 Nov" for an axis."""
    return f"{day.day} {day:%b}" if short else f"{day:%a} {day.day} {day:%b %Y}"


def deploy_calendar_figure(days: pd.DataFrame, *, first_monday: date, weeks: int) -> dict[str, Any]:
    """A calendar heatmap: one column per ISO week, one row per weekday, colour = rollouts.

    days: columns day (date, local) and rollouts (int); days not listed had none.
    """
    mondays = [pd.Timestamp(first_monday) + pd.Timedelta(weeks=i) for i in range(weeks)]
    pairs = zip(days["day"], days["rollouts"], strict=True)
    counts = {pd.Timestamp(d).normalize(): int(c) for d, c in pairs}
    z = [[counts.get(monday + pd.Timedelta(days=wd), 0) for monday in mondays] for wd in range(7)]
    dates = [[_day_text(monday + pd.Timedelta(days=wd)) for monday in mondays] for wd in range(7)]
    x = [m.date().isoformat() for m in mondays]
    step = max(1, math.ceil(len(x) / 7))  # at most about 7 week labels
    total = sum(sum(row) for row in z)
    return {
        "data": [
            {
                "type": "heatmap",
                "x": x,
                "y": list(WEEKDAYS),
                "z": z,
                "customdata": dates,
                "colorscale": [
                    [0, "#ebedf0"],
                    [0.001, "#9be9a8"],
                    [0.5, "#30a14e"],
                    [1, "#216e39"],
                ],
                "xgap": 3,
                "ygap": 3,
                "showscale": False,
                "hovertemplate": "%{customdata}: %{z} rollouts<extra></extra>",
                "name": "rollouts",
            }
        ],
        "layout": base_layout(
            f"Production rollouts per day ({total} in {weeks} weeks)",
            height=230,
            yaxis={"autorange": "reversed", "showgrid": False},
            xaxis={
                "type": "category",
                "showgrid": False,
                "tickangle": 0,
                "tickvals": x[::step],
                "ticktext": [_day_text(m, short=True) for m in mondays[::step]],
            },
            hovermode="closest",
        ),
    }


def value_stream_figure(stages: pd.DataFrame) -> dict[str, Any]:
    """Where the time goes: per stage, the median change's time, split wait vs process; in hours,
    or in days when a stage's median is above 48 hours.

    stages: columns name, n, p50_seconds, elapsed_seconds, process_seconds, wait_seconds (sums
    over the stage's changes); the median is split by the stage's overall process share.
    """
    names, process, wait, hover = [], [], [], []
    for row in stages.itertuples(index=False):
        p50 = plain(row.p50_seconds)
        if p50 is None:
            continue
        elapsed = float(row.elapsed_seconds or 0.0)
        share = float(row.process_seconds or 0.0) / elapsed if elapsed > 0 else 0.0
        names.append(str(row.name))
        process.append(p50 * share)
        wait.append(p50 * (1 - share))
        hover.append(int(row.n))
    unit, factor = duration_axis_unit([p + w for p, w in zip(process, wait, strict=True)])
    traces = [
        {
            "type": "bar",
            "orientation": "h",
            "y": names,
            "x": [round(v / factor, 4) for v in seconds],
            "name": label,
            "marker": {"color": colour},
            "customdata": [
                [duration_human(v), count] for v, count in zip(seconds, hover, strict=True)
            ],
            "hovertemplate": f"%{{y}}: %{{customdata[0]}} {label.lower()} (n=%{{customdata[1]}})"
            "<extra></extra>",
        }
        for seconds, label, colour in ((process, "Process", PROCESS), (wait, "Wait", WAIT))
    ]
    return {
        "data": traces,
        "layout": base_layout(
            f"Where the time goes (median change, {unit})",
            height=max(220, 48 + 30 * len(names)),
            barmode="stack",
            showlegend=True,
            legend={"orientation": "h", "y": -0.2},
            yaxis={"autorange": "reversed", "type": "category"},
            xaxis={"title": {"text": unit}, "gridcolor": "#eaeef2"},
            hovermode="closest",
            margin={"l": 120, "r": 16, "t": 40, "b": 56},
        ),
    }


def percentile_band(percentile: float | None) -> str:
    """The band of an overall 2025 percentile: top (>= 75), upper, lower, bottom (< 25)."""
    if percentile is None:
        return "insufficient"
    for band, floor in (("top", 75.0), ("upper", 50.0), ("lower", 25.0)):
        if percentile >= floor:
            return band
    return "bottom"


def level_distribution_figure(
    counts: Mapping[str, int], *, bands: bool = False, year: int | None = None
) -> dict[str, Any]:
    """Services per overall level, each bar in its level's colour and labelled with its name;
    with `bands`, per 2025 percentile band (`percentile_band`) instead."""
    colours, labels = (BAND_COLOURS, BAND_LABELS) if bands else (LEVEL_COLOURS, LEVEL_LABELS)
    levels = [level for level in colours if level in counts or level != "insufficient"]
    y = [int(counts.get(level, 0)) for level in levels]
    return {
        "data": [
            {
                "type": "bar",
                "x": [labels[level] for level in levels],
                "y": y,
                "marker": {"color": [colours[level] for level in levels]},
                "text": [str(v) for v in y],
                "textposition": "outside",
                "hovertemplate": "%{x}: %{y} services<extra></extra>",
                "name": "services",
            }
        ],
        "layout": base_layout(
            f"Services per {year} placement ({sum(y)} services)"
            if bands
            else f"Services per level ({sum(y)} services)",
            yaxis={"title": {"text": "services"}, "gridcolor": "#eaeef2", "rangemode": "tozero"},
            xaxis={"type": "category"},
            hovermode="closest",
        ),
    }


def rollouts_by_target_figure(cells: pd.DataFrame) -> dict[str, Any]:
    """Rollouts per environment and target: a grouped bar per environment, one bar per target.

    cells: columns environment, target, deployments (successful target deployments).
    """
    traces = []
    for target, rows in cells.groupby("target", sort=True):
        traces.append(
            {
                "type": "bar",
                "x": _values(rows["environment"]),
                "y": _values(rows["deployments"]),
                "name": str(target) or "(default)",
                "hovertemplate": f"%{{x}} / {target or '(default)'}: %{{y}} deployments"
                "<extra></extra>",
            }
        )
    return {
        "data": traces,
        "layout": base_layout(
            "Successful deployments per environment and target",
            barmode="group",
            showlegend=True,
            legend={"orientation": "h", "y": -0.2},
            xaxis={"type": "category"},
            yaxis={"title": {"text": "deployments"}, "gridcolor": "#eaeef2"},
            hovermode="closest",
            margin={"l": 56, "r": 16, "t": 40, "b": 56},
        ),
    }


def figure_has_data(figure: Mapping[str, Any]) -> bool:
    """At least one trace with a non-zero value (what a page test checks)."""
    for trace in figure.get("data", []):
        if trace.get("type") == "heatmap":
            key = "z"
        elif trace.get("orientation") == "h":
            key = "x"
        else:
            key = "y"
        values = trace.get(key) or []
        flat = [v for row in values for v in (row if isinstance(row, list) else [row])]
        if any(v not in (None, 0, "") for v in flat):
            return True
    return False


def noted_when_empty(figure: dict[str, Any]) -> dict[str, Any]:
    """The figure, with a "No items in this window" note across it when it has no data."""
    if figure_has_data(figure):
        return figure
    note = {
        "text": "No items in this window",
        "showarrow": False,
        "xref": "paper",
        "yref": "paper",
        "x": 0.5,
        "y": 0.5,
        "font": {"size": 13, "color": "#59636e"},
    }
    layout = {**figure["layout"], "annotations": [*figure["layout"].get("annotations", []), note]}
    return {**figure, "layout": layout}
