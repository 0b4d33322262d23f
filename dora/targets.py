"""Figure targets (CONTRACT §2 `targets:`): whether each is met over its rolling window.

A target is a bound on one figure of CONTRACT §4 (`family.field`) for a team or a service. Its
value is the figure the metrics report gives for the target's scope over [now - window, now):
the same MetricsComputation the report uses (dora.reads.report), asked only for the figure's family.
Status (METRICS §7): `met` when a `below` target's value is at most the threshold or an `above`
target's at least it, `missed` otherwise, `no_data` when the value is null or rests on fewer
items than the dashboards require for a level (the figure's badge minimum, `_sufficient`).

Reads: one computation per scope reads the frames the figures share (rollouts, arrivals,
incidents, automation runs) once over a span covering every window asked for, current and weekly
history alike; each window is then a computation over those frames (they are supersets of every
window, which the figures cut themselves). The frames of a moment (live deployments, deploy
pipelines) are read once per window end; the rest (deployments, out-of-band changes, value-stream
reads) once per window. The span's automation runs are those since its start plus each
instance's latest runs (dora.reads.estate_reads.automation_runs_frame): an instance whose only
resetting success before a week's end lies before the span (half a year before the first week) shows
no lag that week.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Q

from dora import benchmarks
from dora.metrics.levels import (
    MIN_CHANGES_LEAD_TIME,
    MIN_RESTORED_RECOVERY,
    MIN_ROLLOUTS_CFR,
    MIN_ROLLOUTS_REWORK,
)
from dora.models import FigureTarget
from dora.reads import estate_reads
from dora.reads.report import MetricsComputation
from dora.reads.report_query import MetricsQuery
from dora.reads.scope import ORGANISATION_TIMEZONE, Scope
from dora.reads.selectors import HALF_YEAR, SPREAD_HISTORY
from dora.units import NONE_TEXT, duration_human, plural
from dora.window import local_midnight

MET, MISSED, NO_DATA = "met", "missed", "no_data"
STATUS_TEXT = {MET: "met", MISSED: "missed", NO_DATA: "not enough data"}

# The frames every window of a scope shares, read over a span covering them all (the figures
# count only what lies in their own window: DoraFigures), and those that depend on nothing but
# the scope; the frames read at a window's end only, shared by the windows that end together.
_SPAN_FRAMES = ("rollouts", "arrivals", "incidents", "automation_runs")
_TIMELESS_FRAMES = ("first_rollout_at", "environment_settings", "configured_targets")
_END_FRAMES = ("live_deployments", "deploy_pipelines")  # live deployments: one read in a history


@dataclass(frozen=True)
class Attainment:
    """One target's standing over [now - window, now)."""

    target_id: int
    subject: str  # "team" or "service"
    subject_name: str
    figure: str  # "lead_time.p50_seconds"
    direction: str  # "below" or "above"
    threshold: float
    window: timedelta
    value: float | None  # the figure over [now - window, now); None when not enough data
    status: str  # "met" | "missed" | "no_data"
    label: str  # "Lead time p50 at most 1 day" (below: at most; above: at least)
    value_text: str  # "14.2 h" or "—"


# -- figures -------------------------------------------------------------------------------------

# Each family's CONTRACT §4 JSON, as MetricsComputation.report() builds it (without placement).
_FAMILIES: dict[str, Callable[[MetricsComputation], Mapping[str, Any]]] = {
    "deployment_frequency": lambda c: c.frequency.as_dict(),
    "lead_time": lambda c: c.lead_time.as_dict(),
    "merge_to_production": lambda c: c.lead_time.merge_to_production.as_dict(),
    "change_failure_rate": lambda c: c.change_failure.as_dict(),
    "deploy_failure_rate": lambda c: c.deploy_failure.as_dict(),
    "recovery_time": lambda c: c.recovery.as_dict(),
    "time_to_restore": lambda c: c.restore.as_dict(),
    "rework_rate": lambda c: c.rework.as_dict(),
    "lead_time_all_targets": lambda c: c.estate.as_dict(),
    "rollout_lag": lambda c: c.estate.rollout_lag.as_dict(),
    "automation_lag": lambda c: c.automation.as_dict(),
    "value_stream": lambda c: c.stream.as_dict(),
    "out_of_band_changes": lambda c: c.out_of_band.as_dict(),
    "version_spread": lambda c: version_spread_figures(c.spread.as_dict()),
}

