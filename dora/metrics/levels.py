"""Survey categories, benchmark levels per report year, badge minimums, Quick Check overall level
and the 2025 Quick Check placement.

METRICS §3.1 (F1–F6), §3.2 (D1–D6), §3.6 (levels, badges, 2025 percentiles). Categories are strings
"F4", "D5"; levels are "elite", "high", "medium", "low" (2022 has no elite cluster). From 2025 DORA
publishes no levels: a figure is placed as a percentile of the Quick Check industry distribution
(`placement`, `overall_placement`) against DORA's published Quick Check 2025 industry file, which
`load_quick_check` reads from the path its caller resolves (`dora.benchmarks`; origin and licence
in `data/README.md`; the file is not in the repository).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path

import pandas as pd

from dora.metrics.stats import Duration

HOUR = 3600.0
DAY = 24 * HOUR
MONTH = 30 * DAY
HALF_YEAR = 182.5 * DAY

LEVEL_ORDER = ("elite", "high", "medium", "low")  # best first
TIER_YEARS = (2021, 2022, 2023, 2024)  # report years with elite/high/medium/low clusters
PERCENTILE_YEARS = (2025,)  # report years placed against the Quick Check distribution
BENCHMARK_YEARS = (*TIER_YEARS, *PERCENTILE_YEARS)
# The latest report year: the pure functions' default (no tiers, so no level). The service's
# default benchmark depends on whether the published 2025 file is present: dora.benchmarks.
LATEST_BENCHMARK = 2025

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
REWORK_RATE = "rework_rate"


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
    """The clusters of a report year, best first: none for 2025 (no tiers); ValueError for a
    year that is not a benchmark."""
    if year not in BENCHMARK_YEARS:
        raise ValueError(f"benchmark year must be one of {', '.join(map(str, BENCHMARK_YEARS))}")
    return BENCHMARKS.get(year, ())


def has_tiers(year: int) -> bool:
    """Whether a benchmark year publishes levels (2021–2024) rather than a distribution (2025)."""
    return bool(benchmark(year))


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
    metric: str, category: str | None, year: int = LATEST_BENCHMARK
) -> str | None:
    """The best level whose published category the metric's category meets (c >= c_level).

    metric: "deployment_frequency", "lead_time" or "recovery". When no level is met (a category
    below the lowest cluster's), the lowest level: the table says nothing worse exists. None for
    a year without levels (2025).
    """
    clusters = benchmark(year)
    if category is None or not clusters:
        return None
    c = category_number(category)
    for cluster in clusters:
        if c >= getattr(cluster, metric):
            return cluster.level
    return clusters[-1].level


def level_for_failure_rate(rate: float | None, year: int = LATEST_BENCHMARK) -> str | None:
    """The best level whose published CFR the rate is at or below (rate is 0..1).

    Reading of the 2024 inversion (high 20%, medium 10%): levels are tried best first and the
    first whose value the rate does not exceed wins. 8% meets both high (<= 20) and medium
    (<= 10); high is the better level, so medium can never be assigned from CFR in 2024 and
    any rate in (5%, 20%] is high. Likewise 2021's high/medium/low share 30%, so high wins.
    A rate above every published value gets the lowest level; None for a year without levels.
    """
    clusters = benchmark(year)
    if rate is None or (isinstance(rate, float) and math.isnan(rate)) or not clusters:
        return None
    percent = rate * 100
    for cluster in clusters:
        if percent <= cluster.change_failure_percent + 1e-9:
            return cluster.level
    return clusters[-1].level


def graded(
    duration: Duration, metric: str | None, *, year: int = LATEST_BENCHMARK, min_n: int = 0
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


@dataclass(frozen=True)
class ClusterDistance:
    """How far a team is from one cluster: the Euclidean distance in Quick Check scores and,
    per metric present, (metric, the team's score, the cluster's published score)."""

    level: str
    distance: float
    gaps: tuple[tuple[str, float, float], ...]


@dataclass(frozen=True)
class NearestCluster:
    """The overall level of a tier year and why: the nearest cluster of `year` to the team's
    badged figures, every cluster's distance (best cluster first) and, per metric, the level
    that figure alone is nearest to."""

    year: int
    level: str
    clusters: tuple[ClusterDistance, ...]
    alone: tuple[tuple[str, str], ...]  # (metric, the cluster nearest on that metric alone)

    @property
    def chosen(self) -> ClusterDistance:
        return next(c for c in self.clusters if c.level == self.level)

    @property
    def pulls(self) -> tuple[tuple[str, float], ...]:
        """Per metric, its share (0..1) of the squared distance to the chosen cluster, largest
        first: the figure that sits furthest from where the overall landed leads."""
        chosen = self.chosen
        total = sum((team - published) ** 2 for _, team, published in chosen.gaps)
        shares = [
            (metric, 0.0 if total == 0 else (team - published) ** 2 / total)
            for metric, team, published in chosen.gaps
        ]
        return tuple(sorted(shares, key=lambda pair: -pair[1]))


def _published_scores(cluster: Benchmark) -> dict[str, float]:
    return {
        DEPLOYMENT_FREQUENCY: (cluster.deployment_frequency - 1) * 2.0,
        LEAD_TIME: (cluster.lead_time - 1) * 2.0,
        RECOVERY: (cluster.recovery - 1) * 2.0,
        CHANGE_FAILURE_RATE: percent_score(cluster.change_failure_percent),
    }


def nearest_cluster(
    year: int = LATEST_BENCHMARK,
    *,
    deployment_frequency: str | None = None,
    lead_time: str | None = None,
    recovery: str | None = None,
    change_failure_rate: float | None = None,
) -> NearestCluster | None:
    """The cluster nearest to the team in Quick Check scores, with every distance; ties go to
    the lower level.

    Pass only metrics that earned a badge (None for absent or insufficient data); distance is
    Euclidean over the metrics present. Each cluster's CFR is the published value of §3.6 (for
    2021/2022 the upper bound of its range, as in the table). None when no metric is present.
    change_failure_rate is a proportion (0..1). None for a year without levels (2025: see
    `overall_placement`).
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
    clusters = benchmark(year)
    if not team or not clusters:
        return None
    distances = []
    best_level, best_distance = clusters[0].level, math.inf
    for cluster in clusters:  # best first, so a tie (<=) moves to the lower level
        published = _published_scores(cluster)
        gaps = tuple((m, team[m], published[m]) for m in team)
        distance = math.sqrt(sum((t - p) ** 2 for _, t, p in gaps))
        distances.append(ClusterDistance(cluster.level, distance, gaps))
        if distance <= best_distance + 1e-9:
            best_level, best_distance = cluster.level, min(distance, best_distance)
    alone = []
    for metric, score in team.items():
        nearest, gap = clusters[0].level, math.inf
        for cluster in clusters:
            this = abs(score - _published_scores(cluster)[metric])
            if this <= gap + 1e-9:
                nearest, gap = cluster.level, min(this, gap)
        alone.append((metric, nearest))
    return NearestCluster(year, best_level, tuple(distances), tuple(alone))


