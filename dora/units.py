"""Durations in words for people: one formatter for pages, charts, reports and the terminal."""

from __future__ import annotations

import math
from collections.abc import Iterable

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0
# Above this a duration is told in days: "47 h" still reads at a glance, "49 h" does not.
DAYS_ABOVE = 48 * HOUR
NONE_TEXT = "–"
MINUS = "−"


def _one_decimal_below_ten(value: float) -> str:
    """9.6, 12: one decimal while it still says something, whole numbers from 10 up."""
    return f"{value:.1f}" if round(value, 1) < 10 else f"{value:.0f}"


def duration_human(seconds: float | None, *, words: bool = False) -> str:
    """Seconds the way a person says them: "40 min", "5.2 h", "47 h", "2.0 days", "12 days".

    Under an hour in whole minutes (0 -> "0 min", under half a minute -> "under 1 min"); up to
    48 hours in hours (one decimal below 10); above 48 hours in days (one decimal below 10, so
    never fewer than "2.0 days"). None or NaN -> "–"; a negative duration gets a minus sign.
    words: the units spelt out for a sentence ("40 minutes", "5.2 hours"), same numbers.
    """
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return NONE_TEXT
    seconds = float(seconds)
    if seconds < 0:
        return MINUS + duration_human(-seconds, words=words)
    one_minute, minutes_word, hours_word = (
        ("minute", "minutes", "hours") if words else ("min",) * 2 + ("h",)
    )
    if seconds == 0:
        return f"0 {minutes_word}"
    if seconds > DAYS_ABOVE:
        return f"{_one_decimal_below_ten(seconds / DAY)} days"
    minutes = round(seconds / MINUTE)
    if minutes == 0:
        return f"under 1 {one_minute}"
    if minutes < 60:
        return f"{minutes} {one_minute if minutes == 1 else minutes_word}"
    return f"{_one_decimal_below_ten(seconds / HOUR)} {hours_word}"


def durations_equal(a: float | None, b: float | None) -> bool:
    """True when the two durations read the same once rounded for people: "22 h" and "22 h"."""
    return duration_human(a) == duration_human(b)


def duration_axis_unit(seconds: Iterable[float | None]) -> tuple[str, float]:
    """A chart axis's unit for these durations: ("days", 86400) when any is above 48 h, else
    ("hours", 3600). Empty or all missing -> hours."""
    finite = [float(s) for s in seconds if s is not None and not math.isnan(float(s))]
    if finite and max(finite) > DAYS_ABOVE:
        return "days", DAY
    return "hours", HOUR


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """ "1 version", "2 versions", "0 versions"; plural_form for irregular words."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count} {word}"
