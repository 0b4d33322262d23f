"""The headline figures as pages show them: value, level, interval, badge and words per figure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from dora.metrics.failure import ChangeFailureRate
from dora.metrics.frequency import Frequency
from dora.metrics.lead_time import LeadTime
from dora.metrics.levels import (
    CHANGE_FAILURE_RATE,
    DEPLOYMENT_FREQUENCY,
    GROUPS,
    LEAD_TIME,
    METRIC_GROUP,
    MIN_CHANGES_LEAD_TIME,
    MIN_RESTORED_RECOVERY,
    MIN_ROLLOUTS_CFR,
    MIN_ROLLOUTS_REWORK,
    RECOVERY,
    REWORK_RATE,
    NearestCluster,
    percentile_shown,
    percentile_text,
)
from dora.metrics.recovery import RecoveryTime
from dora.metrics.rework import ReworkRate
from dora.reads import charts
from dora.units import duration_human

# DORA's industry reference for rework (METRICS §3.5: no level table exists).
REWORK_REFERENCE = 0.22

HEADLINE = (
    "deployment_frequency",
    "lead_time",
    "change_failure_rate",
    "recovery_time",
    "rework_rate",
)
LABELS = {
    "deployment_frequency": "Deployment frequency",
    "lead_time": "Lead time for changes",
    "change_failure_rate": "Change failure rate",
    "recovery_time": "Failed deployment recovery time",
    "rework_rate": "Deployment rework rate",
}
# The headline figures' metric names in dora.metrics.levels, and DORA's groups of them (2025).
HEADLINE_METRICS = {
    "deployment_frequency": DEPLOYMENT_FREQUENCY,
    "lead_time": LEAD_TIME,
    "change_failure_rate": CHANGE_FAILURE_RATE,
    "recovery_time": RECOVERY,
    "rework_rate": REWORK_RATE,
}
GROUP_LABELS = {"throughput": "Throughput", "instability": "Instability"}


# ---------------------------------------------------------------------------------------------
# Headline figures
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One headline figure as a page shows it: value, n, 95% interval, level or why not."""

    key: str
    value: float | None
    text: str
    n: int
    n_label: str
    ci: tuple[float, float] | None
    ci_text: str
    level: str | None
    # a level, a 2025 band (top/upper/lower/bottom), "insufficient" (below the minimum),
    # "reference"
    badge: str
    badge_text: str
    minimum_text: str = ""
    percentile: float | None = None  # the 2025 placement, 0..100

    @property
    def label(self) -> str:
        return LABELS[self.key]

    @property
    def group(self) -> str:
        """DORA's group of the figure: throughput or instability."""
        return METRIC_GROUP[HEADLINE_METRICS[self.key]]


def placed_figure(figure: Figure, percentile: float | None, industry_name: str) -> Figure:
    """A figure with its 2025 placement as its badge ("Better than 72%"); unchanged when it has
    none (below its badge minimum: the insufficient-data badge stays)."""
    if percentile is None:
        if figure.badge == "reference":  # rework's "No level table": 2025 places it
            return replace(figure, badge="insufficient", badge_text="No placement", minimum_text="")
        if figure.badge_text == "No level":
            return replace(figure, badge_text="No placement")
        return figure
    return replace(
        figure,
        badge=charts.percentile_band(percentile),  # coloured as the placement chart's bands
        badge_text=f"Better than {percentile_shown(percentile)}%",
        minimum_text=f"{percentile_text(percentile)} ({industry_name})",
        percentile=percentile,
    )


def grouped(figures: Sequence[Figure]) -> list[tuple[str, list[Figure]]]:
    """The figures in DORA's two groups, in DORA's order: (group label, figures)."""
    by_key = {figure.key: figure for figure in figures}
    order = {metric: key for key, metric in HEADLINE_METRICS.items()}
    return [
        (GROUP_LABELS[group], [by_key[order[m]] for m in metrics if order[m] in by_key])
        for group, metrics in GROUPS.items()
    ]


def percent_text(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f}%"


METRIC_LABELS = {metric: LABELS[key] for key, metric in HEADLINE_METRICS.items()}


def _metric_label(metric: str, year: int) -> str:
    if metric == RECOVERY and year <= 2022:
        return "Time to restore service"  # the 2021/2022 tables' recovery
    return METRIC_LABELS.get(metric, metric)


def _score_text(score: float) -> str:
    return f"{score:.1f}"