# The badge minimums (METRICS §3.6) the sampled fields of each family need: (count field, n).
_MINIMUMS: dict[str, tuple[str, int]] = {
    "lead_time": ("n", MIN_CHANGES_LEAD_TIME),
    "merge_to_production": ("n", MIN_CHANGES_LEAD_TIME),
    "lead_time_all_targets": ("n", MIN_CHANGES_LEAD_TIME),
    "rollout_lag": ("n", MIN_CHANGES_LEAD_TIME),
    "recovery_time": ("n", MIN_RESTORED_RECOVERY),
    "time_to_restore": ("n", MIN_RESTORED_RECOVERY),
    "change_failure_rate": ("rollouts", MIN_ROLLOUTS_CFR),
    "deploy_failure_rate": ("attempts", MIN_ROLLOUTS_CFR),
    "rework_rate": ("rollouts", MIN_ROLLOUTS_REWORK),
}
# Fields that are estimates from a sample (percentiles, rates); counts are never "too few".
_SAMPLED = ("p50_seconds", "p75_seconds", "p90_seconds", "rate")

_FAMILY_LABELS = {
    "deployment_frequency": "Deployment frequency",
    "lead_time": "Lead time",
    "merge_to_production": "Merge to production",
    "change_failure_rate": "Change failure rate",
    "deploy_failure_rate": "Deploy failure rate",
    "recovery_time": "Recovery time",
    "time_to_restore": "Time to restore",
    "rework_rate": "Rework rate",
    "lead_time_all_targets": "Lead time to all targets",
    "rollout_lag": "Rollout lag",
    "automation_lag": "Automation lag",
    "value_stream": "Value stream",
    "out_of_band_changes": "Out-of-band changes",
    "version_spread": "Version spread in production",
}
_FIELD_LABELS = {
    "p50_seconds": "p50",
    "p75_seconds": "p75",
    "p90_seconds": "p90",
    "max_seconds": "max",
    "median_gap_seconds": "median gap",
    "oldest_incomplete_seconds": "oldest incomplete",
    "per_day": "per day",
    "per_week": "per week",
    "deploy_days_per_week": "deploy days per week",
    "flow_efficiency": "flow efficiency",
    "max_versions": "",
    "rate": "",
    "count": "",
}


def version_spread_figures(rows: Sequence[Mapping[str, Any]]) -> dict[str, int | None]:
    """`version_spread.max_versions`: the most versions live at once in one (service,
    production environment) of the scope; None when it has no live deployment there."""
    return {"max_versions": max((int(row["versions"]) for row in rows), default=None)}


def figure_value(family_json: Mapping[str, Any], figure: str) -> float | None:
    """The figure's value when there is enough data for it (METRICS §7), else None."""
    family, _, name = figure.partition(".")
    value = family_json.get(name)
    if value is None or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if family in _MINIMUMS and name in _SAMPLED:
        count, minimum = _MINIMUMS[family]
        if (family_json.get(count) or 0) < minimum:
            return None
    return float(value)


def status_of(value: float | None, direction: str, threshold: float) -> str:
    """met: below and value <= threshold, or above and value >= threshold (equality meets)."""
    if value is None:
        return NO_DATA
    if direction == FigureTarget.Direction.BELOW:
        return MET if value <= threshold else MISSED
    return MET if value >= threshold else MISSED


def _unit(name: str) -> str:
    if name.endswith("_seconds"):
        return "duration"
    if name in ("rate", "flow_efficiency"):
        return "share"
    return "number"


def _number(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.2f}".rstrip("0")


def value_text(figure: str, value: float | None) -> str:
    """A figure's value for people: "14 h", "12.5%", "3 versions", "4.2"; "—" for none."""
    if value is None:
        return "—"
    family, _, name = figure.partition(".")
    unit = _unit(name)
    if unit == "duration":
        text = duration_human(value)
        return "—" if text == NONE_TEXT else text
    if unit == "share":
        return f"{value * 100:.1f}%"
    if name == "max_versions":
        return plural(int(value), "version")
    return _number(value)


