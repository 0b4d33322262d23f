"""The leadership report: a month or quarter against the one before, in figures and sentences.

The figures come from the metrics engine the dashboards use (one MetricsComputation over both
periods, split by team in one pass with `dora.dashboards.split_headlines`; the estate from
`dora.estate_matrix` at the period's end); the comparison follows METRICS §6 (a change is
significant only when the two 95% intervals do not overlap). The sentence functions at the top
are pure: numbers in, one short sentence out.
"""

from __future__ import annotations

import calendar
import csv
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Count, Q

from dora import dashboards as dash
from dora import estate_matrix as em
from dora.benchmarks import default_benchmark
from dora.charts import BAND_LABELS, percentile_band
from dora.metrics import DEFINITIONS_URL, DEFINITIONS_VERSION
from dora.metrics.levels import has_tiers
from dora.models import GateDecision
from dora.report import (
    EARLIEST,
    LATEST,
    RANGE_TEXT,
    MetricsComputation,
    MetricsQuery,
    ParameterError,
)
from dora.selectors import Scope, organisation_industry
from dora.window import local_midnight

PERIOD_KINDS = ("month", "quarter")
SHORT_NAMES = {
    "deployment_frequency": "Deployment frequency",
    "lead_time": "Lead time",
    "change_failure_rate": "Change failure rate",
    "recovery_time": "Recovery time",
    "rework_rate": "Rework rate",
}
UNITS = {
    "deployment_frequency": "rollouts per week",
    "lead_time": "seconds",
    "change_failure_rate": "share (0-1)",
    "recovery_time": "seconds",
    "rework_rate": "share (0-1)",
}
RATES = ("change_failure_rate", "rework_rate")
DURATIONS = ("lead_time", "recovery_time")
LEVEL_ORDER = ("elite", "high", "medium", "low")
MOVEMENTS_SHOWN = 3
RISKS_SHOWN = 3
ORGANISATION = "(organisation)"
MINUS = "−"


# ---------------------------------------------------------------------------------------------
# Sentences (pure)
# ---------------------------------------------------------------------------------------------


def _number(value: float) -> str:
    """One decimal below 10, none above or when it is 0 ("2.1", "2", "14"); no "-0"."""
    text = f"{value:.1f}" if abs(value) < 10 else f"{value:.0f}"
    text = text.removesuffix(".0")
    return "0" if text == "-0" else text


def duration_words(seconds: float) -> str:
    """Seconds in the unit a reader expects: 45 minutes, 5.2 hours, 2.1 days."""
    if seconds < 3600:
        minutes = seconds / 60
        return f"{_number(minutes)} minute{'' if _number(minutes) == '1' else 's'}"
    if seconds < 86400:
        hours = seconds / 3600
        return f"{_number(hours)} hour{'' if _number(hours) == '1' else 's'}"
    days = seconds / 86400
    return f"{_number(days)} day{'' if _number(days) == '1' else 's'}"


def value_words(key: str, value: float) -> str:
    """A figure's value in words: "2.1 days", "12.5%", "4.2 rollouts a week"."""
    if key in DURATIONS:
        return duration_words(value)
    if key in RATES:
        return f"{value * 100:.1f}%"
    return f"{_number(value)} rollouts a week"


def signed(value: float, suffix: str = "", *, decimals: int = 0) -> str:
    """+12%, −33%, +5.0 points: a typographic minus, never "-0"."""
    number = f"{abs(value):.{decimals}f}"
    if float(number) == 0:
        return f"±{number}{suffix}"
    return f"{'+' if value > 0 else MINUS}{number}{suffix}"


def significance(
    current_ci: Sequence[float] | None, previous_ci: Sequence[float] | None
) -> bool | None:
    """METRICS §6: significant when both 95% intervals exist and do not overlap; None when
    either is missing (too few items to tell)."""
    if current_ci is None or previous_ci is None:
        return None
    return not (current_ci[0] <= previous_ci[1] and previous_ci[0] <= current_ci[1])


