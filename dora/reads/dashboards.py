"""What the dashboard pages show: headline figures, period comparisons and weekly series.

Built on `dora.reads.report.MetricsComputation` (its frames are read once per page) and the pure
`dora.metrics` functions: a page reads one scope over one range, then splits the frames by team,
service or ISO week in pandas instead of computing a report per bucket. Views render what these
functions return; nothing here renders HTML.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.db.models import Min, Q

from dora.failure_words import failure_reasons
from dora.metrics.failure import ChangeFailureRate
from dora.metrics.frequency import Frequency
from dora.metrics.integration import Integration, integration_frequency
from dora.metrics.lead_time import LeadTime
from dora.metrics.levels import (
    CHANGE_FAILURE_RATE,
    DEFAULT_INDUSTRY,
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
from dora.metrics.stats import median_ci_rank, poisson_ci, rate
from dora.models import Deployment, Rollout, Service, Tier
from dora.reads import charts
from dora.reads.report import DoraFigures, MetricsComputation
from dora.reads.scope import Scope
from dora.units import duration_human
from dora.window import Window

WEEKS = 12
ORG_TREND_WEEKS = 26
RECENT_ROLLOUTS = 15
# A rollout not yet on every active target whose newest deployment is older than this has
# stopped: it reads "partial", not "rolling out" (rollout_status).
ROLLOUT_SETTLED = timedelta(hours=24)
CHANGES_PER_ROLLOUT = 6
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
# Which direction is better, for the arrows of a comparison.
HIGHER_IS_BETTER = {"deployment_frequency": True}


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


class Headline(DoraFigures):
    """The five DORA figures of one scope and window, and the overall level, each computed on
    first use from the scope's rollouts and arrivals frames (any superset of the window) by the
    report's own definitions (dora.reads.report.DoraFigures): a page and the API agree.

    `incidents` (the scope's, any superset of the window) is needed only for the 2021 and 2022
    levels, whose recovery column is time to restore service.
    """

    def __init__(
        self,
        rollouts: pd.DataFrame,
        arrivals: pd.DataFrame,
        *,
        since: datetime,
        until: datetime,
        now: datetime,
        tz: str,
        benchmark: int,
        first_rollout_at: datetime | None,
        incidents: pd.DataFrame | None = None,
        industry: str = DEFAULT_INDUSTRY,
    ) -> None:
        self.rollouts, self.arrivals, self._incidents = rollouts, arrivals, incidents
        self.since, self.until, self.now, self._tz = since, until, now, tz
        self.benchmark, self.first_rollout_at = benchmark, first_rollout_at
        self.industry = industry

    @property
    def tz(self) -> str:
        return self._tz

    @property
    def incidents(self) -> pd.DataFrame:
        if self._incidents is None:
            raise ValueError("the 2021/2022 levels use time to restore: pass the scope's incidents")
        return self._incidents

    @property
    def figures(self) -> list[Figure]:
        """The five figures; with the 2025 benchmark each badge is its percentile."""
        figures = [
            frequency_figure(self.frequency),
            lead_time_figure(self.lead_time),
            failure_figure(self.change_failure),
            recovery_figure(self.recovery),
            rework_figure(self.rework),
        ]
        placements = self.placements
        if placements is None:
            return figures
        return [
            placed_figure(
                figure, self.percentile(HEADLINE_METRICS[figure.key]), placements.industry.name
            )
            for figure in figures
        ]

    @property
    def level(self) -> str | None:
        """The Quick Check level over the figures that earned a badge (rework has none)."""
        return self.overall_level()

    @property
    def nearest(self) -> dict[str, Any] | None:
        """The overall level's reasons as a page shows them (None for 2025): `nearest_text`."""
        return nearest_text(self.overall_nearest())

    @property
    def placement(self) -> dict[str, Any] | None:
        """The overall 2025 placement as a page shows it (None for a tier year): percentile,
        its sentence, the industry and each group's percentile."""
        placements = self.placements
        if placements is None:
            return None
        overall = placements.overall
        return {
            "percentile": None if overall is None else overall.percentile,
            "shown": None if overall is None else percentile_shown(overall.percentile),
            # Its colour: the band the page's "services per placement" chart uses.
            "band": charts.percentile_band(None if overall is None else overall.percentile),
            "text": "" if overall is None else percentile_text(overall.percentile),
            "score": None if overall is None else overall.score,
            "industry": placements.industry.name,
            "groups": [
                {
                    "name": GROUP_LABELS[group],
                    "percentile": None if placed is None else placed.percentile,
                    "text": "" if placed is None else percentile_text(placed.percentile),
                }
                for group, placed in placements.groups.items()
            ],
        }


def incidents_for_levels(c: MetricsComputation) -> pd.DataFrame | None:
    """The scope's incidents when the benchmark's levels need them (2021/2022: time to restore),
    else None: they are not read for nothing."""
    return c.incidents if c.benchmark <= 2022 else None


@dataclass(frozen=True)
class Parts:
    """One scope's rows of every figure's row-wise pass over one window (`frequency_frame`,
    `lead_time_items`, `change_failure_items`, `recovery_items`, `rework_items` and, for the
    2021/2022 levels, `restore_items` of dora.metrics): what is left to compute its figures is
    counting and percentiles. See `split_headlines`."""

    frequency: pd.DataFrame
    lead_time: pd.DataFrame
    change_failure: pd.DataFrame
    recovery: pd.DataFrame
    unrestored: pd.DataFrame
    rework: pd.DataFrame
    restore: pd.DataFrame | None = None
    still_open: pd.DataFrame | None = None


class SplitHeadline(Headline):
    """A Headline whose figures come from its scope's `Parts` (one pass over many scopes)
    instead of from its own frames: the same numbers, as `split_headlines` tests."""

    def __init__(self, parts: Parts, **kwargs: Any) -> None:
        # As its rollouts and arrivals, the rows its frequency and lead time count (no figure
        # reads its frames: the *_rows methods below give its parts).
        super().__init__(parts.frequency, parts.lead_time, **kwargs)
        self.parts = parts

    def frequency_rows(self) -> pd.DataFrame:
        return self.parts.frequency

    def lead_time_rows(self) -> pd.DataFrame:
        return self.parts.lead_time

    def change_failure_rows(self) -> pd.DataFrame:
        return self.parts.change_failure

    def recovery_rows(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        return self.parts.recovery, self.parts.unrestored

    def restore_rows(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        if self.parts.restore is None or self.parts.still_open is None:
            raise ValueError("the 2021/2022 levels use time to restore: pass the incidents")
        return self.parts.restore, self.parts.still_open

    def rework_rows(self) -> pd.DataFrame:
        return self.parts.rework


def _split(frame: pd.DataFrame, groups: dict[str, Any]) -> dict[Any, pd.DataFrame]:
    """The rows of `frame` per group of their service (services outside `groups` dropped), in
    the frame's order and indexed from 0, as the frame of that group alone would be."""
    keys = list(dict.fromkeys(groups.values()))
    number = {key: i for i, key in enumerate(keys)}
    codes = frame["service"].map({name: number[g] for name, g in groups.items()})
    codes = codes.fillna(-1).to_numpy(dtype=np.int64)
    # A stable sort by group keeps each group's rows in the frame's order; slices are cheap.
    order = np.argsort(codes, kind="stable")
    ordered = frame.take(order)
    bounds = np.searchsorted(codes[order], np.arange(len(keys) + 1))
    return {
        key: ordered.iloc[bounds[i] : bounds[i + 1]].reset_index(drop=True)
        for i, key in enumerate(keys)
        if bounds[i + 1] > bounds[i]
    }


def team_groups(
    services: Sequence[dict[str, Any]],
    first: dict[str, datetime],
    allowed: Callable[[str], bool] | None = None,
    organisation: str = DEFAULT_INDUSTRY,
) -> tuple[list[tuple[str | None, list[dict[str, Any]]]], dict[str, Any]]:
    """The services (`services_of` rows) by team, teams by name and those without a team last
    (key None), only the teams `allowed` lets through; and the `split_headlines` arguments of
    those groups: groups, tz (the team's, else UTC), first_rollout_at (the earliest first
    production rollout of its services, from `first`) and industry (the team's, else
    `organisation`'s)."""
    teams: dict[str | None, list[dict[str, Any]]] = {}
    for service in services:
        teams.setdefault(service["team__name"], []).append(service)
    ordered = [
        (team, members)
        for team, members in sorted(teams.items(), key=lambda i: (i[0] is None, i[0] or ""))
        if team is None or allowed is None or allowed(team)
    ]
    return ordered, {
        "groups": {s["name"]: team for team, members in ordered for s in members},
        "tz": {t: (m[0]["team__timezone"] or "UTC") if t else "UTC" for t, m in ordered},
        "industry": {
            t: (m[0].get("team__industry") or organisation) if t else organisation
            for t, m in ordered
        },
        "first_rollout_at": {
            t: min((first[s["name"]] for s in m if s["name"] in first), default=None)
            for t, m in ordered
        },
    }


# The kinds of service the pages filter and split by (Service.Kind), in the order shown.
KIND_LABELS = {"app": "Apps", "infra": "Infrastructure"}


def kind_groups(
    services: Sequence[dict[str, Any]],
    first: dict[str, datetime],
    *,
    tz: str,
    organisation: str = DEFAULT_INDUSTRY,
) -> dict[str, Any]:
    """The `split_headlines` arguments that split `services` (`services_of` rows) by kind, app
    then infra (a kind without services has no group): groups, tz (`tz` for both: they are
    pooled like the organisation's figures), first_rollout_at (each kind's earliest first
    production rollout, from `first`) and industry (`organisation`'s)."""
    kinds = [kind for kind in KIND_LABELS if any(s["kind"] == kind for s in services)]
    return {
        # Ordered by kind: split_headlines gives the groups in the order they first appear.
        "groups": {s["name"]: kind for kind in kinds for s in services if s["kind"] == kind},
        "tz": dict.fromkeys(kinds, tz),
        "industry": dict.fromkeys(kinds, organisation),
        "first_rollout_at": {
            kind: min(
                (first[s["name"]] for s in services if s["kind"] == kind and s["name"] in first),
                default=None,
            )
            for kind in kinds
        },
    }


def split_headlines(
    rollouts: pd.DataFrame,
    arrivals: pd.DataFrame,
    *,
    groups: dict[str, Any],
    since: datetime,
    until: datetime,
    now: datetime,
    benchmark: int,
    tz: dict[Any, str],
    first_rollout_at: dict[Any, datetime | None],
    incidents: pd.DataFrame | None = None,
    industry: dict[Any, str] | None = None,
) -> dict[Any, Headline]:
    """The headline of every group of services (`groups`: service name -> group key) over one
    window, from one row-wise pass per figure over the frames of all of them: each group's
    figures are those of `headline` on its own rows (same numbers), at a few hundred µs of
    counting and percentiles each instead of tens of ms of pandas per figure.

    tz, first_rollout_at and industry (default "all"): per group key. A group without rows
    gets the empty figures.
    """
    whole = Headline(
        rollouts,
        arrivals,
        since=since,
        until=until,
        now=now,
        tz="UTC",  # the rows do not depend on it
        benchmark=benchmark,
        first_rollout_at=None,
        incidents=incidents,
    )
    recovered, unrestored = whole.recovery_rows()
    frames = {
        "frequency": whole.frequency_rows(),
        "lead_time": whole.lead_time_rows(),
        "change_failure": whole.change_failure_rows(),
        "recovery": recovered,
        "unrestored": unrestored,
        "rework": whole.rework_rows(),
    }
    if incidents is not None:
        frames["restore"], frames["still_open"] = whole.restore_rows()
    split = {name: _split(frame, groups) for name, frame in frames.items()}
    empty = {name: frame.iloc[0:0].reset_index(drop=True) for name, frame in frames.items()}
    result: dict[Any, Headline] = {}
    for group in dict.fromkeys(groups.values()):
        parts = Parts(**{name: split[name].get(group, empty[name]) for name in frames})
        result[group] = SplitHeadline(
            parts,
            since=since,
            until=until,
            now=now,
            tz=tz[group],
            benchmark=benchmark,
            first_rollout_at=first_rollout_at.get(group),
            industry=(industry or {}).get(group, DEFAULT_INDUSTRY),
        )
    return result


def zoned_headlines(
    rollouts: pd.DataFrame,
    arrivals: pd.DataFrame,
    *,
    groups: dict[str, Any],
    window: Window,
    tz: dict[Any, str],
    **common: Any,
) -> dict[Any, Headline]:
    """`split_headlines` with every group over the window's days in its own time zone (`tz`,
    per group key): a team's row is its team page's figures. One pass per zone."""
    result: dict[Any, Headline] = {}
    keys = list(dict.fromkeys(groups.values()))
    for zone in dict.fromkeys(tz[key] for key in keys):
        local = window.in_zone(zone)
        members = {name: key for name, key in groups.items() if tz[key] == zone}
        result.update(
            split_headlines(
                rollouts,
                arrivals,
                groups=members,
                since=local.since,
                until=local.until,
                tz=tz,
                **common,
            )
        )
    return {key: result[key] for key in keys}


def headline(
    rollouts: pd.DataFrame,
    arrivals: pd.DataFrame,
    *,
    since: datetime,
    until: datetime,
    now: datetime,
    tz: str,
    benchmark: int,
    first_rollout_at: datetime | None,
    incidents: pd.DataFrame | None = None,
    industry: str = DEFAULT_INDUSTRY,
) -> Headline:
    """The five figures from a scope's rollouts and arrivals frames (any superset of the window);
    the incidents only for the 2021/2022 levels."""
    return Headline(
        rollouts,
        arrivals,
        industry=industry,
        since=since,
        until=until,
        now=now,
        tz=tz,
        benchmark=benchmark,
        first_rollout_at=first_rollout_at,
        incidents=incidents,
    )


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


def week_of(moments: pd.Series, tz: str) -> pd.Series:
    """The local Monday (a date) of each aware moment."""
    if moments.empty:
        return pd.Series([], dtype=object, index=moments.index)
    local = pd.to_datetime(moments, utc=True).dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()
    return (local - pd.to_timedelta(local.dt.day_of_week, unit="D")).dt.date


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


def _by_week(items: pd.DataFrame, at: str, column: str, tz: str) -> dict[date, np.ndarray]:
    """The non-null values of `column` grouped by the local week of `at`."""
    if items.empty:
        return {}
    frame = pd.DataFrame({"week": week_of(items[at], tz), "value": items[column]}).dropna()
    return {
        week: group.to_numpy(dtype=float)
        for week, group in frame.groupby("week", sort=False)["value"]
    }


def _durations_by_week(
    items: pd.DataFrame, at: str, seconds: str, weeks: list[date], tz: str
) -> pd.DataFrame:
    """Per week: the median (pandas' linear interpolation) and its order-statistic 95% CI."""
    groups = _by_week(items, at, seconds, tz)
    rows = []
    for week in weeks:
        values = np.sort(groups.get(week, np.empty(0)))
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
    groups = _by_week(items.assign(_flag=items[flag].astype(float)), at, "_flag", tz)
    rows = []
    for week in weeks:
        flags = groups.get(week, np.empty(0))
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


def _counts_by_week(items: pd.DataFrame, at: str, weeks: list[date], tz: str) -> pd.DataFrame:
    counts = week_of(items[at], tz).value_counts() if len(items) else pd.Series(dtype=int)
    rows = []
    for week in weeks:
        count = int(counts.get(week, 0))
        lo, hi = poisson_ci(count)
        rows.append({"week": week, "value": float(count), "lo": lo, "hi": hi, "n": count})
    return pd.DataFrame(rows, columns=["week", "value", "lo", "hi", "n"])


def weekly(result: Headline, *, weeks: list[date], tz: str) -> Weekly:
    """Group the items of a headline computed over the weeks' whole range by local ISO week.

    Each week's value is computed from its own items (medians of that week's changes, rates of
    that week's rollouts), never from other weeks' medians.
    """
    counted = result.frequency.items
    counted = counted[counted["counted"]] if len(counted) else counted
    return Weekly(
        weeks=weeks,
        series={
            "deployment_frequency": _counts_by_week(counted, "first_live_at", weeks, tz),
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


# ---------------------------------------------------------------------------------------------
# Reads the pages need beside the report's frames
# ---------------------------------------------------------------------------------------------


def first_rollouts_by_service(scope: Scope) -> dict[str, datetime]:
    """Each service's first rollout in the scope's tier (the frequency badge), one query."""
    rows = (
        Rollout.objects.filter(environment__tier=scope.tier)
        .filter(_services_q(scope))
        .values("service__name")
        .annotate(first=Min("first_live_at"))
        .order_by()
    )
    return {row["service__name"]: row["first"] for row in rows if row["first"]}


def _services_q(scope: Scope, prefix: str = "service__") -> Q:
    q = Q()
    if scope.services:
        q &= Q(**{f"{prefix}name__in": scope.services})
    if scope.team:
        q &= Q(**{f"{prefix}team__name": scope.team})
    if scope.kind:
        q &= Q(**{f"{prefix}kind": scope.kind})
    return q


def services_of(scope: Scope) -> list[dict[str, Any]]:
    """The scope's services with their team, kind and repos, by name; one query."""
    return list(
        Service.objects.filter(_services_q(scope, prefix=""))
        .values("name", "kind", "repos", "team__name", "team__timezone", "team__industry")
        .order_by("name")
    )


def integration(c: MetricsComputation, tz: str) -> Integration:
    """Integration frequency of the computation's scope and window (its repos' commits and
    pull requests, read with its other frames when prefetched)."""
    commits, changes = c.integration_frames
    return integration_frequency(commits, changes, since=c.since, until=c.until, tz=tz)


def rollout_status(
    *,
    kind: str,
    failure: str,
    completed: bool,
    last_live_at: datetime | None,
    targets_live: int,
    targets_active: int,
    at: datetime,
) -> tuple[str, str]:
    """(state, words) of a rollout as seen at `at`: failed, complete, rolling out or partial.

    - failed: "failed (confirmed)" / "failed (inferred)", whatever else holds;
    - on every active target (derivation stamped completed_at): "complete", a rollback
      "rolled back";
    - short of that, with its newest deployment within ROLLOUT_SETTLED before `at`: "rolling
      out (2 of 3 targets)", a rollback "rolling back (...)";
    - short of that and quiet for longer (or with no deployment time): it stopped where it is,
      "partial (2 of 3 targets)", a rollback "rolled back, partial (...)".
    """
    if failure:
        return "failed", f"failed ({failure})"
    rollback = kind == "rollback"
    if completed:
        return "complete", "rolled back" if rollback else "complete"
    reach = f" ({targets_live} of {targets_active} targets)" if targets_active else ""
    moving = last_live_at is not None and at - last_live_at <= ROLLOUT_SETTLED
    if moving:
        return "rolling", ("rolling back" if rollback else "rolling out") + reach
    return "partial", ("rolled back, partial" if rollback else "partial") + reach


def recent_rollouts(c: MetricsComputation, limit: int = RECENT_ROLLOUTS) -> list[dict[str, Any]]:
    """The newest production rollouts of the window with their change sets (from arrivals)."""
    rollouts = c.rollouts
    if rollouts.empty:
        return []
    live = pd.to_datetime(rollouts["first_live_at"], utc=True)
    window = rollouts[(live >= c.since) & (live < c.until)]
    newest = window.sort_values("first_live_at", ascending=False).head(limit)
    arrivals = c.arrivals
    changes_by_rollout: dict[int, list[dict[str, Any]]] = {}
    if len(arrivals):
        mine = arrivals[arrivals["rollout_id"].isin(newest["rollout_id"])]
        for row in mine.sort_values("start").itertuples(index=False):
            label = (
                f"{row.repo}#{int(row.number)}"
                if not pd.isna(row.change_id)
                else str(row.commit_sha)[:10]
            )
            title = "" if pd.isna(row.title) else str(row.title)
            changes_by_rollout.setdefault(int(row.rollout_id), []).append(
                {"label": label, "title": title}
            )
    result = []
    at = min(c.until, c.now)
    for row in newest.itertuples(index=False):
        changes = changes_by_rollout.get(int(row.rollout_id), [])
        last_live = None if pd.isna(row.last_live_at) else pd.Timestamp(row.last_live_at)
        state, state_text = rollout_status(
            kind=str(row.kind),
            failure=row.failure or "",
            completed=not pd.isna(row.completed_at),
            last_live_at=None if last_live is None else last_live.to_pydatetime(),
            targets_live=int(row.targets_live or 0),
            targets_active=int(row.targets_active or 0),
            at=at,
        )
        result.append(
            {
                "rollout_id": int(row.rollout_id),
                "service": row.service,
                "environment": row.environment,
                "version": row.version or str(row.sha)[:10],
                "kind": row.kind,
                "first_live_at": pd.Timestamp(row.first_live_at).to_pydatetime(),
                "completed": not pd.isna(row.completed_at),
                "status": state,
                "status_text": state_text,
                "failure": row.failure or "",
                "unattributed": bool(row.unattributed),
                "changes": changes[:CHANGES_PER_ROLLOUT],
                "more_changes": max(0, len(changes) - CHANGES_PER_ROLLOUT),
                "change_count": len(changes),
            }
        )
    return result


def failures(c: MetricsComputation) -> list[dict[str, Any]]:
    """Failed production rollouts of the window, why, and when (if) service was restored."""
    items = c.change_failure.items
    if items.empty:
        return []
    failed = items[items["failed"]].sort_values("first_live_at", ascending=False)
    links = c.failure_links
    live_at = dict(zip(failed["rollout_id"].astype(int), failed["first_live_at"], strict=True))
    why = failure_reasons(links, live_at) if len(links) else {}
    rows = []
    for row in failed.itertuples(index=False):
        live = pd.Timestamp(row.first_live_at)
        restored = None if pd.isna(row.restored_at) else pd.Timestamp(row.restored_at)
        rows.append(
            {
                "rollout_id": int(row.rollout_id),
                "service": row.service,
                "version": row.version or str(row.sha)[:10],
                "first_live_at": live.to_pydatetime(),
                "status": "confirmed" if row.confirmed else "inferred",
                "why": why.get(int(row.rollout_id), row.causes or ""),
                "restored_at": restored.to_pydatetime() if restored is not None else None,
                "recovery_text": (
                    hours_text((restored - live).total_seconds())
                    if restored is not None
                    else "not restored"
                ),
            }
        )
    return rows


def incidents(c: MetricsComputation) -> list[dict[str, Any]]:
    """Production incidents restored in the window or still open, newest first."""
    frame = c.incidents
    if frame.empty:
        return []
    frame = frame.sort_values("opened_at", ascending=False)
    rows = []
    for row in frame.itertuples(index=False):
        start = row.impact_started_at if not pd.isna(row.impact_started_at) else row.opened_at
        end = row.mitigated_at if not pd.isna(row.mitigated_at) else row.resolved_at
        restored = not pd.isna(end)
        rows.append(
            {
                "incident_id": row.incident_id,
                "service": row.service,
                "title": row.title or "",
                "severity": row.severity or "",
                "cause": row.cause or "unknown",
                "opened_at": pd.Timestamp(row.opened_at).to_pydatetime(),
                "restored_at": pd.Timestamp(end).to_pydatetime() if restored else None,
                "restore_text": (
                    hours_text((pd.Timestamp(end) - pd.Timestamp(start)).total_seconds())
                    if restored
                    else "open"
                ),
            }
        )
    return rows


def deploy_days(result: Headline, tz: str) -> pd.DataFrame:
    """Counted production rollouts per local day (the calendar heatmap)."""
    items = result.frequency.items
    if items.empty:
        return pd.DataFrame({"day": [], "rollouts": []})
    counted = items[items["counted"]]
    days = counted["first_live_at"].dt.tz_convert(tz).dt.tz_localize(None).dt.normalize()
    counts = days.value_counts().sort_index()
    return pd.DataFrame({"day": counts.index, "rollouts": counts.to_numpy()})


def service_breakdown(
    c: MetricsComputation, result_args: dict[str, Any], first: dict[str, datetime]
) -> list[dict[str, Any]]:
    """Per service of the scope with rows: its headline over the same window, from the same
    frames (one pass, `split_headlines`)."""
    rollouts, arrivals = c.rollouts, c.arrivals
    names = sorted(set(rollouts["service"]) | set(arrivals["service"]))
    args = {
        **result_args,
        "tz": dict.fromkeys(names, result_args["tz"]),
        "industry": dict.fromkeys(names, c.industry),
    }
    split = split_headlines(
        rollouts,
        arrivals,
        groups={name: name for name in names},
        first_rollout_at=first,
        incidents=incidents_for_levels(c),
        **args,
    )
    return [
        {
            "name": name,
            "figures": result.figures,
            "level": result.level,
            "nearest": result.nearest,
            "placement": result.placement,
        }
        for name, result in split.items()
    ]


def table_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows for a template: missing values (NaN, NaT) as None, which the template
    filters show as missing (`default`, `date`), where NaT would fail `date` outright."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def deployments_by_target(service: str, *, since: datetime, until: datetime) -> pd.DataFrame:
    """Per environment and target of one service: deployments in the window, successes,
    failures, the newest version and when (NaN and NaT where no deployment to a target
    succeeded); one query, bounded by the window."""
    frame = pd.DataFrame.from_records(
        list(
            Deployment.objects.filter(
                service__name=service, finished_at__gte=since, finished_at__lt=until
            )
            .values_list(
                "environment__name",
                "environment__order",
                "environment__tier",
                "target__name",
                "status",
                "version",
                "sha",
                "finished_at",
            )
            .order_by()
        ),
        columns=["environment", "order", "tier", "target", "status", "version", "sha", "at"],
    )
    columns = [
        "environment",
        "tier",
        "order",
        "target",
        "deployments",
        "failures",
        "latest_version",
        "latest_at",
    ]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    frame["ok"] = frame["status"] == "success"
    frame["failed"] = frame["status"] == "failure"
    frame["label"] = frame["version"].where(frame["version"] != "", frame["sha"].str[:10])
    keys = ["environment", "tier", "order", "target"]
    grouped = frame.groupby(keys, sort=False)
    summary = grouped.agg(deployments=("ok", "sum"), failures=("failed", "sum")).reset_index()
    latest = (
        frame[frame["ok"]]
        .sort_values("at")
        .groupby(keys, sort=False)
        .tail(1)[[*keys, "label", "at"]]
        .rename(columns={"label": "latest_version", "at": "latest_at"})
    )
    summary = summary.merge(latest, on=keys, how="left")
    summary["tier_rank"] = summary["tier"].map({t: i for i, t in enumerate(Tier.values)})
    return summary.sort_values(["tier_rank", "order", "environment", "target"])[columns]


# ---------------------------------------------------------------------------------------------
# Definitions in words (the explain page)
# ---------------------------------------------------------------------------------------------

DEFINITIONS = {
    "deployment_frequency": (
        "Production rollouts of kind change or config, placed by when they first went live "
        "on any target. A version rolled out to many targets counts once; redeploys and "
        "rollbacks are listed but not counted. The level uses the median number of deploy days "
        "per ISO week and needs 8 weeks of production history."
    ),
    "lead_time": (
        "For each change (a merged pull request, or a commit pushed straight to the branch) "
        "that first reached production in the window: production arrival minus its start, "
        "the first commit authored. Changes shipped by a service's first rollout are "
        "unattributed (counted, not timed); durations of zero or less are invalid. The median "
        "is the headline; a level needs 10 changes."
    ),
    "merge_to_production": (
        "For each change that reached production in the window: production arrival minus merge."
    ),
    "change_failure_rate": (
        "Failed production rollouts of kind change or config, over all of them, placed by when "
        "they went live. A rollout failed when an incident names it, a rollback replaced it, or "
        "a revert or hotfix followed within 72 h (confirmed), or an unlinked incident on the "
        "service opened within 24 h after it (inferred). Each rollout counts once. A level "
        "needs 20 rollouts."
    ),
    "deploy_failure_rate": (
        "Target deployments that failed and never went live, over all deployment attempts."
    ),
    "recovery_time": (
        "For each failed production rollout restored in the window: restored minus first live, "
        "where restored is the first of the linked incident's mitigation, the remediating "
        "rollout (rollback or hotfix) going live, or the incident's resolution. Failures not "
        "yet restored are listed with their age, never dropped. A level needs 5 restored "
        "failures."
    ),
    "time_to_restore": (
        "For each production incident (external ones too): impact start (or opened) to "
        "mitigated (or resolved), placed by that end time. The pre-2023 DORA definition."
    ),
    "rework_rate": (
        "The share of production rollouts (change, config and rollback) that were unplanned "
        "remediation: rollbacks, rollouts carrying a change labelled hotfix or incident, and "
        "rollouts that remediate an incident. No level table exists; DORA's industry reference "
        "is about 22%."
    ),
    "lead_time_all_targets": (
        "For each change: from its start until every active production target runs a version "
        "containing it. Changes not yet everywhere are listed as incomplete with their age."
    ),
    "rollout_lag": (
        "For each change: from the first production target running it to the last active one."
    ),
    "version_spread": (
        "At the end of the window, per service and environment: how many distinct versions run "
        "across its active targets."
    ),
    "automation_lag": (
        "Per automation instance (a service's deploy pipeline or an infrastructure stack in an "
        "environment, per target): time since its last successful run that was not a plan (for "
        "a deploy pipeline, its last successful deployment). Every environment unless a tier is "
        "chosen. Stale beyond the environment's stale_after."
    ),
    "out_of_band_changes": (
        "Each change an audit trail recorded that the pipeline did not make (a console edit, a "
        "CLI call): when, where, what and who. Every environment unless a tier is chosen; a "
        "change still open drifts the instances it touched until the next successful apply or "
        "deployment there."
    ),
    "value_stream": (
        "Per change, the time spent in each stage: coding, pickup, review, build, each "
        "pre-production environment, approval, production and the rollout to every target. "
        "Process time is machine or business-hours work inside a stage; the rest is waiting."
    ),
}