def overall_level(
    year: int = LATEST_BENCHMARK,
    *,
    deployment_frequency: str | None = None,
    lead_time: str | None = None,
    recovery: str | None = None,
    change_failure_rate: float | None = None,
) -> str | None:
    """The level of the cluster nearest to the team (`nearest_cluster`); None when no metric is
    present or for a year without levels."""
    nearest = nearest_cluster(
        year,
        deployment_frequency=deployment_frequency,
        lead_time=lead_time,
        recovery=recovery,
        change_failure_rate=change_failure_rate,
    )
    return None if nearest is None else nearest.level


# ---------------------------------------------------------------------------------------------
# 2025: the Quick Check industry distribution (METRICS §3.6)
# ---------------------------------------------------------------------------------------------

DEFAULT_INDUSTRY = "all"

THROUGHPUT = "throughput"
INSTABILITY = "instability"
# DORA's two groups of the five metrics, in the order DORA lists them.
GROUPS: dict[str, tuple[str, ...]] = {
    THROUGHPUT: (LEAD_TIME, DEPLOYMENT_FREQUENCY, RECOVERY),
    INSTABILITY: (CHANGE_FAILURE_RATE, REWORK_RATE),
}
METRIC_GROUP = {metric: group for group, metrics in GROUPS.items() for metric in metrics}
# Our metric names -> the figures' keys in the report (CONTRACT §4).
FIGURE_KEYS = {
    LEAD_TIME: "lead_time",
    DEPLOYMENT_FREQUENCY: "deployment_frequency",
    RECOVERY: "recovery_time",
    CHANGE_FAILURE_RATE: "change_failure_rate",
    REWORK_RATE: "rework_rate",
}
PERCENT_METRICS = (CHANGE_FAILURE_RATE, REWORK_RATE)

