"""The leadership report as a PDF (WeasyPrint, from templates/dora/leadership_pdf.html): the
report's download and the monthly leadership digest's attachment (dora.digests)."""

from __future__ import annotations

from typing import Any

from django.template.loader import render_to_string

from dora.metrics import DEFINITIONS_URL, DEFINITIONS_VERSION
from dora.reads import charts
from dora.reads import leadership as lead

SVG_BAR_WIDTH = 320


def levels_svg_bars(counts: dict[str, int], *, bands: bool = False) -> list[dict[str, Any]]:
    """The same chart as static SVG bars for the PDF (WeasyPrint runs no JavaScript)."""
    most = max(counts.values(), default=0) or 1
    labels, colours = (
        (charts.BAND_LABELS, charts.BAND_COLOURS)
        if bands
        else (charts.LEVEL_LABELS, charts.LEVEL_COLOURS)
    )
    return [
        {
            "label": labels[level],
            "count": count,
            "colour": colours[level],
            "width": round(SVG_BAR_WIDTH * count / most, 1),
            "y": 6 + 26 * i,
            "text_y": 22 + 26 * i,
            "count_x": 130 + round(SVG_BAR_WIDTH * count / most, 1) + 6,
        }
        for i, (level, count) in enumerate(counts.items())
    ]


def report_context(report: lead.LeadershipReport) -> dict[str, Any]:
    bands = not report.tiers
    counts = report.placement_counts if bands else report.level_counts
    labels = charts.BAND_LABELS if bands else charts.LEVEL_LABELS
    return {
        "report": report,
        "level_counts": [(labels[level], level, count) for level, count in counts.items()],
        "svg_bars": levels_svg_bars(counts, bands=bands),
        "svg_height": 12 + 26 * len(counts),
    }


def _pdf_fetcher() -> Any:
    """WeasyPrint may read data: URIs only: the PDF never reaches the network or the disk."""
    from weasyprint.urls import URLFetcher

    return URLFetcher(allowed_protocols=("data",))


def report_pdf_bytes(report: lead.LeadershipReport, *, definitions: str = DEFINITIONS_URL) -> bytes:
    """The report rendered by WeasyPrint from templates/dora/leadership_pdf.html; its last line
    names the definitions version and `definitions`, where they are explained."""
    from weasyprint import HTML

    context = {
        **report_context(report),
        "definitions_version": DEFINITIONS_VERSION,
        "definitions_url": definitions,
    }
    html = render_to_string("dora/leadership_pdf.html", context)
    return HTML(string=html, url_fetcher=_pdf_fetcher()).write_pdf()
