"""What the dashboard pages share: the window and benchmark a request names, the window control,
the 400 page, chart and page links.

Every page takes its scope and window from the query string (shareable URLs), checks it against
`dora.web.access`, reads one MetricsComputation and renders what `dora.reads.dashboards` builds from
it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from dora.benchmarks import available_years
from dora.reads import charts
from dora.reads import weeks as dash_weeks
from dora.reads.report_query import ParameterError, moment_parse
from dora.window import (
    RANGE_LABELS,
    RANGES,
    Window,
    WindowError,
    last_complete_day,
    window_parse,
    zone_check,
)


def _bad_request(request: HttpRequest, exc: ParameterError) -> HttpResponse:
    return render(
        request,
        "dora/dashboard_error.html",
        {"message": str(exc), "parameter": exc.parameter},
        status=400,
    )


def _benchmark(request: HttpRequest) -> str | None:
    return request.GET.get("benchmark") or None


# The query parameters a window is named by (dora.window); `since`/`until` are the explicit
# moments the explain page and the API still take.
WINDOW_PARAMS = ("range", "end", "start", "since", "until", "page")


def page_url(view: str, params: dict[str, str], window: Window, benchmark: int | None) -> str:
    """A dashboard page (`view`) for `params`, carrying the window (and the benchmark year)."""
    query = {**params, **window.params()}
    if benchmark is not None:
        query["benchmark"] = str(benchmark)
    return f"{reverse(view)}?{urlencode(query)}"


def window_of_request(request: HttpRequest, *, tz: str, now: datetime) -> Window:
    """The window the query string names (dora.window), in time zone `tz`.

    Older links name moments instead (`since`, `until`): read as whole local days, `since`'s
    day to the day before `until` (a custom window), or with `until` alone the weeks ending
    at the local Monday on or before it (the team page's rule before windows)."""
    get = request.GET
    start, end, range_ = get.get("start"), get.get("end"), get.get("range")
    since, until = get.get("since"), get.get("until")
    if not (range_ or start or end) and (since or until):
        zone = ZoneInfo(zone_check(tz))
        last = (
            (moment_parse(until, "until").astimezone(zone) - timedelta(microseconds=1)).date()
            if until
            else None
        )
        if since:
            range_, start = "custom", moment_parse(since, "since").astimezone(zone).date()
            latest = last_complete_day(now, zone.key)
            end = min(last or latest, latest).isoformat()
            start = start.isoformat()
        elif until:
            monday = dash_weeks.local_monday(moment_parse(until, "until"), zone.key)
            end = (monday.astimezone(zone).date() - timedelta(days=1)).isoformat()
    try:
        return window_parse(now=now, tz=tz, range=range_, end=end, start=start)
    except WindowError as exc:
        raise ParameterError(exc.parameter, str(exc))


def window_control(request: HttpRequest, window: Window | None, stated: str = "") -> dict[str, Any]:
    """The shared range control (templates/dora/_window.html): the stated window, a link per
    range ending where this one ends, previous and next (none past the last complete week), and
    the custom dates form keeping the page's other parameters. `window` None: an explicit
    since/until (`stated` says it), which any range link replaces."""

    def url(target: Window | dict[str, str]) -> str:
        params = request.GET.copy()
        for name in WINDOW_PARAMS:
            params.pop(name, None)
        for name in [name for name, values in params.lists() if not any(values)]:
            params.pop(name)  # a filter form's "all" (empty) is not carried into the links
        for name, value in (target.params() if isinstance(target, Window) else target).items():
            params[name] = value
        return f"?{params.urlencode()}"

    end = window.last.isoformat() if window else ""
    ranges = []
    for name in RANGES:
        if name == "custom":
            continue
        target = {"range": name, **({"end": end} if end else {})}
        ranges.append(
            {
                "name": name,
                "label": RANGE_LABELS[name],
                "url": url(target),
                "current": window is not None and window.range == name,
            }
        )
    following = window.next() if window else None
    keep = [
        (name, value)
        for name, values in request.GET.lists()
        if name not in WINDOW_PARAMS
        for value in values
        if value
    ]
    return {
        "window_control": {
            "text": window.text if window else stated,
            "steps": window is not None,
            "ranges": ranges,
            "custom": window is None or window.range == "custom",
            "previous_url": url(window.previous()) if window else None,
            "next_url": url(following) if following else None,
            "start": window.first.isoformat() if window else "",
            "end": end,
            "latest": window.latest.isoformat() if window else "",
            "keep": keep,
        }
    }


def _chart(chart_id: str, figure: dict[str, Any], label: str) -> dict[str, Any]:
    """A chart for the template; one without data says so on its face (never a blank frame)."""
    return {"id": chart_id, "figure": charts.noted_when_empty(figure), "label": label}


def _page_links(request: HttpRequest, benchmark: int) -> dict[str, Any]:
    """The benchmark-year switcher: this URL with each year (2025 only with DORA's file)."""
    links = []
    for year in available_years():
        params = request.GET.copy()
        params["benchmark"] = str(year)
        links.append({"year": year, "url": f"?{params.urlencode()}", "current": year == benchmark})
    return {"benchmark_links": links}
