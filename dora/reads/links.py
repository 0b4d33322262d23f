"""Links to the explain pages, shared by the pages (dora.web.overview, dora.web.explain) and the
e-mails (dora.digests), which never import dora.web."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.urls import reverse

from dora.window import Window


def explain_url(name: str, *, scope: dict[str, Any], window: Window, benchmark: int) -> str:
    """The explain page of figure `name` for a scope and window (a shareable URL); the window
    by its days, which the explain page reads in the scope's time zone."""
    params: list[tuple[str, str]] = []
    if scope.get("team"):
        params.append(("team", scope["team"]))
    for service in scope.get("services", ()):
        params.append(("service", service))
    if scope.get("kind"):
        params.append(("kind", scope["kind"]))
    params += [*window.params().items(), ("benchmark", str(benchmark))]
    return f"{reverse('dashboard-explain', args=[name])}?{urlencode(params)}"
