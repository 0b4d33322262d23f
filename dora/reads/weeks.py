"""Weeks and comparisons: two periods compared (METRICS §6), ISO weeks, the weekly series and
the weekly team/service view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from dora.metrics.levels import (
    MIN_CHANGES_LEAD_TIME,
    MIN_RESTORED_RECOVERY,
    MIN_ROLLOUTS_CFR,
    MIN_ROLLOUTS_REWORK,
)
from dora.metrics.stats import median_ci_rank, poisson_ci, rate
from dora.reads import charts
from dora.reads.dashboards import Headline
from dora.reads.figures import HEADLINE, LABELS, Figure, hours_text, percent_text

# Which direction is better, for the arrows of a comparison.
HIGHER_IS_BETTER = {"deployment_frequency": True}


# ---------------------------------------------------------------------------------------------
# Comparing two periods (METRICS §6)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Comparison:
    """A figure against an earlier one: the change, whether it is better, and significance.

    significant: True when both 95% intervals exist and do not overlap; False when they
    overlap; None when either has no interval (too few items to say).
    """

    text: str
    direction: str  # "up", "down", "flat", "none"
    better: bool | None
    significant: bool | None

    @property
    def significance_text(self) -> str:
        if self.significant is None:
            return "too few to tell"
        return "significant" if self.significant else "not significant"


def intervals_overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def value_text(key: str, value: float) -> str:
    """A figure's value as its card shows it: "4.2/week", "12.5%", "47 h", "2.0 days"."""
    if key in ("change_failure_rate", "rework_rate"):
        return percent_text(value)
    if key == "deployment_frequency":
        return f"{value:.1f}/week"
    return hours_text(value)


def compare(key: str, current: Figure, previous: Figure) -> Comparison:
    """current against previous for figure `key` (METRICS §6: significant = CIs apart)."""
    if current.value is None or previous.value is None:
        return Comparison("–", "none", None, None)
    if value_text(key, current.value) == value_text(key, previous.value):
        # Equal as shown ("22 h" and "22 h"): no change a reader could see, whatever the digits
        # behind; no arrow, no "+0 min".
        significant = None
        if current.ci is not None and previous.ci is not None:
            significant = not intervals_overlap(current.ci, previous.ci)
        return Comparison("unchanged", "flat", None, significant)
    delta = current.value - previous.value
    direction = "flat" if abs(delta) < 1e-12 else ("up" if delta > 0 else "down")
    sign = "+" if delta >= 0 else "−"  # a typographic minus, as the durations' below
    if key in ("change_failure_rate", "rework_rate"):
        text = f"{sign}{abs(delta) * 100:.1f} pts"
    elif key == "deployment_frequency":
        text = f"{sign}{abs(delta):.1f}/week"
    else:
        text = ("+" if delta >= 0 else "−") + hours_text(abs(delta))
    better = None
    if direction != "flat":
        better = (delta > 0) == HIGHER_IS_BETTER.get(key, False)
    significant = None
    if current.ci is not None and previous.ci is not None:
        significant = not intervals_overlap(current.ci, previous.ci)
    return Comparison(text, direction, better, significant)


# ---------------------------------------------------------------------------------------------
# Weeks
# ---------------------------------------------------------------------------------------------


def local_monday(moment: datetime, tz: str) -> datetime:
    """The Monday 00:00 (in `tz`) on or before `moment`, as aware UTC."""
    zone = ZoneInfo(tz)
    local = moment.astimezone(zone)
    monday = (local - timedelta(days=local.weekday())).date()
    return datetime(monday.year, monday.month, monday.day, tzinfo=zone).astimezone(UTC)


def week_starts(end: datetime, weeks: int, tz: str) -> list[date]:
    """The local Mondays of the `weeks` ISO weeks before `end` (itself a local Monday)."""
    last = end.astimezone(ZoneInfo(tz)).date()
    return [last - timedelta(weeks=weeks - i) for i in range(weeks)]


def weeks_window(end: datetime, weeks: int, tz: str) -> datetime:
    """The start (aware UTC) of the `weeks` ISO weeks ending at local Monday `end`."""
    first = week_starts(end, weeks, tz)[0]
    return datetime(first.year, first.month, first.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)


_EPOCH = date(1970, 1, 1)  # a Thursday


def _day_number(day: date) -> int:
    return (day - _EPOCH).days


def monday_numbers(moments: pd.Series, tz: str) -> tuple[np.ndarray, np.ndarray]:
    """The local Monday of each aware moment as its day number (days since 1970-01-01), and
    which moments are present (a missing one's number is meaningless): integers, so that a
    few hundred thousand moments are grouped without a date object each."""
    if moments.empty:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=bool)
    local = pd.to_datetime(moments, utc=True).dt.tz_convert(tz).dt.tz_localize(None)
    present = local.notna().to_numpy()
    # Whole local days, floored (numpy's unit cast floors, before 1970 too); day 0 a Thursday.
    days = local.to_numpy().astype("datetime64[D]").astype(np.int64)
    return days - (days + 3) % 7, present