def significance_words(significant: bool | None) -> str:
    if significant is None:
        return "too few to tell"
    return "significant" if significant else "not significant"


def relative_change(current: float, previous: float) -> float | None:
    """(current − previous) / previous; None when previous is 0."""
    if previous == 0:
        return None
    return (current - previous) / abs(previous)


def change_text(key: str, current: float, previous: float) -> str:
    """The change in the figure's own terms: points for rates, a percentage otherwise."""
    if key in RATES:
        return signed((current - previous) * 100, " points", decimals=1)
    relative = relative_change(current, previous)
    if relative is None:
        return "from zero"
    return signed(relative * 100, "%")


def change_sentence(
    key: str,
    current: float | None,
    previous: float | None,
    *,
    current_ci: Sequence[float] | None = None,
    previous_ci: Sequence[float] | None = None,
    subject: str | None = None,
) -> str:
    """One sentence comparing a figure with the previous period, e.g.
    "Lead time fell from 2.1 days to 1.4 days (−33%, significant)."

    subject: who the figure is about ("payments"); the figure's short name otherwise.
    """
    name = SHORT_NAMES.get(key, key.replace("_", " ").capitalize())
    who = f"{subject}: {name[0].lower()}{name[1:]}" if subject else name
    if current is None and previous is None:
        return f"{who} had no data in either period."
    if previous is None:
        return f"{who} was {value_words(key, current)}; the previous period had no data."  # type: ignore[arg-type]
    if current is None:
        return f"{who} had no data this period (previous: {value_words(key, previous)})."
    words = significance_words(significance(current_ci, previous_ci))
    if math.isclose(current, previous, rel_tol=1e-9, abs_tol=1e-12):
        return f"{who} held at {value_words(key, current)} ({words})."
    verb = "rose" if current > previous else "fell"
    before = value_words(key, previous)
    if key == "deployment_frequency":  # "from 3.2 to 4.1 rollouts a week"
        before = _number(previous)
    return (
        f"{who} {verb} from {before} to {value_words(key, current)} "
        f"({change_text(key, current, previous)}, {words})."
    )


def levels_sentence(levels: dict[str, str | None]) -> str:
    """How many teams are at each level: "Of 4 teams, 1 is elite, 2 are medium and 1 has too
    little data for a level."; levels maps team -> level (None: insufficient data)."""
    total = len(levels)
    if not total:
        return "No team had any data this period."
    parts = []
    for level in (*LEVEL_ORDER, None):
        count = sum(1 for v in levels.values() if v == level)
        if not count:
            continue
        if level is None:
            parts.append(f"{count} {'has' if count == 1 else 'have'} too little data for a level")
        else:
            parts.append(f"{count} {'is' if count == 1 else 'are'} {level}")
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Of {total} team{'' if total == 1 else 's'}, {listed}."


BAND_WORDS = {
    "top": "in the top quarter",
    "upper": "in the second quarter",
    "lower": "in the third quarter",
    "bottom": "in the bottom quarter",
}


def placements_sentence(percentiles: dict[str, float | None], year: int = 2025) -> str:
    """How many teams place in each quarter of DORA's respondents: "Of 4 teams, against 2025
    respondents, 1 places in the top quarter, 2 in the second quarter and 1 has too little
    data for a placement."; percentiles maps team -> overall percentile (None: insufficient)."""
    total = len(percentiles)
    if not total:
        return "No team had any data this period."
    bands = [percentile_band(p) for p in percentiles.values()]
    parts = []
    for band in (*BAND_WORDS, "insufficient"):
        count = bands.count(band)
        if not count:
            continue
        if band == "insufficient":
            parts.append(
                f"{count} {'has' if count == 1 else 'have'} too little data for a placement"
            )
        else:
            verb = "" if parts else ("places " if count == 1 else "place ")
            parts.append(f"{count} {verb}{BAND_WORDS[band]}")
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return f"Of {total} team{'' if total == 1 else 's'}, against {year} respondents, {listed}."


