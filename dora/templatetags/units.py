"""`{% load units %}`: words for people in templates: durations (`duration_human`), dates and
times in the pages' one format (`day_text`, `time_text`), text shortened at a word (`shorten`)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from django import template
from django.template.defaultfilters import date as date_filter

from dora.units import duration_human as _duration_human

register = template.Library()

# One format per kind, every page: a day "Mon 30 Nov 2026", a moment "30 Nov 14:05 UTC" (in
# the page's active time zone, named by its abbreviation).
DAY_FORMAT = "D j M Y"
TIME_FORMAT = "j M H:i T"
NONE_TEXT = "–"
ELLIPSIS = "…"


@register.filter
def duration_human(seconds: Any) -> str:
    """Seconds (a number, or a timedelta) as "47 h", "2.0 days"; "–" when missing."""
    if seconds is None or seconds == "":
        return _duration_human(None)
    if hasattr(seconds, "total_seconds"):
        seconds = seconds.total_seconds()
    return _duration_human(float(seconds))


@register.filter
def day_text(value: date | datetime | None) -> str:
    """A day: "Mon 30 Nov 2026"; "–" when missing."""
    return date_filter(value, DAY_FORMAT) if value else NONE_TEXT


@register.filter
def time_text(value: datetime | None) -> str:
    """A moment in the active time zone: "30 Nov 14:05 UTC"; "–" when missing."""
    return date_filter(value, TIME_FORMAT) if value else NONE_TEXT


def shorten_text(text: str, limit: int) -> str:
    """`text` cut at the last whole word that fits in `limit` characters, with "…"; unchanged
    when it fits. Never cuts inside a word (a single word longer than `limit` stays whole)."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - len(ELLIPSIS) + 1]
    space = cut.rfind(" ")
    if space <= 0:
        end = text.find(" ")
        return text if end < 0 else text[:end] + ELLIPSIS
    return cut[:space].rstrip(" ,;:-–") + ELLIPSIS


@register.filter
def shorten(text: Any, limit: int) -> str:
    """`{{ title|shorten:60 }}` (put the full text in a title attribute beside it)."""
    return "" if text is None else shorten_text(str(text), int(limit))
