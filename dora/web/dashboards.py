"""Dashboard pages: organisation overview, team and service weekly views, explain (items).

Every page takes its scope and window from the query string (shareable URLs), checks it against
`dora.web.access`, reads one MetricsComputation and renders what `dora.reads.dashboards` builds from
it.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pandas as pd
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from dora import item_lists
from dora.benchmarks import available_years
from dora.db_router import replica_reads
from dora.metrics.frames import iso
from dora.metrics.levels import has_tiers
from dora.out_of_band import service_out_of_band
from dora.reads import charts
from dora.reads import dashboards as dash
from dora.reads import figures as dash_fig
from dora.reads import page_reads as dash_reads
from dora.reads import weeks as dash_weeks
from dora.reads.links import explain_url
from dora.reads.report import MetricsComputation
from dora.reads.report_items import ITEMS, METRIC_NAMES, frame_records
from dora.reads.report_query import MetricsQuery, ParameterError, metrics_query_parse, moment_parse
from dora.reads.scope import ORGANISATION_TIMEZONE, Scope, scope_zone
from dora.reads.value_stream import change_links
from dora.templatetags.units import shorten_text
from dora.units import duration_human
from dora.web.access import Access, dashboard_view, service_required, team_required
from dora.web.kinds import kind_control, kind_params, kind_split, window_and_kind
from dora.web.navigation import breadcrumbs, crumb
from dora.web.snapshots import page_snapshot
from dora.web.targets import cards_with_targets, page_frames, targets_context
from dora.window import (
    RANGE_LABELS,
    RANGES,
    Window,
    WindowError,
    last_complete_day,
    local_midnight,
    window_parse,
    zone_check,
)

EXPLAIN_PAGE_SIZE = 100
# Frames of the weekly view, read at once (dora.reads.report.MetricsComputation.prefetch).
WEEKLY_FRAMES = (
    "stream_frames",
    "arrivals",
    "rollouts",
    "incidents",
    "failure_links",
    "first_rollout_at",
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


# ---------------------------------------------------------------------------------------------
# Organisation overview
# ---------------------------------------------------------------------------------------------


@require_GET
@dashboard_view
@replica_reads
def overview(request: HttpRequest) -> HttpResponse:
    """Every visible team as a row of the five figures against the previous period."""
    access: Access = request.access  # type: ignore[attr-defined]
    now = timezone.now()
    try:
        window = window_of_request(request, tz=ORGANISATION_TIMEZONE, now=now)
        query = metrics_query_parse(
            now=now,
            benchmark=_benchmark(request),
            services=[],
            kind=request.GET.get("kind"),
            rule_window=False,
        )
    except ParameterError as exc:
        return _bad_request(request, exc)
    benchmark = query.benchmark
    kind = query.scope.kind
    context: dict[str, Any] = {
        "window": window,
        "previous_window": window.previous(),
        "since": window.since,
        "until": window.until,
        "benchmark": benchmark,
        "teams": [],
        "charts": [],
        **_page_links(request, benchmark),
        **window_control(request, window),
        **kind_control(request, kind),
    }
    scope = access.visible_scope()
    if scope is None:
        return render(request, "dora/overview.html", context)
    scope = replace(scope, kind=kind)
    context.update(
        page_snapshot(
            request,
            "overview",
            lambda: _overview_figures(
                access,
                scope,
                window,
                benchmark,
                now,
                organisation=query.scope.industry,
                shown_benchmark=benchmark if _benchmark(request) else None,
            ),
            window=window,
        )
    )
    return render(request, "dora/overview.html", context)


def _overview_figures(
    access: Access,
    scope: Scope,
    window: Window,
    benchmark: int,
    now: datetime,
    *,
    organisation: str,
    shown_benchmark: int | None = None,
) -> dict[str, Any]:
    """The overview's team rows, level distribution and trends (kept as a snapshot);
    `organisation` is the organisation's 2025 industry (teams without their own take it).

    `window` is in the organisation's time zone; each team's row covers the same days in the
    team's own zone (its team page's figures), each service's level its team's. A scope of one
    kind (`scope.kind`) keeps it in every link; a scope of both splits the window's figures by
    kind (`kind_split`), from the same frames."""
    context: dict[str, Any] = {}
    since, until = window.since, window.until
    previous = window.previous()
    trend_first, trend_last = window.weeks_containing_end(dash.ORG_TREND_WEEKS)
    trend_start = local_midnight(trend_first, window.tz)
    trend_end = local_midnight(trend_last + timedelta(days=1), window.tz)
    # Every zone's midnights lie within a day of UTC's: read a day more on each side.
    read_from = min(previous.since, trend_start) - timedelta(days=1)
    read_until = max(until, trend_end) + timedelta(days=1)
    c = MetricsComputation(
        MetricsQuery(scope=scope, since=read_from, until=read_until, benchmark=benchmark), now=now
    )
    # The headlines need no arrival's description or rollout columns (arrival_rows).
    c.prefetch(("arrival_rows", "rollouts"))
    rollouts, arrivals, incidents = c.rollouts, c.arrival_rows, dash.incidents_for_levels(c)
    services = dash_reads.services_of(scope)
    first = dash_reads.first_rollouts_by_service(scope)

    shown, groups = dash.team_groups(
        services, first, access.team_allowed, organisation=organisation
    )
    team_common = {**groups, "now": now, "benchmark": benchmark, "incidents": incidents}
    currents = dash.zoned_headlines(rollouts, arrivals, window=window, **team_common)
    previouses = dash.zoned_headlines(rollouts, arrivals, window=previous, **team_common)
    rows = []
    for team, members in shown:
        names = [s["name"] for s in members]
        current, previous = currents[team], previouses[team]
        kinded = kind_params(scope.kind)
        scope_params = {"team": team, **kinded} if team else {"services": names, **kinded}
        cells = []
        pairs = zip(current.figures, previous.figures, strict=True)
        if not has_tiers(benchmark):  # 2025: DORA's order, throughput then instability
            order = [f.key for _, figures in dash_fig.grouped(current.figures) for f in figures]
            pairs = sorted(pairs, key=lambda pair: order.index(pair[0].key))
        for now_figure, then_figure in pairs:
            cells.append(
                {
                    "figure": now_figure,
                    "previous": then_figure,
                    "change": dash_weeks.compare(now_figure.key, now_figure, then_figure),
                    "url": explain_url(
                        now_figure.key, scope=scope_params, window=window, benchmark=benchmark
                    ),
                }
            )
        rows.append(
            {
                "name": team or "Without a team",
                "team": team,
                "url": page_url("dashboard-team", {"team": team, **kinded}, window, shown_benchmark)
                if team
                else None,
                "services": names,
                "infra": sum(s["kind"] == "infra" for s in members),
                "level": current.level,
                "nearest": current.nearest,
                "why_url": (
                    f"{reverse('dashboard-team')}?"
                    f"{urlencode({'team': team, **kinded, 'benchmark': benchmark})}#overall-level"
                )
                if team
                else None,
                "placement": current.placement,
                "cells": cells,
            }
        )
    context["teams"] = rows
    if scope.kind is None:
        context["kind_split"] = _kind_split(
            access,
            [s for s in services if s["name"] in groups["groups"]],
            first,
            rollouts,
            arrivals,
            window=window,
            now=now,
            benchmark=benchmark,
            incidents=incidents,
            organisation=organisation,
            shown_benchmark=shown_benchmark,
        )
    context["column_groups"] = (
        [(label, len(figures)) for label, figures in dash_fig.grouped(current.figures)]
        if rows and not has_tiers(benchmark)
        else []
    )

    levels: Counter[str] = Counter()
    per_service = dash.zoned_headlines(
        rollouts,
        arrivals,
        groups={s["name"]: s["name"] for s in services},
        window=window,
        now=now,
        benchmark=benchmark,
        tz={s["name"]: s["team__timezone"] or "UTC" for s in services},
        first_rollout_at=first,
        incidents=incidents,
        industry={s["name"]: s["team__industry"] or organisation for s in services},
    )
    tiers = has_tiers(benchmark)
    for result in per_service.values():
        if tiers:
            levels[result.level or "insufficient"] += 1
        else:
            levels[charts.percentile_band(result.overall_percentile)] += 1
    pooled = functools.partial(
        dash.headline,
        rollouts,
        arrivals,
        now=now,
        tz=window.tz,
        benchmark=benchmark,
        first_rollout_at=min(first.values()) if first else None,
    )
    org = pooled(since=trend_start, until=trend_end, incidents=incidents)
    if not tiers:  # the 2025 placement of every visible team's services pooled, over the window
        context["org_placement"] = pooled(since=since, until=until, industry=organisation).placement
    weeks = dash_weeks.week_starts(trend_end, dash.ORG_TREND_WEEKS, window.tz)
    trends = dash_weeks.trend_figures(
        dash_weeks.weekly(org, weeks=weeks, tz=window.tz),
        ("deployment_frequency", "lead_time", "change_failure_rate", "recovery_time"),
    )
    context["charts"] = [
        _chart(
            "levels",
            charts.level_distribution_figure(levels, bands=not tiers, year=benchmark),
            "Bar chart: number of services at each DORA level, and with insufficient data"
            if tiers
            else f"Bar chart: number of services per band of their {benchmark} percentile, and "
            "with insufficient data",
        ),
        *[
            _chart(
                f"org-{key}",
                figure,
                f"Line chart over {dash.ORG_TREND_WEEKS} weeks: {dash_fig.LABELS[key].lower()} per "
                "week with a 95% interval band",
            )
            for key, figure in trends.items()
        ],
    ]
    labels = charts.LEVEL_LABELS if tiers else charts.BAND_LABELS
    context["level_counts"] = [(labels[level], level, levels.get(level, 0)) for level in labels]
    context["trend_first"] = trend_first
    context["trend_last"] = trend_last
    return context


def _kind_split(
    access: Access,
    services: list[dict[str, Any]],
    first: dict[str, datetime],
    rollouts: pd.DataFrame,
    arrivals: pd.DataFrame,
    *,
    window: Window,
    benchmark: int,
    organisation: str,
    shown_benchmark: int | None,
    **common: Any,
) -> dict[str, Any] | None:
    """The window's five figures of the shown teams' apps and of their infra stacks, pooled in
    the organisation's time zone, from the overview's frames (one pass: `split_headlines`);
    None unless both kinds have services."""
    split = dash.kind_groups(services, first, tz=window.tz, organisation=organisation)
    if len(split["tz"]) < 2:
        return None
    headlines = dash.split_headlines(
        rollouts,
        arrivals,
        since=window.since,
        until=window.until,
        benchmark=benchmark,
        **split,
        **common,
    )

    def explain(key: str, kind: str) -> str | None:  # the organisation's items: leadership only
        if not access.everything:
            return None
        return explain_url(key, scope={"kind": kind}, window=window, benchmark=benchmark)

    return kind_split(
        headlines,
        services=Counter(split["groups"].values()),
        url=lambda kind: page_url("dashboard-overview", {"kind": kind}, window, shown_benchmark),
        explain=explain,
    )


# ---------------------------------------------------------------------------------------------
# Team and service weekly views
# ---------------------------------------------------------------------------------------------


def _weekly_context(
    *,
    scope: Scope,
    scope_params: dict[str, Any],
    window: Window,
    benchmark: int,
    now: datetime,
    repos: list[str],
) -> tuple[dict[str, Any], MetricsComputation, dict[str, Any]]:
    """What the team and service pages share: the window's headline figures, rollouts,
    failures, incidents and flow (read once), and the 12 whole local weeks ending with the
    window's last week, grouped by week for the trends and the week table. Also returns the
    window's computation and headline arguments, for figures the team page splits by service."""
    tz = window.tz
    first_day, last_day = window.weeks_containing_end(dash.WEEKS)
    start = local_midnight(first_day, tz)
    end = local_midnight(last_day + timedelta(days=1), tz)
    weeks = dash_weeks.week_starts(end, dash.WEEKS, tz)
    c = MetricsComputation(
        MetricsQuery(
            scope=scope,
            since=window.since,
            until=window.until,
            benchmark=benchmark,
            industry=scope.industry,
        ),
        now=now,
    )
    # The 12 weeks of the trends and the week table: their own rollouts and arrivals, which
    # also serve the window when they cover it (they end together, the weeks start first):
    # every frame read over a wider range is a superset of the window's (dora.reads.selectors).
    weekly_c = MetricsComputation(
        MetricsQuery(
            scope=scope, since=start, until=end, benchmark=benchmark, industry=scope.industry
        ),
        now=now,
    )
    weekly_c.prefetch(("rollouts", "arrivals"))
    if end == window.until and start <= window.since:
        c.__dict__.update(rollouts=weekly_c.rollouts, arrivals=weekly_c.arrivals)
    c.prefetch((*WEEKLY_FRAMES, "integration_frames") if repos else WEEKLY_FRAMES)
    args = {"since": window.since, "until": window.until, "now": now, "tz": tz}
    args["benchmark"] = benchmark
    industry = scope.industry
    common = {"first_rollout_at": c.first_rollout_at, "industry": industry}
    result = dash.headline(
        c.rollouts, c.arrivals, incidents=dash.incidents_for_levels(c), **common, **args
    )
    twelve = dash.headline(
        weekly_c.rollouts,
        weekly_c.arrivals,
        incidents=dash.incidents_for_levels(weekly_c),
        **common,
        **{**args, "since": start, "until": end},
    )
    series = dash_weeks.weekly(twelve, weeks=weeks, tz=tz)
    rows = dash_weeks.week_rows(twelve, series)

    def week_window(monday: date) -> Window:
        return replace(window, range="1w", first=monday, last=monday + timedelta(days=6))

    this_week, last_week = week_window(weeks[-1]), week_window(weeks[-2])
    twelve_weeks = replace(window, range="12w", first=first_day, last=last_day)
    week_rows = [
        {
            "row": row,
            "this_week_url": explain_url(
                row.key, scope=scope_params, window=this_week, benchmark=benchmark
            ),
            "last_week_url": explain_url(
                row.key, scope=scope_params, window=last_week, benchmark=benchmark
            ),
            "window_url": explain_url(
                row.key, scope=scope_params, window=twelve_weeks, benchmark=benchmark
            ),
        }
        for row in rows
    ]
    trends = dash_weeks.trend_figures(series)
    stream = c.stream
    figures_charts = [
        _chart(
            f"trend-{key}",
            figure,
            f"Line chart over {dash.WEEKS} weeks: {dash_fig.LABELS[key].lower()} per week with a "
            "95% interval band",
        )
        for key, figure in trends.items()
    ]
    lead_items = twelve.lead_time.items
    lead_seconds = lead_items["lead_time_seconds"] if len(lead_items) else pd.Series([])
    distribution = _chart(
        "lead-time-distribution",
        charts.lead_time_distribution_figure(lead_seconds),
        "Bar chart: changes per lead-time range over the 12 weeks",
    )
    calendar = _chart(
        "deploy-calendar",
        charts.deploy_calendar_figure(
            dash_reads.deploy_days(twelve, tz), first_monday=weeks[0], weeks=dash.WEEKS
        ),
        "Calendar heatmap: production rollouts per day, one column per week",
    )
    stream_chart = _chart(
        "value-stream",
        charts.value_stream_figure(stream.stages),
        "Stacked bar chart: median hours per value-stream stage, split into process and wait",
    )
    integration = dash_reads.integration(c, tz) if repos else None
    flow = stream.flow_efficiency
    cards = [
        {
            "figure": figure,
            "url": explain_url(figure.key, scope=scope_params, window=window, benchmark=benchmark),
        }
        for figure in result.figures
    ]
    cards_by_key = {card["figure"].key: card for card in cards}
    context = {
        "since": window.since,
        "until": window.until,
        "window": window,
        "weeks": weeks,
        "this_week": weeks[-1],
        "last_week": weeks[-2],
        "last_week_end": weeks[-1] - timedelta(days=1),
        "first_day": weeks[0],
        "last_day": weeks[-1] + timedelta(days=6),
        "benchmark": benchmark,
        "timezone": tz,
        "level": result.level,
        "nearest": result.nearest,
        "placement": result.placement,
        "figures": cards,
        # 2025: the cards in DORA's two groups, throughput and instability.
        "figure_groups": []
        if has_tiers(benchmark)
        else [
            (label, [cards_by_key[f.key] for f in figures])
            for label, figures in dash_fig.grouped(result.figures)
        ],
        "rows": week_rows,
        "trend_charts": figures_charts,
        "distribution_chart": distribution,
        "calendar_chart": calendar,
        "stream_chart": stream_chart,
        "stream": {
            "flow_efficiency": dash_fig.percent_text(flow),
            "bottleneck": stream.bottleneck,
            "stages": [
                {
                    "name": r.name,
                    "n": int(r.n),
                    "p50": dash_fig.hours_text(None if pd.isna(r.p50_seconds) else r.p50_seconds),
                    "p90": dash_fig.hours_text(None if pd.isna(r.p90_seconds) else r.p90_seconds),
                }
                for r in stream.stages.itertuples(index=False)
            ],
            "url": explain_url(
                "value_stream", scope=scope_params, window=window, benchmark=benchmark
            ),
        },
        "integration": _integration_context(integration, repos),
        "rollouts": dash_reads.recent_rollouts(c),
        "rollouts_url": explain_url(
            "deployment_frequency", scope=scope_params, window=window, benchmark=benchmark
        ),
        "failures": dash_reads.failures(c),
        "failures_url": explain_url(
            "change_failure_rate", scope=scope_params, window=window, benchmark=benchmark
        ),
        "incidents": dash.incidents(c),
        "incidents_url": explain_url(
            "time_to_restore", scope=scope_params, window=window, benchmark=benchmark
        ),
    }
    return context, c, args


