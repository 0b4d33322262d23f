"""The organisation overview page: team rows, level distribution and trends."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pandas as pd
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from dora.db_router import replica_reads
from dora.metrics.levels import has_tiers
from dora.reads import charts
from dora.reads import dashboards as dash
from dora.reads import figures as dash_fig
from dora.reads import page_reads as dash_reads
from dora.reads import weeks as dash_weeks
from dora.reads.links import explain_url
from dora.reads.report import MetricsComputation
from dora.reads.report_query import MetricsQuery, ParameterError, metrics_query_parse
from dora.reads.scope import ORGANISATION_TIMEZONE, Scope
from dora.web.access import Access, dashboard_view
from dora.web.kinds import kind_control, kind_params, kind_split
from dora.web.page_parts import (
    _bad_request,
    _benchmark,
    _chart,
    _page_links,
    page_url,
    window_control,
    window_of_request,
)
from dora.web.snapshots import page_snapshot
from dora.window import (
    Window,
    local_midnight,
)

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
    # The headlines need no arrival's description, rollout columns or earlier arrivals.
    c.prefetch(("headline_arrival_rows", "rollouts"))
    rollouts, arrivals = c.rollouts, c.headline_arrival_rows
    incidents = dash.incidents_for_levels(c)
    services = dash_reads.services_of(scope)
    first = dash_reads.first_rollouts_by_service(scope)

    shown, groups = dash.team_groups(
        services, first, access.team_allowed, organisation=organisation
    )
    # Each window's row passes once, whether split by team, by service, by kind or pooled.
    memo: dict[Any, Any] = {}
    team_common = {
        **groups,
        "now": now,
        "benchmark": benchmark,
        "incidents": incidents,
        "memo": memo,
    }
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
            memo=memo,
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
        memo=memo,
    )
    tiers = has_tiers(benchmark)
    for result in per_service.values():
        if tiers:
            levels[result.level or "insufficient"] += 1
        else:
            levels[charts.percentile_band(result.overall_percentile)] += 1
    # The weekly series need no time to restore; their frequency rows are the window's when
    # the trend ends with it (`row_passes`).
    org = dash.pooled_headline(
        rollouts,
        arrivals,
        since=trend_start,
        until=trend_end,
        now=now,
        tz=window.tz,
        benchmark=benchmark,
        first_rollout_at=min(first.values()) if first else None,
        memo=memo,
    )
    if not tiers:  # the 2025 placement of every visible team's services pooled, over the window
        context["org_placement"] = dash.pooled_headline(
            rollouts,
            arrivals,
            since=since,
            until=until,
            now=now,
            tz=window.tz,
            benchmark=benchmark,
            first_rollout_at=min(first.values()) if first else None,
            industry=organisation,
            memo=memo,
        ).placement
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