def level_moves_sentence(moves: Iterable[tuple[str, str | None, str | None]]) -> str | None:
    """Teams whose level changed: "Level changes: payments moved up from high to elite; billing
    moved down from medium to low." moves: (team, previous level, current level)."""
    texts = []
    for team, before, after in moves:
        if before == after or before is None or after is None:
            continue
        up = LEVEL_ORDER.index(after) < LEVEL_ORDER.index(before)
        texts.append(f"{team} moved {'up' if up else 'down'} from {before} to {after}")
    if not texts:
        return None
    return "Level changes: " + "; ".join(texts) + "."


def gate_sentence(blocked: int, total: int, previous_blocked: int, previous_total: int) -> str:
    """ "The promotion gate blocked 12 of 30 promotions (40%), against 5 of 28 (18%) before." """
    if not total and not previous_total:
        return "Nobody asked the promotion gate in either period."

    def part(b: int, t: int) -> str:
        if not t:
            return "none asked"
        return f"{b} of {t} promotion{'' if t == 1 else 's'} ({100 * b / t:.0f}%)"

    if not total:
        before = part(previous_blocked, previous_total)
        return f"Nobody asked the promotion gate this period (before: it blocked {before})."
    return (
        f"The promotion gate blocked {part(blocked, total)}, "
        f"against {part(previous_blocked, previous_total)} the period before."
    )


def stale_sentence(stale: Sequence[dict[str, Any]], instances: int) -> str:
    """ "2 of 10 automation instances were stale: network-stack in staging (37 days since its
    last successful run), ..." stale: dicts of service, environment, target, lag_seconds."""
    if not instances:
        return "No automation instances report runs."
    if not stale:
        return f"All {instances} automation instances ran successfully within their stale_after."
    shown = []
    for item in stale[:RISKS_SHOWN]:
        where = item["environment"] + (f" {item['target']}" if item.get("target") else "")
        lag = item.get("lag_seconds")
        since = (
            "never succeeded"
            if lag is None or (isinstance(lag, float) and math.isnan(lag))
            else f"{duration_words(lag)} since its last successful run"
        )
        shown.append(f"{item['service']} in {where} ({since})")
    more = len(stale) - len(shown)
    tail = f" and {more} more" if more > 0 else ""
    verb = "was" if len(stale) == 1 else "were"
    return (
        f"{len(stale)} of {instances} automation instances {verb} stale: {', '.join(shown)}{tail}."
    )


def spread_sentence(spreads: Sequence[dict[str, Any]]) -> str:
    """The widest version spreads: "checkout ran 2 versions across 3 production targets (1
    release behind)." spreads: dicts of service, environment, versions, targets,
    versions_behind, widest first; only those with more than one version count."""
    wide = [s for s in spreads if s["versions"] > 1]
    if not wide:
        return "Every service ran a single version in each environment."
    texts = []
    for s in wide[:RISKS_SHOWN]:
        behind = s.get("versions_behind") or 0
        note = f" ({behind} release{'' if behind == 1 else 's'} behind)" if behind else ""
        texts.append(
            f"{s['service']} ran {s['versions']} versions across {s['targets']} "
            f"{s['environment']} targets{note}"
        )
    return "Widest version spread: " + "; ".join(texts) + "."


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