@dataclass(frozen=True)
class Weekly:
    """Per ISO week (local Mondays `weeks`): value, 95% interval and n of each headline figure.

    series[key] is a DataFrame with columns week, value, lo, hi, n (seconds for durations,
    0..1 for rates, rollouts for frequency).
    """

    weeks: list[date]
    series: dict[str, pd.DataFrame] = field(default_factory=dict)

    def row(self, key: str, week: date) -> dict[str, Any]:
        frame = self.series[key]
        found = frame[frame["week"] == week]
        return found.iloc[0].to_dict() if len(found) else {"value": None, "n": 0}


def _by_week(moments: pd.Series, values: np.ndarray, tz: str) -> dict[int, np.ndarray]:
    """The non-null `values` (floats, one per moment) grouped by the local week of their moment
    (present), by the day number of its Monday; each week's values in the moments' order."""
    if moments.empty:
        return {}
    numbers, present = monday_numbers(moments, tz)
    keep = present & ~np.isnan(values)
    numbers, values = numbers[keep], values[keep]
    order = np.argsort(numbers, kind="stable")
    numbers, values = numbers[order], values[order]
    starts = np.flatnonzero(np.r_[True, numbers[1:] != numbers[:-1]]) if len(numbers) else []
    bounds = [*starts, len(numbers)]
    return {int(numbers[bounds[i]]): values[bounds[i] : bounds[i + 1]] for i in range(len(starts))}


def _durations_by_week(
    items: pd.DataFrame, at: str, seconds: str, weeks: list[date], tz: str
) -> pd.DataFrame:
    """Per week: the median (pandas' linear interpolation) and its order-statistic 95% CI."""
    groups = _by_week(items[at], items[seconds].to_numpy(dtype=float, na_value=np.nan), tz)
    rows = []
    for week in weeks:
        values = np.sort(groups.get(_day_number(week), np.empty(0)))
        n = len(values)
        k = median_ci_rank(n)
        rows.append(
            {
                "week": week,
                "value": float(np.quantile(values, 0.5)) if n else None,
                "lo": float(values[k - 1]) if k else None,
                "hi": float(values[n - k]) if k else None,
                "n": n,
            }
        )
    return pd.DataFrame(rows, columns=["week", "value", "lo", "hi", "n"])


def _rates_by_week(
    items: pd.DataFrame, at: str, flag: str, weeks: list[date], tz: str
) -> pd.DataFrame:
    """Per week: the share of items flagged, with its Wilson 95% interval."""
    # The flags as floats, without a copy of the items' other columns.
    groups = _by_week(items[at], items[flag].to_numpy(dtype=float, na_value=np.nan), tz)
    rows = []
    for week in weeks:
        flags = groups.get(_day_number(week), np.empty(0))
        result = rate(int(flags.sum()), len(flags))
        ci = result.ci95
        rows.append(
            {
                "week": week,
                "value": result.rate,
                "lo": ci[0] if ci else None,
                "hi": ci[1] if ci else None,
                "n": len(flags),
            }
        )
    return pd.DataFrame(rows, columns=["week", "value", "lo", "hi", "n"])


def _counts_by_week(moments: pd.Series, weeks: list[date], tz: str) -> pd.DataFrame:
    """Per week: how many moments fall in it, with its Poisson 95% interval."""
    numbers, present = monday_numbers(moments, tz)
    found, tally = np.unique(numbers[present], return_counts=True)
    counts = dict(zip(found.tolist(), tally.tolist(), strict=True))
    rows = []
    for week in weeks:
        count = int(counts.get(_day_number(week), 0))
        lo, hi = poisson_ci(count)
        rows.append({"week": week, "value": float(count), "lo": lo, "hi": hi, "n": count})
    return pd.DataFrame(rows, columns=["week", "value", "lo", "hi", "n"])


def weekly(result: Headline, *, weeks: list[date], tz: str) -> Weekly:
    """Group the items of a headline computed over the weeks' whole range by local ISO week.

    Each week's value is computed from its own items (medians of that week's changes, rates of
    that week's rollouts), never from other weeks' medians.
    """
    frequency = result.frequency.items
    live = frequency["first_live_at"]  # of the counted rollouts, without their other columns
    counted = live[frequency["counted"]] if len(frequency) else live
    return Weekly(
        weeks=weeks,
        series={
            "deployment_frequency": _counts_by_week(counted, weeks, tz),
            "lead_time": _durations_by_week(
                result.lead_time.items, "arrived_at", "lead_time_seconds", weeks, tz
            ),
            "change_failure_rate": _rates_by_week(
                result.change_failure.items, "first_live_at", "failed", weeks, tz
            ),
            "recovery_time": _durations_by_week(
                result.recovery.items, "restored_at", "recovery_seconds", weeks, tz
            ),
            "rework_rate": _rates_by_week(
                result.rework.items, "first_live_at", "rework", weeks, tz
            ),
        },
    )


