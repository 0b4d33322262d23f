"""`{% load units %}`: durations for people in templates, `{{ seconds|duration_human }}`."""

from __future__ import annotations

from typing import Any

from django import template

from dora.units import duration_human as _duration_human

register = template.Library()


@register.filter
def duration_human(seconds: Any) -> str:
    """Seconds (a number, or a timedelta) as "47 h", "2.0 days"; "–" when missing."""
    if seconds is None or seconds == "":
        return _duration_human(None)
    if hasattr(seconds, "total_seconds"):
        seconds = seconds.total_seconds()
    return _duration_human(float(seconds))