@dataclass(frozen=True)
class FigureRow:
    """One figure of one team (or the organisation) in both periods."""

    key: str
    current: dash.Figure
    previous: dash.Figure
    comparison: dash.Comparison
    sentence: str

    @property
    def label(self) -> str:
        return dash.LABELS[self.key]

    @property
    def relative(self) -> float | None:
        if self.current.value is None or self.previous.value is None:
            return None
        return relative_change(self.current.value, self.previous.value)


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

    @property
    def in_progress(self) -> bool:
        return self.until < self.period.end

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
                comparison=dash.compare(now_figure.key, now_figure, then_figure),
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
    # The headlines need no arrival's description or rollout columns (arrival_rows).
    c.prefetch(("arrival_rows", "rollouts"))
    rollouts, arrivals, incidents = c.rollouts, c.arrival_rows, dash.incidents_for_levels(c)
    services = dash.services_of(scope)
    first = dash.first_rollouts_by_service(scope)

    common = {"now": now, "benchmark": benchmark, "incidents": incidents}
    organisation = organisation_industry()
    org = {
        "first_rollout_at": min(first.values()) if first else None,
        "tz": "UTC",
        "industry": organisation,
        **common,
    }
    org_now = dash.headline(rollouts, arrivals, since=period.start, until=until, **org)
    org_then = dash.headline(rollouts, arrivals, since=previous.start, until=previous.end, **org)
    ordered, groups = dash.team_groups(services, first, organisation=organisation)
    by_team = {**groups, **common}
    currents = _zoned_headlines(rollouts, arrivals, period, **by_team)
    befores = _zoned_headlines(rollouts, arrivals, previous, **by_team)
    teams = []
    for team, _members in ordered:
        name = team or "Without a team"
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
    matrix = em.estate_matrix(services, environments, computations, since=period.start, until=until)
    lag = matrix.lag
    stale = []
    if len(lag):
        worst = lag[lag["stale"]].sort_values("lag_seconds", ascending=False, na_position="first")
        stale = [
            {
                "service": r.service,
                "environment": r.environment,
                "target": r.target,
                "lag_seconds": None if r.lag_seconds != r.lag_seconds else float(r.lag_seconds),
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
        organisation=figure_rows(org_now, org_then),
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
    )


# ---------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------

CSV_HEADER = (
    "team",
    "figure",
    "unit",
    "period_start",
    "period_end",
    "value",
    "n",
    "ci_low",
    "ci_high",
    "level",
    "previous_start",
    "previous_end",
    "previous_value",
    "previous_n",
    "previous_ci_low",
    "previous_ci_high",
    "previous_level",
    "change",
    "significant",
    "definitions_version",  # the definitions the figures follow (docs/DEFINITIONS.md)
    "definitions_url",
    # Added: the figure's 2025 placement (0..100; empty for a tier year or below its minimum).
    "percentile",
    "previous_percentile",
)


def _csv_text(value: str) -> str:
    """A name as a spreadsheet shows it, never runs it: a leading =, +, -, @, tab or CR would
    start a formula (OWASP CSV injection), so such a name gets a leading apostrophe."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def report_csv(report: LeadershipReport, *, definitions_url: str = DEFINITIONS_URL) -> str:
    """One row per team x figure (the organisation first), both periods, raw numbers: seconds
    for durations, 0..1 for rates, rollouts per week for frequency; each row names the
    definitions version and where it is explained (absolute when the caller knows the host)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    teams = [(ORGANISATION, report.organisation), *((t.name, t.figures) for t in report.teams)]
    for team, rows in teams:
        for row in rows:
            cur, prev = row.current, row.previous
            writer.writerow(
                (
                    _csv_text(team),
                    row.key,
                    UNITS[row.key],
                    report.period.start.date().isoformat(),
                    report.until.isoformat().replace("+00:00", "Z"),
                    _csv_number(cur.value),
                    cur.n,
                    _csv_number(cur.ci[0] if cur.ci else None),
                    _csv_number(cur.ci[1] if cur.ci else None),
                    cur.level or "",
                    report.previous.start.date().isoformat(),
                    report.previous.end.date().isoformat(),
                    _csv_number(prev.value),
                    prev.n,
                    _csv_number(prev.ci[0] if prev.ci else None),
                    _csv_number(prev.ci[1] if prev.ci else None),
                    prev.level or "",
                    "" if row.comparison.direction == "none" else row.comparison.text,
                    significance_words(row.comparison.significant),
                    DEFINITIONS_VERSION,
                    definitions_url,
                    _csv_number(cur.percentile),
                    _csv_number(prev.percentile),
                )
            )
    return out.getvalue()
