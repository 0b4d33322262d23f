"""The leadership report: a month or quarter against the one before, in figures and sentences.

The figures come from the metrics engine the dashboards use (one MetricsComputation over both
periods, split by team in one pass with `dora.reads.dashboards.split_headlines`; the estate from
`dora.reads.estate_matrix` at the period's end); the comparison follows METRICS §6 (a change is
significant only when the two 95% intervals do not overlap). Its sentences (pure: numbers in,
one short sentence out) are dora.reads.leadership_words, its takeaways
dora.reads.leadership_takeaways, its CSV dora.reads.leadership_csv.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Count, Q

from dora.benchmarks import default_benchmark
from dora.metrics.levels import has_tiers
from dora.models import GateDecision
from dora.reads import dashboards as dash
from dora.reads import estate_matrix as em
from dora.reads.charts import BAND_LABELS, percentile_band
from dora.reads.leadership_takeaways import (
    NO_TEAM,
    FigureRow,
    change_takeaway,
    estate_risk_takeaway,
    gate_takeaway,
)
from dora.reads.leadership_words import (
    LEVEL_ORDER,
    change_sentence,
    gate_sentence,
    level_moves_sentence,
    levels_sentence,
    placements_sentence,
    spread_sentence,
    stale_sentence,
)
from dora.reads.page_reads import first_rollouts_by_service, services_of
from dora.reads.report import MetricsComputation
from dora.reads.report_query import EARLIEST, LATEST, RANGE_TEXT, MetricsQuery, ParameterError
from dora.reads.scope import Scope, organisation_industry
from dora.reads.weeks import compare
from dora.window import local_midnight

PERIOD_KINDS = ("month", "quarter")
MOVEMENTS_SHOWN = 3


# ---------------------------------------------------------------------------------------------
# Periods
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A calendar month or quarter in UTC, [start, end)."""

    kind: str
    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        if self.kind == "quarter":
            return f"Q{(self.start.month - 1) // 3 + 1} {self.start.year}"
        return f"{calendar.month_name[self.start.month]} {self.start.year}"

    def previous(self) -> Period:
        return period_of(self.kind, (self.start - timedelta(days=1)).date())


