"""The leadership report: `?period=month|quarter&date=YYYY-MM-DD` (default: the last complete
month) against the period before, as a page (print-friendly), a PDF (WeasyPrint) and a CSV.
For the `leadership` group, staff and superusers only (dora.web.access.is_leader).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from dora import benchmarks
from dora.db_router import replica_reads

# The PDF and its context live in dora.leadership_pdf (the monthly digest attaches it too).
from dora.leadership_pdf import (  # noqa: F401 - re-exported names of this module
    SVG_BAR_WIDTH,
    levels_svg_bars,
    report_pdf_bytes,
)
from dora.leadership_pdf import report_context as _context
from dora.metrics.levels import BENCHMARK_YEARS, has_tiers
from dora.reads import charts
from dora.reads import leadership as lead
from dora.reads.leadership_csv import report_csv
from dora.reads.report_query import ParameterError
from dora.web.access import dashboard_view, is_leader
from dora.web.definitions import definitions_url
from dora.web.navigation import breadcrumbs, crumb
from dora.web.page_parts import _bad_request, _chart, _page_links
from dora.web.snapshots import page_snapshot


def leadership_required(request: HttpRequest) -> None:
    """PermissionDenied (403) unless the viewer is in `leadership`, staff or a superuser."""
    if not is_leader(request.user):
        raise PermissionDenied(
            "The leadership report is for the leadership group and staff; team members see "
            "their teams on the dashboards."
        )


def _benchmark(request: HttpRequest) -> int:
    value = request.GET.get("benchmark") or ""
    if not value:
        return benchmarks.default_benchmark()
    try:
        year = int(value)
    except ValueError:
        year = -1
    if year not in BENCHMARK_YEARS:
        raise ParameterError(
            "benchmark",
            f"benchmark {value!r} must be one of {', '.join(map(str, BENCHMARK_YEARS))}",
        )
    try:
        return benchmarks.benchmark_check(year)
    except benchmarks.BenchmarkUnavailable as exc:
        raise ParameterError("benchmark", str(exc))


def _report(request: HttpRequest, *, download: bool = False) -> lead.LeadershipReport:
    """The report of the requested period; the page, its PDF and its CSV share one snapshot (a
    download never shows figures older than the facts: it cannot say so)."""
    now = timezone.now()
    period = lead.period_parse(request.GET.get("period"), request.GET.get("date"), now=now)
    benchmark = _benchmark(request)
    return page_snapshot(
        request,
        "leadership-report",
        lambda: lead.leadership_report(period, now=now, benchmark=benchmark),
        path=reverse("dashboard-report"),
        stale_ok=not download,
    )


def teams_per_level_figure(counts: dict[str, int], *, year: int | None = None) -> dict[str, Any]:
    """Helper B's level bar chart (dora.reads.charts.level_distribution_figure), counting teams;
    with a year without levels (2025), teams per band of their percentile."""
    bands = year is not None and not has_tiers(year)
    figure = charts.level_distribution_figure(counts, bands=bands, year=year)
    total = sum(counts.values())
    trace = {
        **figure["data"][0],
        "hovertemplate": "%{x}: %{y} teams<extra></extra>",
        "name": "teams",
    }
    layout = {
        **figure["layout"],
        "title": {
            **figure["layout"]["title"],
            "text": f"Teams per {year} placement ({total} teams)"
            if bands
            else f"Teams per level ({total} teams)",
        },
        "yaxis": {**figure["layout"]["yaxis"], "title": {"text": "teams"}, "dtick": 1},
    }
    return {"data": [trace], "layout": layout}


def _links(request: HttpRequest, report: lead.LeadershipReport) -> dict[str, Any]:
    period = report.period
    base = {k: v for k, v in request.GET.items() if k in ("benchmark",)}

    def url(name: str, **params: str) -> str:
        return f"{reverse(name)}?{urlencode({**base, **params})}"

    here = {"period": period.kind, "date": period.start.date().isoformat()}
    following = lead.period_of(period.kind, period.end.date())
    return {
        "pdf_url": url("dashboard-report-pdf", **here),
        "csv_url": url("dashboard-report-csv", **here),
        "previous_url": url(
            "dashboard-report", period=period.kind, date=report.previous.start.date().isoformat()
        ),
        "next_url": (
            url("dashboard-report", period=period.kind, date=following.start.date().isoformat())
            if following.start < timezone.now()
            else None
        ),
        "other_kind_url": url(
            "dashboard-report",
            period="quarter" if period.kind == "month" else "month",
            date=period.start.date().isoformat(),
        ),
        "other_kind": "quarter" if period.kind == "month" else "month",
    }


def _filename(report: lead.LeadershipReport, extension: str) -> str:
    start = report.period.start
    suffix = (
        f"{start:%Y-%m}"
        if report.period.kind == "month"
        else f"{start.year}-Q{(start.month - 1) // 3 + 1}"
    )
    return f"leadership-report-{suffix}.{extension}"


@require_GET
@dashboard_view
@replica_reads
def leadership(request: HttpRequest) -> HttpResponse:
    """The report as a page, with links to the PDF and CSV of the same period."""
    leadership_required(request)
    try:
        report = _report(request)
    except ParameterError as exc:
        return _bad_request(request, exc)
    context = _context(report)
    context.update(_links(request, report))
    context.update(_page_links(request, report.benchmark))  # the benchmark-year switcher
    context["chart"] = _chart(
        "teams-per-level",
        teams_per_level_figure(
            report.level_counts if report.tiers else report.placement_counts,
            year=report.benchmark,
        ),
        f"Bar chart: number of teams at each DORA level in {report.period.label}"
        if report.tiers
        else f"Bar chart: number of teams per band of their {report.benchmark} percentile in "
        f"{report.period.label}",
    )
    access = request.access  # type: ignore[attr-defined]
    context["crumbs"] = breadcrumbs(access, trail=(crumb("Leadership report"),))
    return render(request, "dora/leadership.html", context)


@require_GET
@dashboard_view
@replica_reads
def leadership_pdf(request: HttpRequest) -> HttpResponse:
    leadership_required(request)
    try:
        report = _report(request, download=True)
    except ParameterError as exc:
        return _bad_request(request, exc)
    response = HttpResponse(
        report_pdf_bytes(report, definitions=definitions_url(request)),
        content_type="application/pdf",
    )
    response["Content-Disposition"] = f'attachment; filename="{_filename(report, "pdf")}"'
    return response


@require_GET
@dashboard_view
@replica_reads
def leadership_csv(request: HttpRequest) -> HttpResponse:
    leadership_required(request)
    try:
        report = _report(request, download=True)
    except ParameterError as exc:
        return _bad_request(request, exc)
    response = HttpResponse(
        report_csv(report, definitions_url=definitions_url(request)),
        content_type="text/csv; charset=utf-8",
    )
    response["Content-Disposition"] = f'attachment; filename="{_filename(report, "csv")}"'
    return response