def threshold_text(figure: str, threshold: float) -> str:
    """A threshold as people set it: whole days and hours as such ("1 day", "12 h"), shares in
    percent ("15%"), counts plain."""
    name = figure.partition(".")[2]
    unit = _unit(name)
    if unit == "duration":
        seconds = float(threshold)
        if seconds > 0 and seconds % 86400 == 0:
            return plural(int(seconds // 86400), "day")
        if seconds > 0 and seconds % 3600 == 0:
            return f"{int(seconds // 3600)} h"
        return duration_human(seconds)
    if unit == "share":
        return f"{_number(round(threshold * 100, 2))}%"
    if name == "max_versions":
        return plural(int(threshold), "version")
    return _number(threshold)


def duration_text(window: timedelta) -> str:
    """A window for people: "28 days", "12 h"."""
    return threshold_text("window.length_seconds", window.total_seconds())


def figure_label(figure: str) -> str:
    """ "lead_time.p50_seconds" -> "Lead time p50"."""
    family, _, name = figure.partition(".")
    words = _FIELD_LABELS.get(name, name.replace("_", " "))
    return " ".join(part for part in (_FAMILY_LABELS.get(family, family), words) if part)


def target_label(figure: str, direction: str, threshold: float) -> str:
    """ "Lead time p50 at most 1 day": `below` reads "at most" and `above` "at least", since a
    value equal to the threshold meets the target."""
    bound = "at most" if direction == FigureTarget.Direction.BELOW else "at least"
    return f"{figure_label(figure)} {bound} {threshold_text(figure, threshold)}"


# -- computing ------------------------------------------------------------------------------------


def _timezone(target: FigureTarget) -> str:
    team = target.team if target.team_id else target.service.team
    return (team.timezone if team else "") or ORGANISATION_TIMEZONE


def _scope_key(target: FigureTarget) -> tuple[str, str]:
    if target.team_id:
        return ("team", target.team.name)
    return ("service", target.service.name)


class _Span(MetricsComputation):
    """A scope's frames over a span covering every window asked for; failure links are left
    out (only the "why" of a failure reads them, no figure)."""

    failure_links = None  # type: ignore[assignment]

    def __init__(self, query: MetricsQuery, *, now: datetime, ends: Sequence[datetime]) -> None:
        super().__init__(query, now=now)
        self.window_ends = sorted(set(ends))

    @cached_property
    def spread_history(self) -> Any:
        """Successful deployments from half a year before the first window's end to the
        last's: version spread at every end, in one read (estate_reads.live_deployments_frame)."""
        return estate_reads.live_deployments_frame(
            self.scope, at=self.window_ends[-1], since=self.window_ends[0] - SPREAD_HISTORY
        )


class _Window(MetricsComputation):
    """One window's figures: the span's frames (`_SPAN_FRAMES`, `_TIMELESS_FRAMES`, each read
    on first use) and the frames of its end (`_END_FRAMES`, shared by windows ending together);
    anything else is read for the window itself."""

    failure_links = None  # type: ignore[assignment]

    def __init__(
        self, query: MetricsQuery, *, now: datetime, span: _Span, end: dict[str, Any]
    ) -> None:
        super().__init__(query, now=now)
        self.span = span
        self.end = end

    @cached_property
    def rollouts(self) -> Any:
        return self.span.rollouts

    @cached_property
    def arrivals(self) -> Any:
        return self.span.arrivals

    @cached_property
    def incidents(self) -> Any:
        return self.span.incidents

    @cached_property
    def first_rollout_at(self) -> Any:
        return self.span.first_rollout_at

    @cached_property
    def automation_runs(self) -> Any:
        """The span's runs: automation lag keeps those finished before its window's end."""
        return self.span.automation_runs

    @cached_property
    def environment_settings(self) -> Any:
        return self.span.environment_settings

    @cached_property
    def configured_targets(self) -> Any:
        return self.span.configured_targets

    @cached_property
    def live_deployments(self) -> Any:
        if len(self.span.window_ends) > 1:  # a history: one read for every week's end
            return self.span.spread_history
        if "live_deployments" not in self.end:
            self.end["live_deployments"] = MetricsComputation.live_deployments.func(self)
        return self.end["live_deployments"]

    @cached_property
    def deploy_pipelines(self) -> Any:
        if "deploy_pipelines" not in self.end:
            self.end["deploy_pipelines"] = MetricsComputation.deploy_pipelines.func(self)
        return self.end["deploy_pipelines"]


class _ScopeFigures:
    """The figures of one scope over any number of windows, reading each frame once where the
    windows allow (see the module's docstring)."""

    def __init__(
        self, scope: Scope, windows: Iterable[tuple[datetime, datetime]], *, now: datetime
    ) -> None:
        windows = list(windows)
        self.scope = scope
        self.now = now
        self.benchmark = benchmarks.default_benchmark()
        # The span starts early enough for frequency's half-year look-back of every window.
        since = min(min(s for s, _ in windows), min(u for _, u in windows) - HALF_YEAR)
        until = max(u for _, u in windows)
        self.span = _Span(self._query(since, until), now=now, ends=[u for _, u in windows])
        self.ends: dict[datetime, dict[str, Any]] = {}
        self.families: dict[tuple[datetime, datetime, str], Mapping[str, Any]] = {}

    def _query(self, since: datetime, until: datetime) -> MetricsQuery:
        return MetricsQuery(
            scope=self.scope,
            since=since,
            until=until,
            benchmark=self.benchmark,
            industry=self.scope.industry,
        )

    def family(self, since: datetime, until: datetime, family: str) -> Mapping[str, Any]:
        key = (since, until, family)
        if key not in self.families:
            c = _Window(
                self._query(since, until),
                now=self.now,
                span=self.span,
                end=self.ends.setdefault(until, {}),
            )
            self.families[key] = _FAMILIES[family](c)
        return self.families[key]

    def value(self, figure: str, since: datetime, until: datetime) -> float | None:
        return figure_value(self.family(since, until, figure.partition(".")[0]), figure)


def _scope(target: FigureTarget) -> Scope:
    """The report's scope for a target (as scope_resolve builds it for `team=` / `services=`):
    production for the DORA figures, every environment for automation lag."""
    tz = _timezone(target)
    if target.team_id:
        return Scope(team=target.team.name, timezone=tz, tier_named=False)
    return Scope(services=(target.service.name,), timezone=tz, tier_named=False)


def targets_of(*, team: str | None = None, service: str | None = None) -> list[FigureTarget]:
    """The targets `attainments` reports: a team's own and its services', a service's own, or
    (neither) every target; one query."""
    queryset = FigureTarget.objects.select_related("team", "service", "service__team")
    if team is not None:
        queryset = queryset.filter(Q(team__name=team) | Q(service__team__name=team))
    if service is not None:
        queryset = queryset.filter(service__name=service)
    return sorted(queryset, key=_order)


def _order(target: FigureTarget) -> tuple:
    subject, name = _scope_key(target)
    return (subject != "team", name, target.figure, target.direction, target.window)


def week_ends(*, weeks: int, now: datetime, tz: str) -> list[tuple[date, datetime]]:
    """The `weeks` complete local ISO weeks before `now`, oldest first: (Monday, its end as
    aware UTC, i.e. the next Monday's local midnight)."""
    today = now.astimezone(ZoneInfo(tz)).date()
    this_monday = today - timedelta(days=today.weekday())
    mondays = [this_monday - timedelta(weeks=weeks - i) for i in range(weeks)]
    return [(monday, local_midnight(monday + timedelta(days=7), tz)) for monday in mondays]


@dataclass(frozen=True)
class Evaluated:
    """A target's attainment now and, when asked for, its weekly history."""

    attainment: Attainment
    history: tuple[tuple[date, float | None, str], ...] = ()


def evaluate(
    targets: Sequence[FigureTarget],
    *,
    now: datetime,
    weeks: int = 0,
    known: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> list[Evaluated]:
    """Attainment of each target at `now` and over each of the last `weeks` complete weeks of
    its team's time zone, with each scope's frames read once (see the module's docstring).

    known: frames a page has read already that depend on the scope only, by (subject, name):
    `first_rollout_at`, `environment_settings`, `configured_targets`."""
    plans: dict[tuple[str, str], list[tuple[FigureTarget, list[tuple[date, datetime]]]]] = {}
    for target in targets:
        ends = week_ends(weeks=weeks, now=now, tz=_timezone(target)) if weeks else []
        plans.setdefault(_scope_key(target), []).append((target, ends))
    results: dict[int, Evaluated] = {}
    for plan in plans.values():
        windows = [
            (end - target.window, end)
            for target, ends in plan
            for end in [now, *(week_end for _, week_end in ends)]
        ]
        figures = _ScopeFigures(_scope(plan[0][0]), windows, now=now)
        for name, frame in (known or {}).get(_scope_key(plan[0][0]), {}).items():
            if name in _TIMELESS_FRAMES:
                figures.span.__dict__[name] = frame
        for target, ends in plan:
            value = figures.value(target.figure, now - target.window, now)
            history = tuple(
                (monday, v, status_of(v, target.direction, target.threshold))
                for monday, end in ends
                for v in [figures.value(target.figure, end - target.window, end)]
            )
            results[target.pk] = Evaluated(_attainment(target, value), history)
    return [results[target.pk] for target in targets]


def _attainment(target: FigureTarget, value: float | None) -> Attainment:
    subject, name = _scope_key(target)
    return Attainment(
        target_id=target.pk,
        subject=subject,
        subject_name=name,
        figure=target.figure,
        direction=target.direction,
        threshold=float(target.threshold),
        window=target.window,
        value=value,
        status=status_of(value, target.direction, target.threshold),
        label=target_label(target.figure, target.direction, target.threshold),
        value_text=value_text(target.figure, value),
    )


def attainments(
    *, team: str | None = None, service: str | None = None, now: datetime
) -> list[Attainment]:
    """Each target's standing over [now - window, now): with `team`, the team's own targets and
    its services'; with `service`, the service's; with neither, every target. Ordered team
    targets first, then by service, figure and direction."""
    return [e.attainment for e in evaluate(targets_of(team=team, service=service), now=now)]


def target_history(
    target: FigureTarget, *, weeks: int, now: datetime
) -> list[tuple[date, float | None, str]]:
    """(week's Monday, value, status) for the last `weeks` complete ISO weeks of the target's
    team's time zone, oldest first: the figure over the target's window ending at each week's
    end (the next Monday's local midnight)."""
    return list(evaluate([target], now=now, weeks=weeks)[0].history)