def _integration_context(result: Any, repos: list[str]) -> dict[str, Any] | None:
    if result is None:
        return None
    targets = result.targets_met
    return {
        "repos": repos,
        "developer_days": result.developer_days,
        "daily_rate": dash_fig.percent_text(result.daily_integration.rate),
        "daily_ci": (
            "–".join(dash_fig.percent_text(v) for v in result.daily_integration.ci95)
            if result.daily_integration.ci95
            else ""
        ),
        "merges": result.merges,
        "merges_per_day": (
            "–"
            if result.merges_per_developer_day is None
            else f"{result.merges_per_developer_day:.2f}"
        ),
        "branch_p50": dash_fig.hours_text(result.branch_lifetime.p50),
        "branch_p90": dash_fig.hours_text(result.branch_lifetime.p90),
        "branch_n": result.branch_lifetime.n,
        "open_branches": result.open_branches,
        "open_max": max(result.open_branches.values(), default=0),
        "targets": targets,
    }


@require_GET
@dashboard_view
@replica_reads
def team(request: HttpRequest) -> HttpResponse:
    """A team's week: this week vs last week vs 12 weeks, trends, rollouts, failures, flow."""
    access: Access = request.access  # type: ignore[attr-defined]
    name = request.GET.get("team", "")
    if not name:
        return _bad_request(
            request, ParameterError("team", "team is required, e.g. ?team=payments")
        )
    team_required(access, name)
    now = timezone.now()
    try:
        query = metrics_query_parse(
            now=now,
            team=name,
            benchmark=_benchmark(request),
            kind=request.GET.get("kind"),
            rule_window=False,
        )
        window = window_of_request(request, tz=query.scope.timezone, now=now)
    except ParameterError as exc:
        if exc.parameter == "team":
            raise Http404(str(exc))
        return _bad_request(request, exc)
    context = {
        # The same for everyone team_required lets through: one snapshot, prepared by beat.
        **page_snapshot(
            request,
            "team",
            lambda: _team_figures(name, query, window, now),
            shared=True,
            window=window,
        ),
        **_page_links(request, query.benchmark),
        "crumbs": breadcrumbs(access, team=name, params=window_and_kind(window, query.scope.kind)),
        **window_control(request, window),
        **kind_control(request, query.scope.kind),
        "overview_url": page_url("dashboard-overview", kind_params(query.scope.kind), window, None),
    }
    return render(request, "dora/team.html", context)


