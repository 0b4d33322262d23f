"""The leadership report: a month or quarter against the one before, in figures and sentences.

The figures come from the metrics engine the dashboards use (one MetricsComputation over both
periods, split by team in one pass with `dora.reads.dashboards.split_headlines`; the estate from
`dora.reads.estate_matrix` at the period's end); the comparison follows METRICS §6 (a change is
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

from dora.benchmarks import default_benchmark
from dora.config import duration_format
from dora.metrics import DEFINITIONS_URL, DEFINITIONS_VERSION
from dora.metrics.levels import has_tiers
from dora.models import GateDecision
from dora.reads import dashboards as dash
from dora.reads import estate_matrix as em
from dora.reads.charts import BAND_LABELS, percentile_band
from dora.reads.figures import LABELS, Figure
from dora.reads.page_reads import first_rollouts_by_service, services_of
from dora.reads.report import MetricsComputation
from dora.reads.report_query import EARLIEST, LATEST, RANGE_TEXT, MetricsQuery, ParameterError
from dora.reads.scope import Scope, organisation_industry
from dora.reads.weeks import Comparison, compare
from dora.units import DAY, DAYS_ABOVE, HOUR, duration_human
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


def _precise(value: float) -> str:
    """One decimal whatever the size ("21.9"), for two values the usual rounding reads alike."""
    text = f"{value:.1f}".removesuffix(".0")
    return "0" if text == "-0" else text


def duration_words(seconds: float, *, precise: bool = False) -> str:
    """Seconds for a sentence: "45 minutes", "5.2 hours", "2.1 days" (days above 48 hours; the
    same numbers as everywhere else, dora.units.duration_human). precise: one decimal whatever
    the size ("21.9 hours"), with the same units, for two values that would read alike."""
    if not precise:
        return duration_human(seconds, words=True)
    if seconds < HOUR:
        return f"{_precise(seconds / 60)} minutes"
    if seconds <= DAYS_ABOVE:
        return f"{_precise(seconds / HOUR)} hours"
    return f"{_precise(seconds / DAY)} days"


def value_words(key: str, value: float, *, precise: bool = False) -> str:
    """A figure's value in words: "2.1 days", "12.5%", "4.2 rollouts a week"; precise: one
    decimal above 10 too ("21.9 hours", "53.4 rollouts a week")."""
    if key in DURATIONS:
        return duration_words(value, precise=precise)
    if key in RATES:
        return f"{value * 100:.1f}%"
    return f"{(_precise if precise else _number)(value)} rollouts a week"


def values_words(key: str, before: float, after: float) -> tuple[str, str]:
    """Both values in words, one decimal more when the usual rounding makes them read alike
    ("22 hours to 22 hours" for 22.4 and 21.9 hours reads as no change)."""
    first, second = value_words(key, before), value_words(key, after)
    if first == second:
        first, second = (
            value_words(key, before, precise=True),
            value_words(key, after, precise=True),
        )
    return first, second


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
    if value_words(key, current) == value_words(key, previous):
        # Equal once rounded for the reader: never "rose from 22 hours to 22 hours".
        return f"{who} was unchanged at {value_words(key, current)} ({words})."
    verb = "rose" if current > previous else "fell"
    before, after = values_words(key, previous, current)
    if key == "deployment_frequency":  # "from 3.2 to 4.1 rollouts a week"
        before = before.removesuffix(" rollouts a week")
    return (
        f"{who} {verb} from {before} to {after} ({change_text(key, current, previous)}, {words})."
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
# Takeaways: the three sentences a reader without time reads first (pure)
# ---------------------------------------------------------------------------------------------

NO_TEAM = "Without a team"


def _who(team: str | None) -> str:
    """Whose figure a takeaway is about: the organisation, a team, or the teamless services."""
    if team is None:
        return "Across the organisation"
    if team == NO_TEAM:
        return "For services without a team"
    return f"For team {team}"


def _figure_clause(key: str, current: float, previous: float) -> tuple[str, str]:
    """("lead time", "rose from 1.2 days to 3.4 days (+183%)")"""
    name = SHORT_NAMES[key]
    verb = "rose" if current > previous else "fell"
    before, after = values_words(key, previous, current)
    if key == "deployment_frequency":
        before = before.removesuffix(" rollouts a week")
    return (
        f"{name[0].lower()}{name[1:]}",
        f"{verb} from {before} to {after} ({change_text(key, current, previous)})",
    )


def takeaway_rank(team: str | None, row: FigureRow) -> tuple[int, float, int]:
    """The order of significant changes: worse before better (a regression needs action, an
    improvement does not), then the largest relative change (from zero counts as the largest),
    then the organisation before a team."""
    relative = row.relative
    return (
        0 if row.comparison.better is False else 1,
        -(abs(relative) if relative is not None else math.inf),
        0 if team is None else 1,
    )


def separation_factor(
    current: float, previous: float, current_ci: Sequence[float], previous_ci: Sequence[float]
) -> float | None:
    """How many times the items of each period it would take for the two 95% intervals to stop
    overlapping if both values held: an interval's half-width shrinks as 1/sqrt(n) (Poisson,
    Wilson and the median's order statistics all do, roughly), so the facing halves, which now
    add up to `gap`, must shrink to the difference: (gap / difference)^2. None without one."""
    delta = current - previous
    if abs(delta) < 1e-12:
        return None
    if delta > 0:
        gap = (current - current_ci[0]) + (previous_ci[1] - previous)
    else:
        gap = (current_ci[1] - current) + (previous - previous_ci[0])
    return (gap / abs(delta)) ** 2


def change_takeaway(
    rows: Sequence[tuple[str | None, FigureRow]],
    *,
    period_label: str,
    previous_label: str,
    period_weeks: float,
) -> str:
    """The significant change that matters most (`takeaway_rank`) among `rows` (team or None for
    the organisation, figure row), or, when none is significant, what it would take to see one:
    the organisation's figure nearest to significance (smallest `separation_factor`) and the
    rollouts (frequency: weeks of them at its rate) or items each period would need."""
    significant = [
        (team, row)
        for team, row in rows
        if row.comparison.significant and row.comparison.better is not None
    ]
    if significant:
        team, row = min(significant, key=lambda item: takeaway_rank(*item))
        assert row.current.value is not None and row.previous.value is not None
        what = "worsening" if row.comparison.better is False else "improvement"
        name, moved = _figure_clause(row.key, row.current.value, row.previous.value)
        return (
            f"{_who(team)}, {name} {moved} "
            f"in {period_label} against {previous_label}: a significant {what} "
            "(the two 95% intervals do not overlap)."
        )
    nearest: tuple[float, FigureRow] | None = None
    for team, row in rows:
        cur, prev = row.current, row.previous
        if team is not None or cur.value is None or prev.value is None:
            continue
        if cur.ci is None or prev.ci is None:
            continue
        factor = separation_factor(cur.value, prev.value, cur.ci, prev.ci)
        if factor is not None and (nearest is None or factor < nearest[0]):
            nearest = (factor, row)
    head = f"No significant change in {period_label} against {previous_label}"
    if nearest is None:
        return (
            f"{head}: no organisation figure changed with enough items in both periods for a "
            "95% interval (a median needs 6 items)."
        )
    factor, row = nearest
    assert row.current.value is not None and row.previous.value is not None
    name, moved = _figure_clause(row.key, row.current.value, row.previous.value)
    if row.key == "deployment_frequency":
        need = (
            f"about {_number(factor * period_weeks)} weeks of rollouts at these rates in each "
            f"period instead of {_number(period_weeks)}"
        )
    else:
        need = (
            f"about {math.ceil(factor * row.current.n)} {row.current.n_label} in each period "
            f"instead of {row.current.n}"
        )
    return (
        f"{head}. The nearest is {name}, which {moved}; telling it apart would take {need}, "
        "if the difference held."
    )


TIER_RANK = {"production": 0, "staging": 1, "test": 2, "development": 3}


def _times_over(item: dict[str, Any]) -> float:
    """A stale instance's lag in multiples of its stale_after; infinite when it never succeeded."""
    lag = item.get("lag_seconds")
    if lag is None or (isinstance(lag, float) and math.isnan(lag)):
        return math.inf
    return float(lag) / (item.get("stale_after_seconds") or 7 * 86400)


