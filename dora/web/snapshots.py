"""Dashboard snapshots: what a page computed, kept for the next viewer with the same view.

A page's figures cost from tens of milliseconds to many seconds on a large estate (README,
"Dashboards at scale"), and they only change when the facts do. A snapshot is keyed by the page,
its path and query string, what the viewer may see (dora.web.access) and the facts generation
(dora.generation: raised after every commit of intake, derivation, configuration and admin
edits), and kept for DORA_DASHBOARD_CACHE_SECONDS (default 300). So a viewer sees figures at most
that old for a window ending "now", and never figures older than the facts: after a change the
next request computes the page again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from dora.generation import facts_generation
from dora.web.access import Access

log = logging.getLogger(__name__)
T = TypeVar("T")
FORMAT = 1  # raised when what a page keeps changes shape: older snapshots are not read


def page_snapshot(
    request: HttpRequest, page: str, build: Callable[[], T], *, path: str | None = None
) -> T:
    """`build()`'s value for this page, path, query and viewer at the current facts generation:
    the kept one when there is one, else computed now and kept. Errors are raised, not kept.
    `path` stands for the request's when several URLs share one snapshot."""
    seconds = settings.DORA_DASHBOARD_CACHE_SECONDS
    if seconds <= 0:
        return build()
    access: Access = request.access  # type: ignore[attr-defined]
    parts = (
        FORMAT,
        page,
        path or request.path,  # what the URL's path names (the figure of an explain page)
        sorted(request.GET.lists()),
        (access.everything, sorted(access.teams), sorted(access.services)),
        facts_generation(),
    )
    key = "dora:page:" + hashlib.sha256(repr(parts).encode()).hexdigest()
    try:
        kept = cache.get(key)
    except Exception:  # an unreadable snapshot (another release's) is computed again
        log.warning("dashboard snapshot %s unreadable; computing it again", page, exc_info=True)
        kept = None
    if kept is not None:
        return kept
    value = build()
    cache.set(key, value, seconds)
    return value
