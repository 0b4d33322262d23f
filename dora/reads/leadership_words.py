"""The leadership report's sentences (pure): numbers in, one short sentence out."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from dora.reads.charts import percentile_band
from dora.units import DAY, DAYS_ABOVE, HOUR, duration_human

SHORT_NAMES = {
    "deployment_frequency": "Deployment frequency",
    "lead_time": "Lead time",
    "change_failure_rate": "Change failure rate",
    "recovery_time": "Recovery time",
    "rework_rate": "Rework rate",
}
RATES = ("change_failure_rate", "rework_rate")
DURATIONS = ("lead_time", "recovery_time")
LEVEL_ORDER = ("elite", "high", "medium", "low")
RISKS_SHOWN = 3
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