def estate_risk_takeaway(
    stale: Sequence[dict[str, Any]],
    spreads: Sequence[dict[str, Any]],
    instances: int,
    *,
    at: str,
) -> str:
    """The biggest estate risk at `at` (a date in words), by one rule: the highest environment
    tier first (production, staging, test, development; `tier` in each dict, unknown last), as
    a risk nearer the customer costs more; within a tier a stale automation instance before a
    version spread (nobody knows what a stale one would do to its environment, and the gate's
    source_fresh blocks promotions from it); among stale instances one that never succeeded,
    then the most times over its stale_after; among spreads (more than one version) the most
    versions, then releases behind, then targets."""

    def stale_key(item: dict[str, Any]) -> tuple[int, int, float]:
        return (TIER_RANK.get(item.get("tier") or "", 4), 0, -_times_over(item))

    def spread_key(item: dict[str, Any]) -> tuple[int, int, float]:
        size = item["versions"] * 1e6 + (item.get("versions_behind") or 0) * 1e3 + item["targets"]
        return (TIER_RANK.get(item.get("tier") or "", 4), 1, -size)

    wide = [s for s in spreads if s["versions"] > 1]
    candidates = [(stale_key(i), "stale", i) for i in stale]
    candidates += [(spread_key(i), "spread", i) for i in wide]
    if not candidates:
        runs = (
            f"all {instances} automation instances ran within their stale_after"
            if instances
            else "no automation instance reports runs"
        )
        return f"No estate risk at {at}: {runs} and every service ran one version per environment."
    _, kind, worst = min(candidates, key=lambda c: c[0])
    if kind == "stale":
        where = worst["environment"] + (
            f", target {worst['target']}" if worst.get("target") else ""
        )
        # The setting as the configuration writes it ("7d"), not a measured duration.
        limit = duration_format(timedelta(seconds=worst.get("stale_after_seconds") or 7 * 86400))
        times = _times_over(worst)
        what = (
            "has never succeeded"
            if math.isinf(times)
            else f"last succeeded {duration_words(worst['lag_seconds'])} before {at}, "
            f"{_number(times)} times its stale_after of {limit}"
        )
        others = f"{len(stale)} of {instances} automation instances were stale"
        if len(stale) == 1:
            others = f"1 of {instances} automation instances was stale"
        return f"The automation of {worst['service']} in {where} {what}; {others}."
    behind = worst.get("versions_behind") or 0
    note = f", the oldest {behind} release{'' if behind == 1 else 's'} behind" if behind else ""
    more = len(wide) - 1
    tail = (
        f"; {more} more service-environment{'' if more == 1 else 's'} ran more than one version"
        if more
        else ""
    )
    return (
        f"{worst['service']} ran {worst['versions']} versions across {worst['targets']} "
        f"{worst['environment']} targets at {at}{note}{tail}."
    )


