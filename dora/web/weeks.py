"""The team and service weekly pages."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from dora.db_router import replica_reads
from dora.metrics.levels import has_tiers
from dora.out_of_band import service_out_of_band
from dora.reads import charts
from dora.reads import dashboards as dash
from dora.reads import figures as dash_fig
from dora.reads import page_reads as dash_reads
from dora.reads import weeks as dash_weeks
from dora.reads.links import explain_url
from dora.reads.report import MetricsComputation
from dora.reads.report_query import MetricsQuery, ParameterError, metrics_query_parse
from dora.reads.scope import ORGANISATION_TIMEZONE, Scope
from dora.web.access import Access, dashboard_view, service_required, team_required
from dora.web.kinds import kind_control, kind_params, window_and_kind
from dora.web.navigation import breadcrumbs
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
from dora.web.targets import cards_with_targets, page_frames, targets_context
from dora.window import (
    Window,
    local_midnight,
)

# Frames of the weekly view, read at once (dora.reads.report.MetricsComputation.prefetch).
WEEKLY_FRAMES = (
    "stream_frames",
    "arrivals",
    "rollouts",
    "incidents",
    "failure_links",
    "first_rollout_at",
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
