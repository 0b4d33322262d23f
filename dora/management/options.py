"""Options shared by the management commands."""

from __future__ import annotations

from datetime import UTC, datetime

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime


def moment_option(value: str | None) -> datetime:
    """`--now`: an ISO 8601 moment with a zone, in UTC; none given: now."""
    if not value:
        return timezone.now()
    try:
        moment = parse_datetime(value.strip().replace("z", "Z"))
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError(f"--now {value!r} is not an ISO timestamp, e.g. 2026-03-09T08:00Z")
    if moment.tzinfo is None:
        raise CommandError(f"--now {value!r} has no time zone; add Z or an offset like +01:00")
    return moment.astimezone(UTC)