def _team_figures(name: str, query: MetricsQuery, window: Window, now: datetime) -> dict[str, Any]:
    """A team's window and weeks (kept as a snapshot)."""
    services = dash_reads.services_of(query.scope)
    repos = sorted({repo for s in services for repo in (s["repos"] or [])})
    context, c, args = _weekly_context(
        scope=query.scope,
        scope_params={"team": name, **kind_params(query.scope.kind)},
        window=window,
        benchmark=query.benchmark,
        now=now,
        repos=repos,
    )
    first = dash_reads.first_rollouts_by_service(query.scope)
    breakdown = dash_reads.service_breakdown(c, args, first)
    known = {row["name"] for row in breakdown}
    for service in services:
        if service["name"] not in known:
            breakdown.append({"name": service["name"], "figures": [], "level": None})
    kinds = {s["name"]: s["kind"] for s in services}
    for row in breakdown:
        row["kind"] = kinds.get(row["name"], "")
        row["url"] = page_url(
            "dashboard-service", {"service": row["name"]}, window, query.benchmark
        )
        row["why_url"] = f"{row['url']}#overall-level"
    # Targets: the team's own beside its figures (not when a kind narrows the figures: a team
    # target bounds the whole team), and every target of the team and its services listed.
    known: dict[tuple[str, str], dict[str, Any]] = {
        ("service", service): {"first_rollout_at": at} for service, at in first.items()
    }
    if query.scope.kind is None:  # the page's scope is the team's targets' scope
        known[("team", name)] = page_frames(c)
    rows = targets_context(
        now=now,
        team=name,
        service_urls={row["name"]: row["url"] for row in breakdown},
        known=known,
    )
    if query.scope.kind is None:
        cards_with_targets(context["figures"], rows, subject="team", name=name)
    context.update(
        {
            "title": name,
            "kind": "team",
            "team": name,
            "services": sorted(breakdown, key=lambda r: r["name"]),
            "target_rows": rows,
        }
    )
    return context