def gate_takeaway(
    blocked: int,
    total: int,
    reasons: Sequence[tuple[str, int]],
    route: tuple[str, str, int] | None,
    *,
    period_label: str,
) -> str:
    """The promotion gate's block rate in the period and its main reason: the check that failed
    (with severity block) in the most blocked decisions (a decision may fail several), and the
    service and target environment blocked most often. reasons: (check, decisions) most first;
    route: (service, to environment, blocked decisions)."""
    if not total:
        return f"Nobody asked the promotion gate in {period_label}: no decisions to report."
    asked = f"{total} promotion{'' if total == 1 else 's'}"
    if not blocked:
        every = "the only promotion" if total == 1 else f"all {asked}"
        return f"The promotion gate allowed {every} in {period_label} (0% blocked)."
    share = f"{100 * blocked / total:.0f}%"
    text = f"The promotion gate blocked {blocked} of {asked} in {period_label} ({share})"
    if reasons:
        name, count = reasons[0]
        of = f"all {blocked}" if count == blocked else f"{count} of the {blocked}"
        text += f"; the main reason was {name}, failing in {of} blocked"
    if route:
        service, environment, count = route
        text += f", most often for {service} into {environment} ({count} blocked)"
    return text + "."


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
class FigureRow:
    """One figure of one team (or the organisation) in both periods."""

    key: str
    current: Figure
    previous: Figure
    comparison: Comparison
    sentence: str

    @property
    def label(self) -> str:
        return LABELS[self.key]

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
    # The headlines need no arrival's description or rollout columns (arrival_rows).
    c.prefetch(("arrival_rows", "rollouts"))
    rollouts, arrivals, incidents = c.rollouts, c.arrival_rows, dash.incidents_for_levels(c)
    services = services_of(scope)
    first = first_rollouts_by_service(scope)

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
    # Added: the row's sentence; the first three rows are the takeaways (team "(takeaway)",
    # figure one of TAKEAWAY_FIGURES, unit "sentence", every number empty).
    "sentence",
)
TAKEAWAY_TEAM = "(takeaway)"
TAKEAWAY_FIGURES = ("significant_change", "estate_risk", "gate_block_rate")


def _csv_text(value: str) -> str:
    """A name as a spreadsheet shows it, never runs it: a leading =, +, -, @, tab or CR would
    start a formula (OWASP CSV injection), so such a name gets a leading apostrophe."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _csv_number(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def report_csv(report: LeadershipReport, *, definitions_url: str = DEFINITIONS_URL) -> str:
    """The takeaways first (a row each, team TAKEAWAY_TEAM), then one row per team x figure (the
    organisation first), both periods, raw numbers: seconds for durations, 0..1 for rates,
    rollouts per week for frequency; each row names the definitions version and where it is
    explained (absolute when the caller knows the host)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    start, end = report.period.start.date().isoformat(), report.until.isoformat()
    for figure, sentence in zip(TAKEAWAY_FIGURES, report.takeaways, strict=False):
        line = dict.fromkeys(CSV_HEADER, "")
        line.update(
            team=TAKEAWAY_TEAM,
            figure=figure,
            unit="sentence",
            period_start=start,
            period_end=end.replace("+00:00", "Z"),
            previous_start=report.previous.start.date().isoformat(),
            previous_end=report.previous.end.date().isoformat(),
            definitions_version=str(DEFINITIONS_VERSION),
            definitions_url=definitions_url,
            sentence=_csv_text(sentence),
        )
        writer.writerow(line.values())
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
                    _csv_text(row.sentence),
                )
            )
    return out.getvalue()
