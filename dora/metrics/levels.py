"""Survey categories, benchmark levels per report year, badge minimums, Quick Check overall level.

METRICS §3.1 (F1–F6), §3.2 (D1–D6), §3.6 (levels and badges). Categories are strings "F4", "D5";
levels are "elite", "high", "medium", "low" (2022 has no elite cluster).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import pandas as pd

from dora.metrics.stats import Duration

HOUR = 3600.0
DAY = 24 * HOUR
MONTH = 30 * DAY
HALF_YEAR = 182.5 * DAY

LEVEL_ORDER = ("elite", "high", "medium", "low")  # best first
BENCHMARK_YEARS = (2021, 2022, 2023, 2024)
DEFAULT_BENCHMARK = 2024

# Badge minimums (METRICS §3.6): below them the value, n and CI are shown, the level is not.
MIN_CHANGES_LEAD_TIME = 10
MIN_ROLLOUTS_CFR = 20
MIN_ROLLOUTS_REWORK = 20
MIN_RESTORED_RECOVERY = 5
MIN_FREQUENCY_HISTORY = timedelta(weeks=8)

# Metric names used by the level table.
DEPLOYMENT_FREQUENCY = "deployment_frequency"
LEAD_TIME = "lead_time"
RECOVERY = "recovery"
CHANGE_FAILURE_RATE = "change_failure_rate"


@dataclass(frozen=True)
class Benchmark:
    """One cluster of one report year: its published category per metric and CFR percent."""

    year: int
    level: str
    deployment_frequency: int
    lead_time: int
    recovery: int
    change_failure_percent: float


def _year(year: int, rows: list[tuple[str, int, int, int, float]]) -> tuple[Benchmark, ...]:
    return tuple(Benchmark(year, *row) for row in rows)


# METRICS §3.6, best cluster first. CFR for 2021/2022 is the upper bound of the published range.
BENCHMARKS: dict[int, tuple[Benchmark, ...]] = {
    2021: _year(
        2021,
        [
            ("elite", 6, 6, 6, 15),
            ("high", 3, 4, 5, 30),
            ("medium", 2, 2, 4, 30),
            ("low", 1, 1, 1, 30),
        ],
    ),
    2022: _year(2022, [("high", 6, 4, 5, 15), ("medium", 3, 3, 4, 30), ("low", 2, 2, 3, 60)]),
    2023: _year(
        2023,
        [
            ("elite", 6, 5, 6, 5),
            ("high", 4, 4, 5, 10),
            ("medium", 3, 3, 4, 15),
            ("low", 3, 3, 2, 64),
        ],
    ),
    2024: _year(
        2024,
        [
            ("elite", 6, 5, 6, 5),
            ("high", 4, 4, 5, 20),
            ("medium", 3, 3, 5, 10),
            ("low", 2, 2, 3, 40),
        ],
    ),
}


def benchmark(year: int) -> tuple[Benchmark, ...]:
    """The clusters of a report year, best first; ValueError for a year without a table."""
    if year not in BENCHMARKS:
        raise ValueError(f"benchmark year must be one of {', '.join(map(str, BENCHMARK_YEARS))}")
    return BENCHMARKS[year]


# ---------------------------------------------------------------------------------------------
# Categories
# ---------------------------------------------------------------------------------------------


def duration_category(p50_seconds: float | None) -> str | None:
    """D6 < 1 h, D5 < 1 day, D4 < 7 days, D3 < 30 days, D2 < 182.5 days, else D1 (§3.2)."""
    if p50_seconds is None or (isinstance(p50_seconds, float) and math.isnan(p50_seconds)):
        return None
    for code, bound in ((6, HOUR), (5, DAY), (4, 7 * DAY), (3, MONTH), (2, HALF_YEAR)):
        if p50_seconds < bound:
            return f"D{code}"
    return "D1"


def frequency_category(
    *,
    median_deploy_days_per_week: float,
    rollouts_per_deploy_day: float,
    median_deploy_days_per_month: float,
    rollouts_last_half_year: int,
) -> str:
    """F6..F1 from the §3.1 rule; the caller computes the medians (zero periods included)."""
    if median_deploy_days_per_week >= 3 and rollouts_per_deploy_day >= 2:
        return "F6"
    if median_deploy_days_per_week >= 3:
        return "F5"
    if median_deploy_days_per_week >= 1:
        return "F4"
    if median_deploy_days_per_month >= 1:
        return "F3"
    if rollouts_last_half_year >= 1:
        return "F2"
    return "F1"


def category_number(category: str) -> int:
    """'D4' -> 4."""
    return int(category[1:])


# ---------------------------------------------------------------------------------------------
# Levels
# ---------------------------------------------------------------------------------------------


def level_for_category(
    metric: str, category: str | None, year: int = DEFAULT_BENCHMARK
) -> str | None:
    """The best level whose published category the metric's category meets (c >= c_level).

    metric: "deployment_frequency", "lead_time" or "recovery". When no level is met (a category
    below the lowest cluster's), the lowest level: the table says nothing worse exists.
    """
    if category is None:
        return None
    c = category_number(category)
    clusters = benchmark(year)
    for cluster in clusters:
        if c >= getattr(cluster, metric):
            return cluster.level
    return clusters[-1].level


def level_for_failure_rate(rate: float | None, year: int = DEFAULT_BENCHMARK) -> str | None:
    """The best level whose published CFR the rate is at or below (rate is 0..1).

    Reading of the 2024 inversion (high 20%, medium 10%): levels are tried best first and the
    first whose value the rate does not exceed wins. 8% meets both high (<= 20) and medium
    (<= 10); high is the better level, so medium can never be assigned from CFR in 2024 and
    any rate in (5%, 20%] is high. Likewise 2021's high/medium/low share 30%, so high wins.
    A rate above every published value gets the lowest level.
    """
    if rate is None or (isinstance(rate, float) and math.isnan(rate)):
        return None
    percent = rate * 100
    clusters = benchmark(year)
    for cluster in clusters:
        if percent <= cluster.change_failure_percent + 1e-9:
            return cluster.level
    return clusters[-1].level


def graded(
    duration: Duration, metric: str | None, *, year: int = DEFAULT_BENCHMARK, min_n: int = 0
) -> Duration:
    """The duration with its D category and, when n >= min_n and a table exists, its level."""
    category = duration_category(duration.p50)
    level = None
    if metric is not None and duration.n >= min_n and duration.n > 0:
        level = level_for_category(metric, category, year)
    return replace(duration, category=category, level=level)


def frequency_badge_allowed(first_rollout_at: datetime | None, until: datetime) -> bool:
    """The frequency badge needs the first production rollout >= 8 weeks before `until`."""
    if first_rollout_at is None or pd.isna(first_rollout_at):
        return False
    return pd.Timestamp(first_rollout_at) <= pd.Timestamp(until) - MIN_FREQUENCY_HISTORY


# ---------------------------------------------------------------------------------------------
# Quick Check overall level
# ---------------------------------------------------------------------------------------------


def category_score(category: str) -> float:
    """Quick Check score of a survey category c in 1..6: (c - 1) * 2, on 0..10."""
    return (category_number(category) - 1) * 2.0


def percent_score(percent: float) -> float:
    """Quick Check score of a percentage p (CFR, rework): 10 - p / 10."""
    return 10 - percent / 10


def overall_level(
    year: int = DEFAULT_BENCHMARK,
    *,
    deployment_frequency: str | None = None,
    lead_time: str | None = None,
    recovery: str | None = None,
    change_failure_rate: float | None = None,
) -> str | None:
    """The cluster nearest to the team in Quick Check scores; ties go to the lower level.

    Pass only metrics that earned a badge (None for absent or insufficient data); distance is
    Euclidean over the metrics present. Each cluster's CFR is the published value of §3.6 (for
    2021/2022 the upper bound of its range, as in the table). None when no metric is present.
    change_failure_rate is a proportion (0..1).
    """
    team: dict[str, float] = {}
    if deployment_frequency is not None:
        team[DEPLOYMENT_FREQUENCY] = category_score(deployment_frequency)
    if lead_time is not None:
        team[LEAD_TIME] = category_score(lead_time)
    if recovery is not None:
        team[RECOVERY] = category_score(recovery)
    if change_failure_rate is not None:
        team[CHANGE_FAILURE_RATE] = percent_score(change_failure_rate * 100)
    if not team:
        return None
    best_level, best_distance = None, math.inf
    for cluster in benchmark(year):  # best first, so a tie (<=) moves to the lower level
        published = {
            DEPLOYMENT_FREQUENCY: (cluster.deployment_frequency - 1) * 2.0,
            LEAD_TIME: (cluster.lead_time - 1) * 2.0,
            RECOVERY: (cluster.recovery - 1) * 2.0,
            CHANGE_FAILURE_RATE: percent_score(cluster.change_failure_percent),
        }
        distance = math.sqrt(sum((team[m] - published[m]) ** 2 for m in team))
        if distance <= best_distance + 1e-9:
            best_level, best_distance = cluster.level, min(distance, best_distance)
    return best_level