@require_GET
@dashboard_view
@replica_reads
def service(request: HttpRequest) -> HttpResponse:
    """One service's week, plus its rollouts per environment and target."""
    access: Access = request.access  # type: ignore[attr-defined]
    name = request.GET.get("service", "")
    if not name:
        return _bad_request(
            request, ParameterError("service", "service is required, e.g. ?service=checkout")
        )
    service_required(access, name)
    now = timezone.now()
    try:
        query = metrics_query_parse(
            now=now, services=[name], benchmark=_benchmark(request), rule_window=False
        )
        tz = dash_reads.services_of(query.scope)[0]["team__timezone"] or ORGANISATION_TIMEZONE
        window = window_of_request(request, tz=tz, now=now)
    except ParameterError as exc:
        if exc.parameter == "service":
            raise Http404(str(exc))
        return _bad_request(request, exc)
    context = {
        **page_snapshot(
            request,
            "service",
            lambda: _service_figures(access, name, query, window, now),
            window=window,
        ),
        **_page_links(request, query.benchmark),
        **window_control(request, window),
        "overview_url": page_url("dashboard-overview", {}, window, None),
    }
    context["crumbs"] = breadcrumbs(
        access,
        team=context.get("team"),
        service=name,
        params=window.params() if window else None,
    )
    return render(request, "dora/service.html", context)


