"""The one window rule of every page: whole local weeks, a quarter or chosen days, in a zone.

A window is a run of whole local days [first, last] in a scope's time zone, half-open in UTC as
[since, until). A page names it in its query string (CONTRACT §6, "Dashboard windows"):

- `range=1w|4w|12w`: that many ISO weeks (Monday to Sunday) ending with the week that holds `end`.
- `range=q`: the calendar quarter that holds `end` (to date when it is the current quarter).
- `range=custom&start=YYYY-MM-DD&end=YYYY-MM-DD`: those days, both included.
- No `end`: the last complete week, so no `range` and no `end` is the last 4 complete weeks.

Nothing ends after the last complete week: an `end` later than it is read as it, and "next" is
offered only while the next window stays within it. The clock is passed in (`now`). Pure Python:
no Django, no database.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

RANGES = ("1w", "4w", "12w", "q", "custom")
RANGE_LABELS = {
    "1w": "Week",
    "4w": "4 weeks",
    "12w": "12 weeks",
    "q": "Quarter",
    "custom": "Custom",
}
WEEKS = {"1w": 1, "4w": 4, "12w": 12}
DEFAULT_RANGE = "4w"
# The days a window may name: pandas' timestamps span 1677 to 2262, and every zone's midnight
# of these days is inside that.
FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2261, 12, 31)


class WindowError(ValueError):
    """A window parameter a user can fix; `parameter` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


def local_midnight(day: date, tz: str) -> datetime:
    """00:00 of `day` in `tz`, as aware UTC (a DST change moves it, never the date)."""
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def last_complete_day(now: datetime, tz: str) -> date:
    """The Sunday that ends the last complete local ISO week before `now`."""
    today = now.astimezone(ZoneInfo(tz)).date()
    return today - timedelta(days=today.weekday() + 1)


def _quarter_first(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _quarter_last(day: date) -> date:
    first = _quarter_first(day)
    following = date(first.year + (first.month == 10), (first.month + 2) % 12 + 1, 1)
    return following - timedelta(days=1)


@dataclass(frozen=True)
class Window:
    """Whole local days [first, last] in `tz`; `latest` is the last day any window may reach
    (the Sunday of the last complete week), for "next"."""

    range: str
    first: date
    last: date
    tz: str
    latest: date

    @property
    def since(self) -> datetime:
        return local_midnight(self.first, self.tz)

    @property
    def until(self) -> datetime:
        return local_midnight(self.last + timedelta(days=1), self.tz)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def length_text(self) -> str:
        if self.range in WEEKS:
            weeks = WEEKS[self.range]
            return "1 week" if weeks == 1 else f"{weeks} weeks"
        if self.range == "q":
            quarter = f"Q{(self.first.month - 1) // 3 + 1} {self.first.year}"
            return quarter + (" to date" if self.last < _quarter_last(self.first) else "")
        return "1 day" if self.days == 1 else f"{self.days} days"

    @property
    def dates_text(self) -> str:
        """ "Mon 9 Nov – Sun 6 Dec 2026" (the year once when both days share it)."""
        first = f"{self.first:%a} {self.first.day} {self.first:%b}"
        if self.first.year != self.last.year:
            first += f" {self.first.year}"
        return f"{first} – {self.last:%a} {self.last.day} {self.last:%b %Y}"

    @property
    def text(self) -> str:
        """ "4 weeks, Mon 9 Nov – Sun 6 Dec 2026, Europe/Berlin"."""
        return f"{self.length_text}, {self.dates_text}, {self.tz}"

    def params(self) -> dict[str, str]:
        """The query parameters that name this window (dates, so any time zone reads them)."""
        if self.range == "custom":
            return {
                "range": "custom",
                "start": self.first.isoformat(),
                "end": self.last.isoformat(),
            }
        return {"range": self.range, "end": self.last.isoformat()}

    def in_zone(self, tz: str) -> Window:
        """The same days in another time zone (a team's row of the organisation's window)."""
        return replace(self, tz=tz)

    def _with_end(self, end: date) -> Window:
        return window_of(self.range, end=end, tz=self.tz, latest=self.latest)

    def previous(self) -> Window:
        """The window of the same range just before this one."""
        if self.range == "custom":
            shift = timedelta(days=self.days)
            return replace(self, first=self.first - shift, last=self.last - shift)
        return self._with_end(self.first - timedelta(days=1))

    def next(self) -> Window | None:
        """The window just after this one, or None when it would pass the last complete week."""
        if self.last >= self.latest:
            return None
        if self.range == "custom":
            shift = timedelta(days=self.days)
            if self.last + shift > self.latest:
                return None
            return replace(self, first=self.first + shift, last=self.last + shift)
        if self.range in WEEKS:
            return self._with_end(self.last + timedelta(weeks=WEEKS[self.range]))
        return self._with_end(self.last + timedelta(days=1))

    def weeks_containing_end(self, weeks: int) -> tuple[date, date]:
        """The first and last day of the `weeks` whole ISO weeks ending with the week of `last`
        (the team page's 12-week charts of this window), never past `latest`."""
        last_week_end = min(self.last + timedelta(days=6 - self.last.weekday()), self.latest)
        return last_week_end - timedelta(weeks=weeks) + timedelta(days=1), last_week_end


def window_of(
    range_: str, *, end: date, tz: str, latest: date, start: date | None = None
) -> Window:
    """The window of `range_` whose last day is, or whose period holds, `end` (at most `latest`)."""
    end = min(end, latest)
    if range_ in WEEKS:
        last = end + timedelta(days=6 - end.weekday())
        if last > latest:  # `latest` is a Sunday, so the week of `end` is then the current one
            last -= timedelta(weeks=1)
        first = last - timedelta(weeks=WEEKS[range_]) + timedelta(days=1)
        return Window(range_, first, last, tz, latest)
    if range_ == "q":
        first = _quarter_first(end)
        return Window("q", first, min(_quarter_last(end), latest), tz, latest)
    if range_ == "custom":
        if start is None:
            raise WindowError("start", "range=custom needs start, e.g. start=2026-10-05")
        if start > end:
            raise WindowError("start", f"start ({start}) must be on or before end ({end})")
        return Window("custom", start, end, tz, latest)
    raise WindowError("range", f"range {range_!r} must be one of {', '.join(RANGES)}")


def _day(value: str, parameter: str) -> date:
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise WindowError(parameter, f"{parameter} {value!r} is not an ISO date, e.g. 2026-11-29")
    if not FIRST_DAY <= day <= LAST_DAY:
        raise WindowError(parameter, f"{parameter} {value!r} is outside {FIRST_DAY} to {LAST_DAY}")
    return day


def zone_check(tz: str) -> str:
    """`tz` when it names a time zone, else UTC (a stored team's zone was checked on load)."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return tz


def window_parse(
    *,
    now: datetime,
    tz: str,
    range: str | None = None,  # noqa: A002 - the query parameter's name
    end: str | None = None,
    start: str | None = None,
    default_range: str = DEFAULT_RANGE,
) -> Window:
    """The window a page's query string names (module docstring); WindowError names the first
    bad parameter. `tz`: the scope's time zone; `now`: the clock."""
    tz = zone_check(tz or "UTC")
    latest = last_complete_day(now, tz)
    range_ = (range or "").strip() or ("custom" if start else default_range)
    end_day = _day(end, "end") if end else latest
    start_day = _day(start, "start") if start else None
    if range_ == "custom" and end_day > latest:
        raise WindowError("end", f"end ({end_day}) is after the last complete week ({latest})")
    return window_of(range_, end=end_day, tz=tz, latest=latest, start=start_day)
