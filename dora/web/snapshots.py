"""Dashboard snapshots: what a page computed, kept for the next viewer with the same view.

A page's figures cost from tens of milliseconds to many seconds on a large estate
(docs/PERFORMANCE.md, "Dashboards at scale"), and they only change when the facts do. A snapshot
is keyed by the page, its path and query string and what the viewer may see (dora.web.access),
and remembers the facts generation it was computed at (dora.generation: raised after every
commit of intake, derivation, configuration and admin edits).

- Same generation, computed less than DORA_DASHBOARD_CACHE_SECONDS (300) ago: served as it is.
- An older generation, computed less than DORA_DASHBOARD_STALE_SECONDS (900) ago, with a Celery
  worker (a broker configured): served, with "figures as of <time>" on the page, while a worker
  computes the page again (`snapshot_refresh`, once per view at a time). So on an estate whose
  intake never stops, a viewer does not wait for the slowest pages; they are at most that old.
- Otherwise (no snapshot, too old, or tasks run in-process): computed now, and kept.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest

from dora.generation import facts_generation
from dora.health import dependency_failed, task_send
from dora.tasks import snapshot_refresh_task
from dora.web.access import Access
from dora.web.snapshot_compute import PREPARE
from dora.web.snapshot_compute import PREPARED_PAGES as PREPARED_PAGES  # read here too
from dora.web.snapshot_compute import snapshot_refresh as snapshot_refresh
from dora.web.snapshot_compute import snapshots_prepare as snapshots_prepare

log = logging.getLogger(__name__)
T = TypeVar("T")
# The query parameters that name a page's window; with a resolved window they are not keyed.
WINDOW_PARAMS = frozenset({"range", "end", "start"})
FORMAT = 3  # raised when what a page keeps changes shape: older snapshots are not read


def page_snapshot(
    request: HttpRequest,
    page: str,
    build: Callable[[], T],
    *,
    path: str | None = None,
    stale_ok: bool = True,
    shared: bool = False,
    window: Any = None,
) -> T:
    """`build()`'s value for this page, path, query and viewer (see the module's rules). Errors
    are raised, not kept. `path` stands for the request's when several URLs share one snapshot;
    stale_ok=False for what cannot say "as of" (a download): never an older generation's.

    shared=True for a page whose figures do not depend on who looks (a team's or a figure's,
    once the view has checked that the viewer may see that team or those services): one
    snapshot serves every viewer the view lets through, so a prepared team page
    (`snapshots_prepare`) serves the team's members too.

    window: the dora.window.Window the page resolved. A URL without `end` names "the last
    complete weeks", whose days move on each Monday: the resolved days and zone are part of the
    key instead of the parameters naming them, so last week's snapshot is never served as this
    week's, and `?team=x` (prepared by beat) and `?team=x&range=4w&end=<its last day>` (the
    overview's link) share one."""
    fresh_for = settings.DORA_DASHBOARD_CACHE_SECONDS
    if fresh_for <= 0:
        return build()
    access: Access = request.access  # type: ignore[attr-defined]
    view = (
        FORMAT,
        page,
        path or request.path,  # what the URL's path names (the figure of an explain page)
        sorted(
            (name, values)
            for name, values in request.GET.lists()
            if window is None or name not in WINDOW_PARAMS
        ),
        None if window is None else (window.range, window.first, window.last, window.tz),
        "any viewer let through"
        if shared
        else (access.everything, sorted(access.teams), sorted(access.services)),
    )
    key = "dora:page:" + hashlib.sha256(repr(view).encode()).hexdigest()
    generation = facts_generation()
    kept = _kept(key)
    refreshing = getattr(request, "snapshot_refresh", False)
    if refreshing == PREPARE and kept is not None and kept[0] == generation:
        return kept[2]  # prepared already for these facts
    if kept is not None and not refreshing:
        kept_generation, computed_at, value = kept
        age = time.time() - computed_at
        if kept_generation == generation and age < fresh_for:
            return value
        stale_for = settings.DORA_DASHBOARD_STALE_SECONDS
        if (
            stale_ok
            and age < stale_for
            and not settings.CELERY_TASK_ALWAYS_EAGER
            and _refresh_pending(request, key, stale_for)
        ):
            request.snapshot_as_of = datetime.fromtimestamp(computed_at, UTC)  # type: ignore[attr-defined]
            return value
    value = build()
    timeout = max(fresh_for, settings.DORA_DASHBOARD_STALE_SECONDS)
    _cache_call("write", lambda: cache.set(key, (generation, time.time(), value), timeout), None)
    if refreshing:
        _cache_call("delete", lambda: cache.delete(key + ":refresh"), None)
    return value


def _refresh_pending(request: HttpRequest, key: str, stale_for: int) -> bool:
    """Whether a worker is computing this view again: already asked (one refresh per view at a
    time; the mark expires with the snapshot at the latest), or asked now. False when it cannot
    be asked (the cache or the broker is down): the page is then computed at once."""
    added = _cache_call("add", lambda: cache.add(key + ":refresh", 1, timeout=stale_for), None)
    if added is None:
        return False  # the cache is down: no mark, so no refresh without a storm of them
    if not added:
        return True  # marked already: a worker has it
    user = getattr(request, "user", None)
    if task_send(
        snapshot_refresh_task,
        args=(request.path, request.GET.urlencode(), getattr(user, "pk", None)),
        queue=settings.DORA_DASHBOARD_REFRESH_QUEUE or None,
    ):
        return True
    _cache_call("delete", lambda: cache.delete(key + ":refresh"), None)
    return False


def _cache_call(action: str, call: Callable[[], T], failed: T) -> T:
    """A call to the snapshot cache; `failed` when the cache is down or does not answer
    (within DORA_CACHE_TIMEOUT_SECONDS): logged, counted, and the page carries on without it."""
    try:
        return call()
    except Exception as exc:  # the cache is optional: never fail a page on it
        dependency_failed("cache", f"snapshot {action}", exc)
        return failed


def _kept(key: str) -> tuple[int, float, Any] | None:
    # None when the cache is down, and for an unreadable snapshot (another release's): the
    # page is computed again either way.
    return _cache_call("read", lambda: cache.get(key), None)