def _service_figures(
    access: Access, name: str, query: MetricsQuery, window: Window, now: datetime
) -> dict[str, Any]:
    """One service's window and weeks, and its rollouts per target (kept as a snapshot)."""
    info = dash_reads.services_of(query.scope)[0]
    scope = Scope(services=(name,), timezone=window.tz, industry=query.industry)
    context, c, _ = _weekly_context(
        scope=scope,
        scope_params={"services": [name]},
        window=window,
        benchmark=query.benchmark,
        now=now,
        repos=list(info["repos"] or []),
    )
    targets = dash_reads.deployments_by_target(name, since=context["since"], until=context["until"])
    target_rows = targets_context(now=now, service=name, known={("service", name): page_frames(c)})
    cards_with_targets(context["figures"], target_rows, subject="service", name=name)
    context.update(
        {
            "target_rows": target_rows,
            "title": name,
            "kind": "service",
            "service": info,
            "team": info["team__name"],
            "team_url": (
                page_url("dashboard-team", {"team": info["team__name"]}, window, query.benchmark)
                if info["team__name"] and access.team_allowed(info["team__name"])
                else None
            ),
            "targets": dash_reads.table_rows(targets),
            "out_of_band": service_out_of_band(
                name, since=context["since"], until=context["until"], now=now
            ),
            "targets_chart": _chart(
                "targets",
                charts.rollouts_by_target_figure(targets),
                "Grouped bar chart: successful deployments per environment and target",
            )
            if len(targets)
            else None,
        }
    )
    return context