TREND_UNITS = {
    "deployment_frequency": "rollouts",
    "lead_time": "hours",
    "change_failure_rate": "%",
    "recovery_time": "hours",
    "rework_rate": "%",
}


def trend_figures(series: Weekly, keys: Sequence[str] = HEADLINE) -> dict[str, dict[str, Any]]:
    """One trend chart (line + 95% band) per figure."""
    titles = {
        "deployment_frequency": "Production rollouts per week",
        "lead_time": "Lead time, weekly median",
        "change_failure_rate": "Change failure rate per week",
        "recovery_time": "Recovery time, weekly median",
        "rework_rate": "Rework rate per week",
    }
    return {
        key: charts.trend_figure(series.series[key], title=titles[key], unit=TREND_UNITS[key])
        for key in keys
    }


# ---------------------------------------------------------------------------------------------
# Weekly team/service view: this week, last week, 12 weeks
# ---------------------------------------------------------------------------------------------


def week_figure(key: str, row: dict[str, Any]) -> Figure:
    """A week's value as a Figure (no level: a week is too short a window for a badge)."""
    value, n = row.get("value"), int(row.get("n") or 0)
    lo, hi = row.get("lo"), row.get("hi")
    ci = (lo, hi) if lo is not None and hi is not None and not pd.isna(lo) else None
    if value is not None and pd.isna(value):
        value = None
    if key == "deployment_frequency":
        text, ci_text, n_label = f"{int(value or 0)}", "", "rollouts"
        if ci:
            ci_text = f"{ci[0]:.1f}–{ci[1]:.1f}"
    elif key in ("change_failure_rate", "rework_rate"):
        text, n_label = percent_text(value), "rollouts"
        ci_text = "" if ci is None else "–".join(percent_text(v) for v in ci)
    else:
        text = hours_text(value)
        n_label = "changes" if key == "lead_time" else "restored"
        ci_text = "" if ci is None else f"{hours_text(ci[0])}–{hours_text(ci[1])}"
    minimum = WEEK_MINIMUMS.get(key)
    small = minimum is not None and 0 < n < minimum
    return Figure(
        key=key,
        value=value,
        text=text,
        n=n,
        n_label=n_label,
        ci=ci,
        ci_text=ci_text,
        level=None,
        badge="",
        badge_text="",
        minimum_text=f"small sample: a level needs {minimum}" if small else "",
    )


# The badge minimums (METRICS §3.6): a week below them is marked as a small sample.
WEEK_MINIMUMS = {
    "lead_time": MIN_CHANGES_LEAD_TIME,
    "change_failure_rate": MIN_ROLLOUTS_CFR,
    "recovery_time": MIN_RESTORED_RECOVERY,
    "rework_rate": MIN_ROLLOUTS_REWORK,
}


@dataclass(frozen=True)
class WeekRow:
    """One figure across this week, last week and the 12 weeks, with the week-on-week change."""

    key: str
    this_week: Figure
    last_week: Figure
    twelve_weeks: Figure
    change: Comparison

    @property
    def label(self) -> str:
        return LABELS[self.key]


def week_rows(result: Headline, series: Weekly) -> list[WeekRow]:
    """This week vs last week vs 12 weeks for each headline figure.

    The 12-week column pools the window's items (the median change over 12 weeks, the rate over
    all its rollouts); for frequency it is the median week's count.
    """
    this, last = series.weeks[-1], series.weeks[-2]
    pooled = {figure.key: figure for figure in result.figures}
    counts = series.series["deployment_frequency"]["value"]
    median_week = float(counts.median()) if len(counts) else 0.0
    pooled["deployment_frequency"] = Figure(
        key="deployment_frequency",
        value=median_week,
        text=f"{median_week:g}",
        n=int(counts.sum()),
        n_label="rollouts",
        ci=None,
        ci_text="median week",
        level=result.frequency.level,
        badge=pooled["deployment_frequency"].badge,
        badge_text=pooled["deployment_frequency"].badge_text,
        minimum_text=pooled["deployment_frequency"].minimum_text,
    )
    rows = []
    for key in HEADLINE:
        current = week_figure(key, series.row(key, this))
        previous = week_figure(key, series.row(key, last))
        rows.append(
            WeekRow(
                key=key,
                this_week=current,
                last_week=previous,
                twelve_weeks=pooled[key],
                change=compare(key, current, previous),
            )
        )
    return rows