# Our metric names -> the Quick Check file's keys (its data-service.ts METRIC_DEFINITIONS).
_QUICK_CHECK_KEYS = {
    LEAD_TIME: "leadtime",
    DEPLOYMENT_FREQUENCY: "deployfreq",
    RECOVERY: "failurerecovery",
    CHANGE_FAILURE_RATE: "changefailure",
    REWORK_RATE: "rework",
}


@dataclass(frozen=True)
class Reference:
    """An industry's mean and standard deviation of a 0–10 score, higher is better."""

    mean: float
    std: float


@dataclass(frozen=True)
class Industry:
    """One industry of the 2025 Quick Check file, its references on the higher-is-better scale.

    The file gives change failure and rework on the instability scale (p/10, higher is worse),
    and `software_delivery_instability` likewise; Quick Check turns each into 10 − mean with the
    same std (data-service.ts `transformMetrics`), and so do we. Its `performance_average` mean
    was averaged with the instability means as published (4.3 for all industries), so Quick
    Check recomputes it as the mean of the five turned means (6.72) and keeps the file's std.
    """

    key: str
    name: str
    metrics: Mapping[str, Reference]  # our metric names
    groups: Mapping[str, Reference]  # throughput, instability (as stability: higher is better)
    overall: Reference


def _reference(entry: Mapping[str, object], key: str, *, turned: bool = False) -> Reference:
    values = entry[key]
    if not isinstance(values, Mapping):
        raise ValueError(f"quick check data: {key} is not an object")
    mean, std = float(values["mean"]), float(values["std"])
    return Reference(mean=10 - mean if turned else mean, std=std)


def industries_from(raw: Mapping[str, object]) -> dict[str, Industry]:
    """The industries of a Quick Check 2025 file's content, by key (file order, "all" first)."""
    result: dict[str, Industry] = {}
    for key, entry in raw.items():
        if not isinstance(entry, Mapping):
            raise ValueError(f"quick check data: {key} is not an object")
        metrics = {
            metric: _reference(entry, qc_key, turned=metric in PERCENT_METRICS)
            for metric, qc_key in _QUICK_CHECK_KEYS.items()
        }
        overall = _reference(entry, "performance_average")
        result[key] = Industry(
            key=key,
            name=str(entry["name"]),
            metrics=metrics,
            groups={
                THROUGHPUT: _reference(entry, "software_delivery_throughput"),
                INSTABILITY: _reference(entry, "software_delivery_instability", turned=True),
            },
            overall=Reference(
                mean=sum(r.mean for r in metrics.values()) / len(metrics), std=overall.std
            ),
        )
    return result


@cache
def load_quick_check(path: Path) -> dict[str, Industry]:
    """The industries of the Quick Check 2025 file at `path`, read once per path.
    FileNotFoundError when it is absent (the caller decides where to look: dora.benchmarks)."""
    return industries_from(json.loads(Path(path).read_text(encoding="utf-8")))


