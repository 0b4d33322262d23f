"""How the gate's details write times, durations and lists of evidence."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

LISTED = 3  # evidence items named in a detail before "and N more"


# ---------------------------------------------------------------------------------------------
# Words
# ---------------------------------------------------------------------------------------------


def _when(moment: datetime | None) -> str:
    """A time the way the contract's example writes it: 2026-03-05T10:00Z."""
    if moment is None:
        return "never"
    return moment.strftime("%Y-%m-%dT%H:%MZ")


def _duration(value: timedelta) -> str:
    """9d 2h, 3h 5m, 12m, 40s: the two largest units."""
    seconds = int(value.total_seconds())
    if seconds < 60:
        return f"{max(seconds, 0)}s"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        count, seconds = divmod(seconds, size)
        if count or parts:
            parts.append(f"{count}{unit}")
    parts = parts[:2]
    while len(parts) > 1 and parts[-1].startswith("0"):
        parts.pop()
    return " ".join(parts)


def _listed(items: Sequence[str]) -> str:
    shown = list(items[:LISTED])
    rest = len(items) - len(shown)
    return ", ".join(shown) + (f" and {rest} more" if rest > 0 else "")
