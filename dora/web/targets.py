"""Figure targets on the team and service pages: each target's attainment now, its last weeks,
and the targets shown beside the headline figure they bound (dora.targets computes them)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from dora.models import FigureTarget
from dora.targets import (
    STATUS_TEXT,
    Evaluated,
    duration_text,
    evaluate,
    targets_of,
    threshold_text,
    value_text,
)

# The weeks of history each target shows: two months, compact enough for a phone's width.
HISTORY_WEEKS = 8
SYMBOLS = {"met": "✓", "missed": "✗", "no_data": "–"}
NBSP = "\u00a0"


# Figure families judged at the window's end rather than over it (METRICS §7).
POINT_IN_TIME = ("version_spread", "automation_lag")


def _keep(label: str, threshold: str) -> str:
    """The label with its threshold's number and unit held together."""
    return label.removesuffix(threshold) + threshold.replace(" ", NBSP)


def _row(evaluated: Evaluated, service_urls: dict[str, str]) -> dict[str, Any]:
    a = evaluated.attainment
    window = duration_text(a.window)
    return {
        "id": a.target_id,
        "label": a.label,
        # For the page: a number never parts from its unit ("6.8 h", "2 versions").
        "label_text": _keep(a.label, threshold_text(a.figure, a.threshold)),
        "subject": a.subject,
        "subject_name": a.subject_name,
        "subject_url": service_urls.get(a.subject_name) if a.subject == "service" else None,
        "family": a.figure.partition(".")[0],
        "value_text": a.value_text.replace(" ", NBSP),
        "threshold_text": threshold_text(a.figure, a.threshold).replace(" ", NBSP),
        "window_text": window.replace(" ", NBSP),
        # Measured at the window's end (dora.targets): "now", not over the last N days.
        "point_in_time": a.figure.partition(".")[0] in POINT_IN_TIME,
        "status": a.status,
        "status_text": STATUS_TEXT[a.status],
        "history": [
            {
                "week": monday,
                "value_text": value_text(a.figure, value).replace(" ", NBSP),
                "status": status,
                "status_text": STATUS_TEXT[status],
                "symbol": SYMBOLS[status],
            }
            for monday, value, status in evaluated.history
        ],
    }


def targets_context(
    *,
    now: datetime,
    team: str | None = None,
    service: str | None = None,
    service_urls: dict[str, str] | None = None,
    known: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """The rows of a page's Targets section: a team's targets and its services' (team=), or
    a service's (service=), each with its weekly history: one query for the targets, then each
    scope's frames once (dora.targets.evaluate), less those the page has read (`known`)."""
    targets: Sequence[FigureTarget] = targets_of(team=team, service=service)
    if not targets:
        return []
    return [
        _row(evaluated, service_urls or {})
        for evaluated in evaluate(targets, now=now, weeks=HISTORY_WEEKS, known=known)
    ]


def page_frames(c: Any) -> dict[str, Any]:
    """The frames of a page's computation (dora.reads.report.MetricsComputation) that depend on its
    scope only, for `known` (those it has read)."""
    names = ("first_rollout_at", "environment_settings", "configured_targets")
    return {name: c.__dict__[name] for name in names if name in c.__dict__}


def cards_with_targets(
    cards: Sequence[dict[str, Any]], rows: Sequence[dict[str, Any]], *, subject: str, name: str
) -> None:
    """Each headline card gains `targets`: the rows of the page's own subject (the team on a
    team page, the service on a service page) bounding a field of the card's figure."""
    for card in cards:
        card["targets"] = [
            row
            for row in rows
            if row["subject"] == subject
            and row["subject_name"] == name
            and row["family"] == card["figure"].key
        ]