# ---------------------------------------------------------------------------------------------
# Explain: the items behind a figure
# ---------------------------------------------------------------------------------------------


# Internal ids: the rows name their change (repo#number), version and service instead.
HIDDEN_COLUMNS = frozenset({"change_id", "rollout_id", "commit_sha", "by_rollout_id", "change_url"})
# Free text wraps; everything else (times, versions, numbers) stays on one line.
WRAPPED_COLUMNS = frozenset(
    {"title", "why", "causes", "detail", "change", "last_action", "deployment_id"}
)
# Columns a first click sorts A to Z; any other (times, durations, flags, counts) sorts the
# largest, newest or true first.
TEXT_COLUMNS = frozenset(
    {
        "change",
        "title",
        "service",
        "environment",
        "target",
        "kind",
        "version",
        "sha",
        "stage",
        "status",
        "severity",
        "cause",
        "causes",
        "failure",
        "why",
        "last_action",
    }
)
HEADERS = {
    "merged_at": "merged",
    "restored_at": "restored",
    "finished_at": "finished",
    "estate_reached_at": "all targets reached",
    "last_success_at": "last success",
    "released_at": "released",
    "impact_start": "impact start",
    "gap_seconds": "gap before",
    "age_seconds": "age",
}


def _explain_summary(name: str, c: MetricsComputation) -> dash_fig.Figure | None:
    """The headline figure the items add up to, for the five DORA figures."""
    figures = {
        "deployment_frequency": lambda: dash_fig.frequency_figure(c.frequency),
        "lead_time": lambda: dash_fig.lead_time_figure(c.lead_time),
        "change_failure_rate": lambda: dash_fig.failure_figure(c.change_failure),
        "recovery_time": lambda: dash_fig.recovery_figure(c.recovery),
        "rework_rate": lambda: dash_fig.rework_figure(c.rework),
    }
    if name not in figures:
        return None
    figure = figures[name]()
    placements = c.placements  # 2025: the badge is the figure's placement, as on the team page
    if placements is None:
        return figure
    return dash_fig.placed_figure(
        figure, c.percentile(dash_fig.HEADLINE_METRICS[name]), placements.industry.name
    )


def _header(column: str) -> str:
    """Durations are shown in minutes, hours or days, so their header drops "seconds"."""
    return HEADERS.get(column) or column.removesuffix("_seconds").replace("_", " ")


def _cell(column: str, value: Any, tz: str = "UTC") -> str:
    """One cell of an explain list as text; moments in the page's time zone `tz` ("Wed 7 Oct
    10:52", the day style of the page's head)."""
    if value is None:
        return ""
    if column == "sha" and isinstance(value, str):
        return value[:10]
    if column == "change" and isinstance(value, str) and "#" not in value:
        return value[:10]  # a direct push: its sha
    if column == "title" and isinstance(value, str):
        return shorten_text(value, 70)  # at a word, never inside one
    if isinstance(value, bool):
        return "yes" if value else ""
    if column.endswith("_seconds") and isinstance(value, int | float):
        return duration_human(float(value))
    if isinstance(value, str) and len(value) >= 20 and value[4] == "-" and value.endswith("Z"):
        moment = datetime.fromisoformat(value).astimezone(ZoneInfo(tz))
        return f"{moment:%a} {moment.day} {moment:%b %H:%M}"
    if isinstance(value, float):
        return f"{value:.4g}"
    if column == "causes" and isinstance(value, str):
        return value.replace(",", ", ")
    return str(value)


def _blank(value: Any) -> bool:
    return value is None or value is False or value == ""