def period_of(kind: str, day: date) -> Period:
    """The month or quarter (UTC) holding `day`."""
    first_month = day.month if kind == "month" else 3 * ((day.month - 1) // 3) + 1
    start = datetime(day.year, first_month, 1, tzinfo=UTC)
    months = 1 if kind == "month" else 3
    year, month = divmod(first_month - 1 + months, 12)
    end = datetime(day.year + year, month + 1, 1, tzinfo=UTC)
    return Period(kind=kind, start=start, end=end)


def period_parse(kind: str | None, day: str | None, *, now: datetime) -> Period:
    """`?period=month|quarter&date=YYYY-MM-DD`; default the last complete month (or quarter)
    before `now`. ParameterError names the bad parameter."""
    kind = (kind or "month").strip().lower()
    if kind not in PERIOD_KINDS:
        raise ParameterError("period", f"period {kind!r} must be month or quarter")
    if day:
        try:
            moment = date.fromisoformat(day.strip())
        except ValueError:
            raise ParameterError("date", f"date {day!r} is not an ISO date, e.g. 2026-02-01")
        if not EARLIEST.date() <= moment < LATEST.date():
            raise ParameterError(
                "date", f"date {day!r} is outside the supported range, {RANGE_TEXT}"
            )
        period = period_of(kind, moment)
        if period.start >= now:
            raise ParameterError("date", f"the {kind} of {day} has not started yet")
        return period
    return period_of(kind, now.date()).previous()


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


def period_end_text(period: Period, until: datetime) -> str:
    """ "the end of 30 Nov 2026" when `until` is the period's (exclusive) end, else the moment."""
    if until >= period.end:
        return f"the end of {(period.end - timedelta(days=1)):%-d %b %Y}"
    return f"{until:%-d %b %Y %H:%M} UTC"


@dataclass(frozen=True)
class TeamRow:
    name: str
    team: str | None
    level: str | None
    previous_level: str | None
    figures: tuple[FigureRow, ...]
    # 2025 (no levels): the overall placement of both periods (dashboards.Headline.placement).
    placement: dict[str, Any] | None = None
    previous_placement: dict[str, Any] | None = None

    @property
    def percentile(self) -> float | None:
        return None if self.placement is None else self.placement["percentile"]

    @property
    def previous_percentile(self) -> float | None:
        return None if self.previous_placement is None else self.previous_placement["percentile"]


@dataclass(frozen=True)
class Movement:
    team: str
    row: FigureRow


@dataclass(frozen=True)
class LeadershipReport:
    period: Period
    previous: Period
    until: datetime  # the period's end, or now while it runs
    benchmark: int
    organisation: tuple[FigureRow, ...]
    organisation_level: str | None
    organisation_previous_level: str | None
    teams: tuple[TeamRow, ...]
    levels_sentence: str
    level_moves_sentence: str | None
    improvements: tuple[Movement, ...]
    regressions: tuple[Movement, ...]
    risks: tuple[str, ...]
    stale: tuple[dict[str, Any], ...] = ()
    spreads: tuple[dict[str, Any], ...] = ()
    gate: dict[str, int] = field(default_factory=dict)
    organisation_placement: dict[str, Any] | None = None  # 2025
    organisation_previous_placement: dict[str, Any] | None = None
    # The three takeaways the report opens with: the change that matters most, the biggest
    # estate risk, the gate's block rate and main reason (change_takeaway, estate_risk_takeaway,
    # gate_takeaway).
    takeaways: tuple[str, ...] = ()

    @property
    def in_progress(self) -> bool:
        return self.until < self.period.end

    @property
    def end_text(self) -> str:
        """When the figures stop, as a reader says it: "the end of 30 Nov 2026" for a finished
        period (its end is exclusive: 1 Dec 00:00 would read as a day of December), else the
        moment, "7 Dec 2026 06:00 UTC"."""
        return period_end_text(self.period, self.until)

    @property
    def window_text(self) -> str:
        """ "1–30 Nov 2026 (UTC)", or "1 Dec 2026 – 7 Dec 2026 06:00 UTC (to date)"."""
        start = self.period.start
        if self.in_progress:
            return f"{start:%-d %b %Y} – {self.until:%-d %b %Y %H:%M} UTC (to date)"
        last = self.period.end - timedelta(days=1)
        if (start.year, start.month) == (last.year, last.month):
            return f"{start.day}–{last:%-d %b %Y} (UTC)"
        return f"{start:%-d %b} – {last:%-d %b %Y} (UTC)"

    @property
    def tiers(self) -> bool:
        """Whether the benchmark year has levels (2021–2024); 2025 places teams instead."""
        return has_tiers(self.benchmark)

    @property
    def placement_counts(self) -> dict[str, int]:
        """Teams per band of their overall 2025 percentile (charts.percentile_band)."""
        counts = dict.fromkeys(BAND_LABELS, 0)
        for team in self.teams:
            counts[percentile_band(team.percentile)] += 1
        return counts

    @property
    def level_counts(self) -> dict[str, int]:
        counts = dict.fromkeys((*LEVEL_ORDER, "insufficient"), 0)
        for team in self.teams:
            counts[team.level or "insufficient"] += 1
        return counts


def figure_rows(
    current: dash.Headline, previous: dash.Headline, *, subject: str | None = None
) -> tuple[FigureRow, ...]:
    rows = []
    for now_figure, then_figure in zip(current.figures, previous.figures, strict=True):
        rows.append(
            FigureRow(
                key=now_figure.key,
                current=now_figure,
                previous=then_figure,
                comparison=compare(now_figure.key, now_figure, then_figure),
                sentence=change_sentence(
                    now_figure.key,
                    now_figure.value,
                    then_figure.value,
                    current_ci=now_figure.ci,
                    previous_ci=then_figure.ci,
                    subject=subject,
                ),
            )
        )
    return tuple(rows)


def movements(teams: Iterable[TeamRow]) -> tuple[tuple[Movement, ...], tuple[Movement, ...]]:
    """The biggest improvements and regressions across teams: significant changes first, then
    by the size of the relative change; figures without a value in either period are left out."""
    better, worse = [], []
    for team in teams:
        for row in team.figures:
            if row.comparison.better is None:
                continue
            (better if row.comparison.better else worse).append(Movement(team.name, row))

    def rank(movement: Movement) -> tuple[int, float]:
        relative = movement.row.relative
        return (
            0 if movement.row.comparison.significant else 1,
            -(abs(relative) if relative is not None else math.inf),
        )

    return (
        tuple(sorted(better, key=rank)[:MOVEMENTS_SHOWN]),
        tuple(sorted(worse, key=rank)[:MOVEMENTS_SHOWN]),
    )


def gate_block_reasons(
    blocked: Iterable[tuple[str, str, list[dict[str, Any]]]],
) -> tuple[list[tuple[str, int]], tuple[str, str, int] | None]:
    """From blocked decisions (service, to environment, checks): how many of them each check
    blocked (failed with severity block, as the gate page counts), most first, and the (service,
    to environment, decisions) blocked most often, None unless it was blocked more than once and
    more often than any other (naming one of several equal routes would mislead)."""
    reasons: dict[str, int] = {}
    routes: dict[tuple[str, str], int] = {}
    for service, environment, checks in blocked:
        routes[(service, environment)] = routes.get((service, environment), 0) + 1
        failed = {
            str(c.get("name") or "")
            for c in checks or []
            if not c.get("passed") and c.get("severity") == "block"
        }
        for name in failed:
            reasons[name] = reasons.get(name, 0) + 1
    ranked = sorted(routes.items(), key=lambda item: (-item[1], item[0]))
    # A route is named only when it was blocked more than once and more often than any other.
    top = None
    if ranked and ranked[0][1] > 1 and (len(ranked) == 1 or ranked[1][1] < ranked[0][1]):
        (service, environment), count = ranked[0]
        top = (service, environment, count)
    return sorted(reasons.items(), key=lambda item: (-item[1], item[0])), top


def _zoned_headlines(
    rollouts: Any,
    arrivals: Any,
    period: Period,
    *,
    groups: dict[str, Any],
    tz: dict[Any, str],
    now: datetime,
    **common: Any,
) -> dict[Any, dash.Headline]:
    """Each team's headline over the period's days in the team's own time zone (the dashboards'
    window rule, dora.window): the same calendar month or quarter, from its local midnights,
    to date (`now`) while it runs. One `split_headlines` pass per zone."""
    first, last = period.start.date(), period.end.date()
    result: dict[Any, dash.Headline] = {}
    keys = list(dict.fromkeys(groups.values()))
    for zone in dict.fromkeys(tz[key] for key in keys):
        members = {name: key for name, key in groups.items() if tz[key] == zone}
        result.update(
            dash.split_headlines(
                rollouts,
                arrivals,
                groups=members,
                since=local_midnight(first, zone),
                until=min(local_midnight(last, zone), now),
                tz=tz,
                now=now,
                **common,
            )
        )
    return {key: result[key] for key in keys}


def leadership_report(
    period: Period, *, now: datetime, benchmark: int | None = None
) -> LeadershipReport:
    """The whole organisation's report for `period` against the one before it; the benchmark
    defaults to the service's (`benchmarks.default_benchmark`)."""
    benchmark = default_benchmark() if benchmark is None else benchmark
    previous = period.previous()
    until = min(period.end, now)
    scope = Scope()
    # A day more on each side: a team's months are its own time zone's (`_zoned_headlines`).
    c = MetricsComputation(
        MetricsQuery(
            scope=scope,
            since=previous.start - timedelta(days=1),
            until=min(period.end + timedelta(days=1), now),
            benchmark=benchmark,
        ),
        now=now,
    )
    # The headlines need no arrival's description, rollout columns or earlier arrivals.
    c.prefetch(("headline_arrival_rows", "rollouts"))
    rollouts, arrivals = c.rollouts, c.headline_arrival_rows
    incidents = dash.incidents_for_levels(c)
    services = services_of(scope)
    first = first_rollouts_by_service(scope)

    # Each window's row passes once: the organisation's and a UTC team's share them.
    memo: dict[Any, Any] = {}
    common = {"now": now, "benchmark": benchmark, "incidents": incidents, "memo": memo}
    organisation = organisation_industry()
    org = {
        "first_rollout_at": min(first.values()) if first else None,
        "tz": "UTC",
        "industry": organisation,
        **common,
    }
    org_now = dash.pooled_headline(rollouts, arrivals, since=period.start, until=until, **org)
    org_then = dash.pooled_headline(
        rollouts, arrivals, since=previous.start, until=previous.end, **org
    )
    ordered, groups = dash.team_groups(services, first, organisation=organisation)
    by_team = {**groups, **common}
    currents = _zoned_headlines(rollouts, arrivals, period, **by_team)
    befores = _zoned_headlines(rollouts, arrivals, previous, **by_team)
    teams = []
    for team, _members in ordered:
        name = team or NO_TEAM
        current, before = currents[team], befores[team]
        teams.append(
            TeamRow(
                name=name,
                team=team,
                level=current.level,
                previous_level=before.level,
                figures=figure_rows(current, before, subject=name),
                placement=current.placement,
                previous_placement=before.placement,
            )
        )
    improvements, regressions = movements(teams)

    environments = em.environments_ordered()
    computations = em.estate_computations(
        scope, em.tiers_of(environments), since=period.start, until=until, now=now
    )
    for computation in computations.values():  # as the estate page reads them
        computation.prefetch(em.ESTATE_FRAMES)
    matrix = em.estate_matrix(services, environments, computations, since=period.start, until=until)
    lag = matrix.lag
    tiers = {env["name"]: env["tier"] for env in environments}
    stale = []
    if len(lag):
        worst = lag[lag["stale"]].sort_values("lag_seconds", ascending=False, na_position="first")
        stale = [
            {
                "service": r.service,
                "environment": r.environment,
                "target": r.target,
                "lag_seconds": None if r.lag_seconds != r.lag_seconds else float(r.lag_seconds),
                "stale_after_seconds": float(r.stale_after_seconds),
                "tier": tiers.get(r.environment),
            }
            for r in worst.itertuples(index=False)
        ]
    spreads = []
    if len(matrix.spread):
        wide = matrix.spread.sort_values(
            ["versions", "versions_behind", "targets"], ascending=False
        )
        spreads = [
            {
                "service": r.service,
                "environment": r.environment,
                "versions": int(r.versions),
                "targets": int(r.targets),
                "versions_behind": int(r.versions_behind),
                "tier": tiers.get(r.environment),
            }
            for r in wide.itertuples(index=False)
            if r.versions > 1
        ]
    gate = GateDecision.objects.aggregate(
        total=Count("id", filter=Q(evaluated_at__gte=period.start, evaluated_at__lt=until)),
        blocked=Count(
            "id",
            filter=Q(evaluated_at__gte=period.start, evaluated_at__lt=until, allowed=False),
        ),
        previous_total=Count(
            "id", filter=Q(evaluated_at__gte=previous.start, evaluated_at__lt=previous.end)
        ),
        previous_blocked=Count(
            "id",
            filter=Q(
                evaluated_at__gte=previous.start, evaluated_at__lt=previous.end, allowed=False
            ),
        ),
    )
    reasons: list[tuple[str, int]] = []
    route = None
    if gate["blocked"]:
        reasons, route = gate_block_reasons(
            GateDecision.objects.filter(
                evaluated_at__gte=period.start, evaluated_at__lt=until, allowed=False
            )
            .order_by()
            .values_list("service", "to_env", "checks")
        )
    org_rows = figure_rows(org_now, org_then)
    at = period_end_text(period, until)
    takeaways = (
        change_takeaway(
            [(None, row) for row in org_rows] + [(t.name, row) for t in teams for row in t.figures],
            period_label=period.label,
            previous_label=previous.label,
            period_weeks=(until - period.start).total_seconds() / (7 * 86400),
        ),
        estate_risk_takeaway(stale, spreads, len(lag), at=at),
        gate_takeaway(gate["blocked"], gate["total"], reasons, route, period_label=period.label),
    )
    risks = (
        stale_sentence(stale, len(lag)),
        spread_sentence(spreads),
        gate_sentence(
            gate["blocked"], gate["total"], gate["previous_blocked"], gate["previous_total"]
        ),
    )
    return LeadershipReport(
        period=period,
        previous=previous,
        until=until,
        benchmark=benchmark,
        organisation=org_rows,
        organisation_level=org_now.level,
        organisation_previous_level=org_then.level,
        teams=tuple(teams),
        levels_sentence=levels_sentence({t.name: t.level for t in teams})
        if has_tiers(benchmark)
        else placements_sentence({t.name: t.percentile for t in teams}, benchmark),
        level_moves_sentence=level_moves_sentence(
            (t.name, t.previous_level, t.level) for t in teams
        ),
        organisation_placement=org_now.placement,
        organisation_previous_placement=org_then.placement,
        improvements=improvements,
        regressions=regressions,
        risks=risks,
        stale=tuple(stale),
        spreads=tuple(spreads),
        gate=gate,
        takeaways=takeaways,
    )
