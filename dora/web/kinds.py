"""The kind filter of the overview and team pages (all | app | infra) and the app/infra split.

A page names the kind in its query string (`kind=app`), like its window, and carries it in its
links (the other pages, the breadcrumbs, the explain links); no `kind` or `kind=all` is both.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from dora.reads import dashboards as dash
from dora.reads.figures import HEADLINE, LABELS
from dora.window import Window

# The links of the control, in order: the parameter's value and its label.
CHOICES = (("all", "All"), *dash.KIND_LABELS.items())


def kind_params(kind: str | None) -> dict[str, str]:
    """The query parameter that names `kind` for a link; none for all."""
    return {"kind": kind} if kind else {}


def kind_control(request: HttpRequest, kind: str | None) -> dict[str, Any]:
    """templates/dora/_kind.html: a link per kind keeping the page's other parameters (its
    window, benchmark, team), the current one marked; `kind` None is all."""
    links = []
    for value, label in CHOICES:
        params = request.GET.copy()
        params.pop("page", None)
        params.pop("kind", None)
        if value != "all":
            params["kind"] = value
        links.append(
            {
                "value": value,
                "label": label,
                "url": f"?{params.urlencode()}",
                "current": (kind or "all") == value,
            }
        )
    label = dash.KIND_LABELS.get(kind or "")
    return {"service_kind": kind, "kind_label": label, "kind_links": links}


def kind_split(
    headlines: dict[str, dash.Headline],
    *,
    services: dict[str, int],
    url: Any,
    explain: Any,
) -> dict[str, Any]:
    """The overview's app/infra table: a row per headline figure, a column per kind.

    headlines: per kind, its `split_headlines` headline; services: per kind, how many services;
    url(kind): the page filtered to the kind; explain(key, kind): the items behind a figure of
    the kind, or None when the viewer may not open them.
    """
    kinds = [kind for kind in dash.KIND_LABELS if kind in headlines]  # app, then infra
    columns = [
        {
            "kind": kind,
            "label": dash.KIND_LABELS[kind],
            "services": services.get(kind, 0),
            "url": url(kind),
        }
        for kind in kinds
    ]
    figures = {kind: {f.key: f for f in headlines[kind].figures} for kind in kinds}
    rows = []
    for key in HEADLINE:
        rows.append(
            {
                "key": key,
                "label": LABELS[key],
                "cells": [{"figure": figures[k][key], "url": explain(key, k)} for k in kinds],
            }
        )
    return {"columns": columns, "rows": rows}


def window_and_kind(window: Window | None, kind: str | None) -> dict[str, str] | None:
    """The parameters every link of a page keeps: its window's and its kind's."""
    if window is None:
        return kind_params(kind) or None
    return {**window.params(), **kind_params(kind)}
