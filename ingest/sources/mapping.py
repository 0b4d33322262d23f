"""Small pure helpers every provider's mapper uses: provider JSON in, CONTRACT §1 events out."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


def time_of(value: str | None) -> datetime | None:
    """An ISO 8601 time (as the providers' JSON gives it) as a datetime; None when absent."""
    return datetime.fromisoformat(value) if value else None


def clean(event: dict[str, Any]) -> dict[str, Any]:
    """Drop absent fields: an event names only what the source told us."""
    return {k: v for k, v in event.items() if v is not None}


def earliest(values: Iterable[str | None]) -> str | None:
    """The earliest of some ISO times (as given), None when there is none."""
    present = [v for v in values if v]
    return min(present, key=time_of) if present else None  # type: ignore[arg-type]


def latest(values: Iterable[str | None]) -> str | None:
    """The latest of some ISO times (as given), None when there is none."""
    present = [v for v in values if v]
    return max(present, key=time_of) if present else None  # type: ignore[arg-type]


def utc_text(value: Any) -> str | None:
    """A provider's zoned timestamp (`2022-11-03T06:23:06.000000Z`) as ISO 8601 UTC with a `Z`;
    None stays None, and a time without a zone is a ValueError (never guessed)."""
    if not value:
        return None
    moment = datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a zone: {value!r}")
    return moment.astimezone(UTC).isoformat().removesuffix("+00:00") + "Z"


@dataclass(frozen=True)
class Skipped:
    """An incident (for one service) not turned into an event, and why."""

    incident: str
    reason: str


@dataclass(frozen=True)
class Mapped:
    """The events of one input, and what was skipped."""

    events: tuple[dict[str, Any], ...] = ()
    skipped: tuple[Skipped, ...] = ()
