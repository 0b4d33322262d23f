"""The leadership report's takeaways (pure): the three sentences a reader without time reads
first, ranked from each figure's row (FigureRow).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from dora.config import duration_format
from dora.reads.figures import LABELS, Figure
from dora.reads.leadership_words import (
    SHORT_NAMES,
    _number,
    change_text,
    duration_words,
    relative_change,
    values_words,
)
from dora.reads.weeks import Comparison

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
