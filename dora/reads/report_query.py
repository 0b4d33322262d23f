"""The metrics report's parameters, parsed in one place: the command and the API accept and
reject the same inputs with the same messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from dora import benchmarks
from dora.metrics.frames import iso
from dora.metrics.levels import (
    BENCHMARK_YEARS,
    DEFAULT_INDUSTRY,
)
from dora.reads.scope import Scope, ScopeError, scope_resolve, scope_zone
from dora.window import WindowError, window_parse

# The API's and the command's window when none is named: CONTRACT §3 says "the 12 weeks before
# now"; under the window rule that is the last 12 complete ISO weeks in the scope's time zone.
API_DEFAULT_RANGE = "12w"

DEFAULT_WINDOW = timedelta(weeks=12)
# The `kind=` values a request may name: all (no filter, as when it is left out), or the kind of
# service, app or infra (an IaC stack; its versioned applies are its rollouts).
KINDS = ("all", "app", "infra")
# The moments a window may name: pandas' timestamps end in April 2262 (nanoseconds in 64 bits),
# and nothing this service measures predates 1970 (the epoch its reads count from).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2262, 1, 1, tzinfo=UTC)
RANGE_TEXT = f"{EARLIEST:%Y-%m-%d} to {LATEST:%Y-%m-%d} (UTC)"


class ParameterError(ValueError):
    """A request parameter a user can fix; `parameter` names it."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class MetricsQuery:
    """A parsed metrics request: scope, window [since, until), benchmark year and the industry
    the 2025 benchmark places the figures against."""

    scope: Scope
    since: datetime
    until: datetime
    benchmark: int = field(default_factory=benchmarks.default_benchmark)  # at construction
    industry: str = DEFAULT_INDUSTRY


def moment_parse(value: str, parameter: str) -> datetime:
    """An ISO date (00:00 UTC) or an ISO timestamp with a zone, as aware UTC, between EARLIEST
    and LATEST."""
    text = value.strip()
    outside = ParameterError(
        parameter, f"{parameter} {value!r} is outside the supported range, {RANGE_TEXT}"
    )
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
        else:
            moment = datetime.fromisoformat(text)
    except ValueError:
        raise ParameterError(
            parameter,
            f"{parameter} {value!r} is not an ISO date or timestamp, "
            "e.g. 2026-03-05 or 2026-03-05T10:00:00Z",
        )
    if moment.tzinfo is None:
        raise ParameterError(
            parameter, f"{parameter} {value!r} has no time zone; add Z or an offset like +01:00"
        )
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 and 9999-12-31T23:00-02:00 are not in UTC's
        raise outside
    if not EARLIEST <= moment <= LATEST:
        raise outside
    return moment


def metrics_query_parse(
    *,
    now: datetime,
    services: Sequence[str] = (),
    team: str | None = None,
    since: str | None = None,
    until: str | None = None,
    benchmark: str | int | None = None,
    kind: str | None = None,
    tier: str | None = None,
    target: str | None = None,
    industry: str | None = None,
    range: str | None = None,  # noqa: A002 - the query parameter's name
    end: str | None = None,
    start: str | None = None,
    rule_window: bool = True,
) -> MetricsQuery:
    """Check and resolve request parameters; ParameterError names the first bad one.

    Window: `since`/`until` when either is given (`since` defaults to the 12 weeks before
    `until`, `until` to `now`: CONTRACT §3); else the dashboards' rule (dora.window): `range`,
    `end`, `start` in the scope's time zone (`scope.scope_zone`), by default the last 12
    complete ISO weeks (API_DEFAULT_RANGE: CONTRACT §3's "12 weeks before now", as whole weeks;
    the pages default to 4). rule_window=False for a page that resolves its own window (the rule's,
    from its own query string) after the scope: the 12 weeks before `now` stand in.
    Services may be repeated or comma-separated. Default benchmark: 2025 when DORA's published
    Quick Check file is found, else 2024 (`benchmarks.default_benchmark`); 2025 without the file is
    a ParameterError saying where to put it. Default industry: the scope's (its team's, else the
    organisation's, else "all": `scope.scope_resolve`).
    """
    names = [name.strip() for item in services for name in str(item).split(",") if name.strip()]
    explicit = bool(since or until)
    if explicit and (range or end or start):
        raise ParameterError(
            "range", "name the window either by since/until or by range/end/start, not both"
        )
    window_end = moment_parse(until, "until") if until else now
    window_start = moment_parse(since, "since") if since else window_end - DEFAULT_WINDOW
    if not window_start < window_end:
        raise ParameterError(
            "since", f"since ({iso(window_start)}) must be before until ({iso(window_end)})"
        )
    year = benchmarks.default_benchmark()
    if benchmark not in (None, ""):
        try:
            year = int(benchmark)
        except (TypeError, ValueError):
            year = -1
        if year not in BENCHMARK_YEARS:
            raise ParameterError(
                "benchmark",
                f"benchmark {benchmark!r} must be one of {', '.join(map(str, BENCHMARK_YEARS))}",
            )
    try:
        benchmarks.benchmark_check(year)
    except benchmarks.BenchmarkUnavailable as exc:
        raise ParameterError("benchmark", str(exc))
    known = benchmarks.industry_keys()
    if industry not in (None, "") and not known:
        raise ParameterError("industry", f"industry {industry!r}: {benchmarks.missing_text()}")
    if industry not in (None, "") and industry not in known:
        raise ParameterError("industry", f"industry {industry!r} must be one of {', '.join(known)}")
    kind = (kind or "").strip() or None
    if kind is not None and kind not in KINDS:
        raise ParameterError("kind", f"kind {kind!r} must be one of {', '.join(KINDS)}")
    try:
        scope = scope_resolve(
            services=names,
            team=team or None,
            kind=None if kind == "all" else kind,
            tier=tier or None,
            target=target or None,
        )
    except ScopeError as exc:
        raise ParameterError(exc.parameter, str(exc))
    if not explicit and rule_window:
        try:
            window = window_parse(
                now=now,
                tz=scope_zone(scope),
                range=range,
                end=end,
                start=start,
                default_range=API_DEFAULT_RANGE,
            )
        except WindowError as exc:
            raise ParameterError(exc.parameter, str(exc))
        window_start, window_end = window.since, window.until
    return MetricsQuery(
        scope=scope,
        since=window_start,
        until=window_end,
        benchmark=year,
        industry=industry or scope.industry,
    )