def _with_change_links(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Every list with changes names each one (`repo#number`) and carries its page's URL."""
    if "change_id" not in frame.columns or not len(frame):
        return frame
    links = change_links(frame["change_id"].dropna())
    link = frame["change_id"].map(lambda i: links.get(int(i)) if pd.notna(i) else None)
    label = link.map(lambda pair: pair[0] if pair else None)
    frame = frame.assign(change_url=link.map(lambda pair: (pair[1] or None) if pair else None))
    if "change" not in frame.columns:
        frame = frame.assign(change=label)
        columns.insert(0, "change")
    columns.append("change_url")
    return frame


def _explain_figures(name: str, query: MetricsQuery, now: datetime) -> dict[str, Any]:
    """The items behind figure `name`, as records, and the figure (kept as a snapshot)."""
    build, columns = ITEMS[name]
    c = MetricsComputation(query, now=now)
    frame = build(c)
    columns = list(columns)
    if "version" in frame.columns and "version" not in columns and "service" in columns:
        columns.insert(columns.index("service") + 1, "version")  # the rollout that shipped it
    frame = _with_change_links(frame, columns)
    return {
        "columns": columns,
        "records": frame_records(frame, columns),
        "summary": _explain_summary(name, c),
        "since": query.since,
        "until": query.until,
    }


def _sort_headers(
    columns: list[str], keys: tuple[str, ...], spec: item_lists.ListSpec, params: Any
) -> list[dict[str, Any]]:
    """Each column's header: its label, the link that sorts by it (or reverses the order when
    it already leads), and the arrow and aria-sort of the current order."""
    first = keys[0] if keys else ""
    headers = []
    for column in columns:
        key = item_lists.sort_key_of(column, spec)
        current = first.removeprefix("-") == key
        descending = first.startswith("-")
        if current:
            target = key if descending else f"-{key}"
        else:
            target = key if column in TEXT_COLUMNS else f"-{key}"
        link = params.copy()
        link["sort"] = target
        headers.append(
            {
                "label": _header(column),
                "url": f"?{link.urlencode()}",
                "arrow": ("▼" if descending else "▲") if current else "",
                "aria_sort": ("descending" if descending else "ascending") if current else "",
                "title": f"sort by {_header(column)}, "
                + ("smallest first" if target == key else "largest first"),
            }
        )
    return headers


def _explain_controls(
    records: list[dict[str, Any]],
    shown: list[str],
    spec: item_lists.ListSpec,
    keys: tuple[str, ...],
    active: dict[str, str],
    params: Any,
) -> dict[str, Any]:
    """The filter form (GET, so it works without JavaScript and stays in the URL), the one-click
    orders and the links that drop one filter."""
    filters = []
    for flt, choices in item_lists.filter_choices(records, spec, shown):
        filters.append(
            {
                "param": flt.param,
                "label": flt.label,
                "flag": flt.kind == "flag",
                "choices": choices,
                "value": active.get(flt.param, ""),
            }
        )
    filter_params = {f["param"] for f in filters} | {"page"}
    hidden = [(k, v) for k, values in params.lists() if k not in filter_params for v in values]
    quick = []
    for label, value in spec.quick:
        link = params.copy()
        link["sort"] = value
        current = keys[:1] == (value,)
        quick.append({"label": label, "url": f"?{link.urlencode()}", "current": current})
    labels = {f["param"]: f["label"] for f in filters}
    clear = []
    for param, value in active.items():
        link = params.copy()
        link.pop(param, None)
        label = labels.get(param, param)
        text = label if value == "1" else f"{label}: {value}"
        clear.append({"text": text, "url": f"?{link.urlencode()}"})
    return {"filters": filters, "hidden": hidden, "quick": quick, "clear": clear}


@require_GET
@dashboard_view
@replica_reads
def explain(request: HttpRequest, name: str) -> HttpResponse:
    """The items behind one figure for a scope and window, with the definition in words.

    The list is the figure's whole list, filtered (`failed=1`, `of_service=`, `cause=`,
    `stage=`: dora.item_lists), sorted (`sort=-duration`; newest first, or failed first, by
    default) and paged; the snapshot keeps the whole list and its key holds the whole query."""
    access: Access = request.access  # type: ignore[attr-defined]
    if name not in METRIC_NAMES:
        raise Http404(f"unknown figure {name!r}")
    team_name = request.GET.get("team") or None
    services = request.GET.getlist("service")
    names = [s.strip() for item in services for s in item.split(",") if s.strip()]
    if team_name:
        team_required(access, team_name)
    for service_name in names:
        service_required(access, service_name)
    if not team_name and not names and not access.everything:
        team_required(access, "(the whole organisation)")
    now = timezone.now()
    explicit = not request.GET.get("range") and (
        request.GET.get("since") or request.GET.get("until")
    )
    window: Window | None = None
    try:
        query = metrics_query_parse(
            now=now,
            team=team_name,
            services=names,
            since=request.GET.get("since") if explicit else None,
            until=request.GET.get("until") if explicit else None,
            benchmark=_benchmark(request),
            kind=request.GET.get("kind"),
            rule_window=False,
        )
        if not explicit:  # the window rule, in the scope's time zone
            window = window_of_request(request, tz=scope_zone(query.scope), now=now)
            query = replace(query, since=window.since, until=window.until)
    except ParameterError as exc:
        if exc.parameter in ("team", "service"):
            raise Http404(str(exc))
        return _bad_request(request, exc)
    figures = page_snapshot(
        request,
        "explain",
        lambda: _explain_figures(name, query, now),
        shared=True,
        window=window,
    )
    columns, records, summary = figures["columns"], figures["records"], figures["summary"]
    # Columns with nothing to say in this list (no value, or never true) are left out.
    shown = [
        column
        for column in columns
        if column not in HIDDEN_COLUMNS and any(not _blank(r.get(column)) for r in records)
    ] or [column for column in columns if column not in HIDDEN_COLUMNS]
    spec = item_lists.spec_of(name)
    if spec.duration in shown and shown[0] == "change":  # the answer next to what it is about
        shown.remove(spec.duration)
        shown.insert(1, spec.duration)
    keys = item_lists.sort_parse(request.GET.get("sort"), spec, shown)
    active = item_lists.filters_active(spec, request.GET)
    listed = item_lists.items_sorted(item_lists.items_filtered(records, spec, active), keys, spec)
    paginator = Paginator(listed, EXPLAIN_PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    params = request.GET.copy()
    params.pop("page", None)
    for key in [k for k, values in params.lists() if not any(values)]:
        params.pop(key)  # a filter form's "all" (of_service=): not carried into the links
    api_params = params.copy()
    for param in ("sort", *(f.param for f in spec.filters)):
        api_params.pop(param, None)
    if window is not None:  # the page's window, named: the API's own default is 12 weeks
        for param in WINDOW_PARAMS:
            api_params.pop(param, None)
        for param, value in window.params().items():
            api_params[param] = value
    kind = query.scope.kind
    scope_text = (
        f"team {team_name}"
        if team_name
        else (f"service {', '.join(names)}" if names else "the whole organisation")
    ) + (f", {dash.KIND_LABELS[kind].lower()} only" if kind else "")
    links = window_and_kind(window, kind)
    label = dash_fig.LABELS.get(name, name.replace("_", " ").capitalize())
    if len(names) > 1:
        crumbs = breadcrumbs(
            access,
            trail=(crumb(scope_text), crumb(label)),
            params=links,
        )
    else:
        crumbs = breadcrumbs(
            access,
            team=team_name,
            service=names[0] if names else None,
            trail=(crumb(label),),
            params=links,
        )
    back_url = None
    back_params = (
        {"team": team_name, **kind_params(kind)}
        if team_name
        else {"service": names[0]}
        if names
        else {}
    )
    back_view = "dashboard-team" if team_name else "dashboard-service"
    if team_name or len(names) == 1:
        back_url = (
            page_url(back_view, back_params, window, query.benchmark)
            if window
            else f"{reverse(back_view)}?{urlencode(back_params)}"
        )
    stated = f"{iso(query.since)} – {iso(query.until)} (explicit since/until, UTC)"
    times_tz = window.tz if window else "UTC"
    return render(
        request,
        "dora/explain.html",
        {
            "name": name,
            "label": label,
            "definition": dash.DEFINITIONS.get(name, ""),
            "scope_text": scope_text,
            "since": figures["since"],
            "until": figures["until"],
            "benchmark": query.benchmark,
            "columns": _sort_headers(shown, keys, spec, params),
            "rows": [
                [
                    {
                        "text": _cell(column, r.get(column), times_tz),
                        "wrap": column in WRAPPED_COLUMNS,
                        "url": r.get("change_url") if column == "change" else None,
                        "num": column.endswith("_seconds"),
                    }
                    for column in shown
                ]
                for r in page.object_list
            ],
            "summary": summary,
            "times_tz": times_tz,
            "page": page,
            "count": len(records),
            "listed": len(listed),
            **_explain_controls(records, shown, spec, keys, active, params),
            "query_string": params.urlencode(),
            "api_url": f"{reverse('api-metric-items', args=[name])}?{api_params.urlencode()}",
            "back_url": back_url,
            "window_days": (query.until - query.since) / timedelta(days=1),
            "crumbs": crumbs,
            "window": window,
            "overview_url": page_url(
                "dashboard-overview", kind_params(kind), window, query.benchmark
            )
            if window
            else f"{reverse('dashboard-overview')}?{urlencode(kind_params(kind))}",
            **window_control(request, window, stated),
        },
    )
