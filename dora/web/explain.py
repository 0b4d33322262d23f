"""The explain page: the items behind a figure, sortable and paged."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
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
from dora.db_router import replica_reads
from dora.metrics.frames import iso
from dora.reads import dashboards as dash
from dora.reads import figures as dash_fig
from dora.reads.report import MetricsComputation
from dora.reads.report_items import ITEMS, METRIC_NAMES, frame_records
from dora.reads.report_query import MetricsQuery, ParameterError, metrics_query_parse
from dora.reads.scope import scope_zone
from dora.reads.value_stream import change_links
from dora.templatetags.units import shorten_text
from dora.units import duration_human
from dora.web.access import Access, dashboard_view, service_required, team_required
from dora.web.kinds import kind_params, window_and_kind
from dora.web.navigation import breadcrumbs, crumb
from dora.web.page_parts import (
    WINDOW_PARAMS,
    _bad_request,
    _benchmark,
    page_url,
    window_control,
    window_of_request,
)
from dora.web.snapshots import page_snapshot
from dora.window import (
    Window,
)

EXPLAIN_PAGE_SIZE = 100


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