def normal_cdf(z: float) -> float:
    """Φ(z), the standard normal distribution function."""
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


@dataclass(frozen=True)
class Placement:
    """A 0–10 Quick Check score placed in an industry's 2025 distribution: z and Φ(z)."""

    score: float
    mean: float
    std: float
    z: float
    percentile: float  # 0..100: better than about this share of 2025 respondents

    def as_dict(self) -> dict[str, float]:
        return {
            "score": round(self.score, 4),
            "mean": round(self.mean, 4),
            "std": self.std,
            "z": round(self.z, 4),
            "percentile": round(self.percentile, 1),
        }


def placed(score: float, reference: Reference) -> Placement:
    """z = (score − mean) / std and percentile = 100·Φ(z)."""
    z = (score - reference.mean) / reference.std
    return Placement(
        score=score, mean=reference.mean, std=reference.std, z=z, percentile=100 * normal_cdf(z)
    )


def metric_score(metric: str, value: str | float | None) -> float | None:
    """The Quick Check 0–10 score of a figure: a category ("F4", "D5") for lead time, frequency
    and recovery, a proportion (0..1) for change failure and rework; None when absent."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if metric in PERCENT_METRICS:
        return percent_score(float(value) * 100)
    return category_score(str(value))


def placement(metric: str, score: float, industry: Industry) -> Placement:
    """A metric's score against the chosen industry's 2025 mean and std (METRICS §3.6)."""
    return placed(score, industry.metrics[metric])


@dataclass(frozen=True)
class Placements:
    """The 2025 placement of a team: each metric that earned a badge, the two groups and the
    overall figure (the Quick Check performance average of the available scores)."""

    industry: Industry
    metrics: Mapping[str, Placement]
    groups: Mapping[str, Placement | None]
    overall: Placement | None

    def as_dict(self) -> dict[str, object]:
        return {
            "benchmark": "2025",
            "industry": self.industry.key,
            "industry_name": self.industry.name,
            "overall": None
            if self.overall is None
            else {**self.overall.as_dict(), "metrics": [FIGURE_KEYS[m] for m in self.metrics]},
            "groups": {
                group: {
                    "metrics": [FIGURE_KEYS[m] for m in GROUPS[group] if m in self.metrics],
                    **(
                        {"score": None, "percentile": None}
                        if self.groups[group] is None
                        else self.groups[group].as_dict()  # type: ignore[union-attr]
                    ),
                }
                for group in GROUPS
            },
        }


def overall_placement(scores: Mapping[str, float | None], chosen: Industry) -> Placements:
    """Place each available score, each group's mean score and the mean of all of them.

    scores: metric name -> 0–10 score, only for metrics that earned a badge (None or absent
    otherwise). As Quick Check, the overall figure is the mean of the available scores against
    the performance average's reference; a group's figure is the mean of its available scores
    against the group's reference (instability as stability: higher is better).
    """
    present = {m: s for m, s in scores.items() if s is not None}
    metrics = {m: placed(s, chosen.metrics[m]) for m, s in present.items()}
    groups: dict[str, Placement | None] = {}
    for group, members in GROUPS.items():
        values = [present[m] for m in members if m in present]
        groups[group] = placed(sum(values) / len(values), chosen.groups[group]) if values else None
    overall = placed(sum(present.values()) / len(present), chosen.overall) if present else None
    return Placements(industry=chosen, metrics=metrics, groups=groups, overall=overall)


def percentile_shown(percentile: float) -> int:
    """A placement as a whole percent, at most 99: no figure is better than every respondent
    ("better than 100%" read as a claim nobody can make; 99.6 is "about 99%")."""
    return min(round(percentile), 99)


def percentile_text(percentile: float | None, year: int = 2025) -> str:
    """ "better than about 72% of 2025 respondents" (a whole percent, at most 99)."""
    if percentile is None:
        return ""
    return f"better than about {percentile_shown(percentile)}% of {year} respondents"
