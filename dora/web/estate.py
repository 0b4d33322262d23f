"""The Estate section's two tabs: the matrix (services x environments, live versions, spread,
automation lag) and the configuration (teams, their services, the environments).

On the matrix, `?team=` narrows it to one team, `?until=` looks at a past moment (default now);
`?since=` starts the evidence chart's window (default 12 weeks before `until`). A member sees the
services of their teams; leadership and staff every service (dora.web.access).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.db.models import Prefetch
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from dora.db_router import replica_reads
from dora.models import Environment, Service, Team
from dora.out_of_band import out_of_band_frame
from dora.reads import charts
from dora.reads import estate_matrix as em
from dora.reads.figures import percent_text
from dora.reads.page_reads import services_of
from dora.reads.report_query import MetricsQuery, ParameterError, metrics_query_parse
from dora.reads.scope import Scope
from dora.web.access import Access, dashboard_view, team_required
from dora.web.navigation import breadcrumbs, crumb
from dora.web.page_parts import _bad_request, _chart
from dora.web.snapshots import page_snapshot
from dora.web.views import duration_label


def estate_scope(access: Access, team: str | None) -> Scope | None:
    """The scope the viewer may see, narrowed to `team`; None when that is nothing."""
    if team:
        return Scope(team=team)
    return access.visible_scope()


EVIDENCE_LABEL = (
    "Bar chart: percentage of automation runs that failed, by the gap since the instance's "
    "previous run, with 95% intervals"
)
LAG_LABEL = (
    "Horizontal bar chart: time since each automation instance's last successful run, coloured "
    "by staleness, with each environment's stale_after marked"
)


def estate_charts(matrix: em.EstateMatrix) -> list[dict[str, Any]]:
    """The evidence and lag charts, each only when it has data (the page says why otherwise)."""
    drawn = (
        _chart(
            "automation-evidence",
            em.automation_evidence_figure(matrix.evidence.buckets),
            EVIDENCE_LABEL,
        ),
        _chart("automation-lag", em.automation_lag_figure(matrix.lag), LAG_LABEL),
    )
    return [chart for chart in drawn if charts.figure_has_data(chart["figure"])]


@require_GET
@dashboard_view
@replica_reads
def estate(request: HttpRequest) -> HttpResponse:
    """Every visible service in every environment, graded by staleness, and the evidence."""
    access: Access = request.access  # type: ignore[attr-defined]
    team = request.GET.get("team") or None
    if team:
        team_required(access, team)
    now = timezone.now()
    try:
        query = metrics_query_parse(
            now=now,
            team=team,
            since=request.GET.get("since"),
            until=request.GET.get("until"),
            # A point in time (default now), not a window of whole weeks: the matrix is the
            # estate as it stands; only its evidence chart looks back (12 weeks).
            rule_window=False,
        )
    except ParameterError as exc:
        if exc.parameter == "team":
            raise Http404(str(exc))
        return _bad_request(request, exc)
    context: dict[str, Any] = {
        "since": query.since,
        "until": query.until,
        "team": team,
        "matrix_html": None,
        "charts": [],
        "crumbs": breadcrumbs(
            access,
            trail=(
                crumb("Estate", reverse("dashboard-estate")),
                crumb("Matrix", reverse("dashboard-estate") if team else None),
                *([crumb(f"team {team}")] if team else []),
            ),
        ),
    }
    scope = estate_scope(access, team)
    if scope is None:
        return render(request, "dora/estate.html", context)
    context.update(
        page_snapshot(request, "estate", lambda: _estate_figures(access, scope, query, now))
    )
    return render(request, "dora/estate.html", context)


@require_GET
@dashboard_view
@replica_reads
def estate_configuration(request: HttpRequest) -> HttpResponse:
    """The estate's configuration, as far as the viewer may see it (dora.web.access): their
    teams with their services, and the environments they deploy to; everything for leadership
    and staff (services without a team included); nothing for a user in no team."""
    access: Access = request.access  # type: ignore[attr-defined]
    teams = Team.objects.prefetch_related(
        Prefetch("service_set", queryset=Service.objects.order_by("name"))
    ).order_by("name")
    unowned = Service.objects.filter(team__isnull=True).order_by("name")
    if not access.everything:
        teams = teams.filter(name__in=sorted(access.teams))
        unowned = unowned.none()
    environments = (
        list(Environment.objects.prefetch_related("targets"))
        if access.everything or access.teams
        else []
    )
    for environment in environments:
        environment.stale_after_label = duration_label(environment.stale_after)
    return render(
        request,
        "dora/estate_configuration.html",
        {
            "teams": teams,
            "unowned_services": unowned,
            "environments": environments,
            "in_no_team": not access.everything and not access.teams,
            "crumbs": breadcrumbs(
                access,
                trail=(crumb("Estate", reverse("dashboard-estate")), crumb("Configuration")),
            ),
        },
    )


def _estate_figures(
    access: Access, scope: Scope, query: MetricsQuery, now: datetime
) -> dict[str, Any]:
    """The matrix, its legend and the automation-lag evidence (kept as a snapshot)."""
    context: dict[str, Any] = {"since": query.since, "until": query.until}
    environments = em.environments_ordered()
    services = services_of(scope)
    computations = em.estate_computations(
        scope, em.tiers_of(environments), since=query.since, until=query.until, now=now
    )
    for computation in computations.values():
        computation.prefetch(em.ESTATE_FRAMES)
    matrix = em.estate_matrix(
        services,
        environments,
        computations,
        since=query.since,
        until=query.until,
        drift=em.drift_by_pair(scope, until=query.until),
        # Every environment's (the matrix's columns), not the scope's tier.
        out_of_band=out_of_band_frame(
            dataclasses.replace(scope, tier_named=False), since=query.since, until=query.until
        ),
    )
    service_url = reverse("dashboard-service")
    groups = [
        {
            "team": name,
            "team_url": (
                f"{reverse('dashboard-team')}?{urlencode({'team': name})}" if name else None
            ),
            "rows": [
                {"row": row, "url": f"{service_url}?{urlencode({'service': row.name})}"}
                for row in rows
            ],
        }
        for name, rows in matrix.teams()
    ]
    counts = matrix.counts()
    lag = matrix.lag
    drawn = estate_charts(matrix)
    context.update(
        {
            "legend": [
                {"state": state, "label": em.STATE_LABELS[state], "count": counts[state]}
                for state in em.STATES
            ],
            "evidence": [
                {
                    "gap": em.GAP_LABELS[row.gap],
                    "runs": int(row.runs),
                    "failures": int(row.failures),
                    "rate": percent_text(None if row.runs == 0 else float(row.rate)),
                    "ci": (
                        ""
                        if row.runs == 0
                        else "–".join(percent_text(float(v)) for v in (row.ci_low, row.ci_high))
                    ),
                }
                for row in matrix.evidence.buckets.itertuples(index=False)
            ],
            "stale_instances": int(lag["stale"].sum()) if len(lag) else 0,
            "out_of_band": matrix.out_of_band,
            "instances": len(lag),
            "teams": sorted(access.teams) if not access.everything else None,
            "charts": drawn,
            # Deploy pipelines have a lag but no runs: the evidence may be missing alone.
            "evidence_drawn": any(chart["id"] == "automation-evidence" for chart in drawn),
            # Rendered here, once, and kept with the snapshot: a thousand cells of 500 services
            # took most of a kept page's 150 to 300 ms to render again for every viewer.
            "matrix_html": render_to_string(
                "dora/_estate_matrix.html", {"matrix": matrix, "groups": groups}
            ),
        }
    )
    return context