def nearest_text(nearest: NearestCluster | None) -> dict[str, Any] | None:
    """Why a tier year's overall level is what it is, for a page: every cluster's distance
    (best cluster first, the chosen one marked), each badged figure's Quick Check score beside
    each cluster's published one and the cluster it alone is nearest to, and the sentence
    naming the figure that pulled the overall furthest. None for 2025 or no badged figure."""
    if nearest is None:
        return None
    alone = dict(nearest.alone)
    metrics = [metric for metric, _, _ in nearest.clusters[0].gaps]
    chosen = {metric: published for metric, _, published in nearest.chosen.gaps}
    rows = []
    for metric in metrics:
        published = [
            next(p for m, _, p in cluster.gaps if m == metric) for cluster in nearest.clusters
        ]
        team = next(t for m, t, _ in nearest.clusters[0].gaps if m == metric)
        rows.append(
            {
                "label": _metric_label(metric, nearest.year),
                "team": _score_text(team),
                "published": [_score_text(p) for p in published],
                "off": f"{team - chosen[metric]:+.1f}" if team != chosen[metric] else "0",
            }
        )
    pulls = nearest.pulls
    level = nearest.level.capitalize()
    scores = {metric: team for metric, team, _ in nearest.chosen.gaps}
    gaps = [
        f"{_metric_label(metric, nearest.year).lower()} {scores[metric] - chosen[metric]:+.1f}"
        for metric, share in pulls
        if share > 0
    ]
    if gaps:
        top_metric, top_share = pulls[0]
        sentence = (
            f"Against {level}: {', '.join(gaps)} score points. "
            f"{_metric_label(top_metric, nearest.year)} pulled furthest: "
            f"{top_share * 100:.0f}% of the squared distance to {level}; on its own it is "
            f"nearest to {alone[top_metric].capitalize()}."
        )
    else:
        sentence = f"Every badged figure matches the {level} cluster exactly."
    return {
        "year": nearest.year,
        "level": nearest.level,
        "clusters": [
            {
                "level": c.level,
                "distance": f"{c.distance:.2f}",
                "chosen": c.level == nearest.level,
            }
            for c in nearest.clusters
        ],
        "rows": rows,
        "sentence": sentence,
    }


def hours_text(seconds: float | None) -> str:
    """A duration for people: days above 48 hours (dora.units.duration_human); "–" for none."""
    return duration_human(seconds)


def _badge(level: str | None, n: int, minimum: int, *, why: str) -> tuple[str, str, str]:
    if level:
        return level, level.capitalize(), ""
    if n < minimum:
        return "insufficient", "Insufficient data", f"n={n}, a level needs {minimum} {why}"
    return "insufficient", "No level", ""


def frequency_figure(result: Frequency) -> Figure:
    ci = result.per_week_ci95
    badge, badge_text, minimum = (
        (result.level, result.level.capitalize(), "")
        if result.level
        else ("insufficient", "Insufficient data", "a level needs 8 weeks of production history")
    )
    return Figure(
        key="deployment_frequency",
        value=result.per_week,
        text=f"{result.per_week:.1f}/week",
        n=result.rollouts,
        n_label="rollouts",
        ci=ci,
        ci_text="" if ci is None else f"{ci[0]:.1f}–{ci[1]:.1f}/week",
        level=result.level,
        badge=badge,
        badge_text=badge_text,
        minimum_text=minimum,
    )


def _duration_figure(key: str, duration: Any, n_label: str, minimum: int, why: str) -> Figure:
    ci = duration.median_ci95
    badge, badge_text, minimum_text = _badge(duration.level, duration.n, minimum, why=why)
    return Figure(
        key=key,
        value=duration.p50,
        text=hours_text(duration.p50),
        n=duration.n,
        n_label=n_label,
        ci=ci,
        ci_text="" if ci is None else f"{hours_text(ci[0])}–{hours_text(ci[1])}",
        level=duration.level,
        badge=badge,
        badge_text=badge_text,
        minimum_text=minimum_text,
    )


def lead_time_figure(result: LeadTime) -> Figure:
    return _duration_figure(
        "lead_time", result.duration, "changes", MIN_CHANGES_LEAD_TIME, "changes"
    )


def recovery_figure(result: RecoveryTime) -> Figure:
    return _duration_figure(
        "recovery_time", result.duration, "restored", MIN_RESTORED_RECOVERY, "restored failures"
    )


def failure_figure(result: ChangeFailureRate) -> Figure:
    badge, badge_text, minimum = _badge(
        result.level, result.rollouts, MIN_ROLLOUTS_CFR, why="rollouts"
    )
    return Figure(
        key="change_failure_rate",
        value=result.rate,
        text=percent_text(result.rate),
        n=result.rollouts,
        n_label="rollouts",
        ci=result.ci95,
        ci_text="" if result.ci95 is None else "–".join(percent_text(v) for v in result.ci95),
        level=result.level,
        badge=badge,
        badge_text=badge_text,
        minimum_text=minimum,
    )


def rework_figure(result: ReworkRate) -> Figure:
    n = result.rollouts
    if n < MIN_ROLLOUTS_REWORK:
        badge, badge_text = "insufficient", "Insufficient data"
        minimum = f"n={n}, a comparison needs {MIN_ROLLOUTS_REWORK} rollouts"
    else:
        badge, badge_text, minimum = "reference", "No level table", ""
    return Figure(
        key="rework_rate",
        value=result.rate,
        text=percent_text(result.rate),
        n=n,
        n_label="rollouts",
        ci=result.ci95,
        ci_text="" if result.ci95 is None else "–".join(percent_text(v) for v in result.ci95),
        level=None,
        badge=badge,
        badge_text=badge_text,
        minimum_text=minimum or f"industry reference ≈{REWORK_REFERENCE * 100:.0f}%",
    )
