"""Computing dashboard pages again, off the request: what the snapshot tasks run (dora.tasks).

The page side, serving and keeping snapshots, is dora.web.snapshots; it queues
`dora.tasks.snapshot_refresh_task`, which runs `snapshot_refresh` here. Kept apart so that the
tasks import this module and the page side imports the tasks, one way.
"""

from __future__ import annotations

import logging
import time

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.http import HttpRequest, QueryDict
from django.urls import resolve
from django.utils.http import urlencode

from dora.health import dependency_failed
from dora.prometheus import SNAPSHOTS_PREPARED_KEY

log = logging.getLogger("dora.web.snapshots")  # the name its lines have always been logged under

PREPARE = "prepare"  # a refresh that computes only a page whose facts have changed
# What `snapshots_prepare` computes before anyone asks: the slowest pages, as those who see
# everything open them first (their default window).
PREPARED_PAGES = ("/dashboards/", "/dashboards/report", "/dashboards/estate")


def snapshots_prepare() -> int:
    """Compute the organisation-wide pages (PREPARED_PAGES) and, with
    DORA_DASHBOARD_PREPARE_TEAMS (on by default), every team's week, whose facts have changed
    since their snapshot, as a user who sees everything would (an active superuser, else a
    member of the `leadership` group; none: nothing to prepare). A team's week is one snapshot
    for all who may see it, so its members are served the prepared page too. Returns how many
    pages were looked at. Celery beat runs it (`dora.tasks.snapshots_prepare_task`) so that
    the first viewer of the day, or after a change, does not wait either."""
    from django.contrib.auth.models import Group

    from dora.models import Team
    from dora.web.access import LEADERSHIP_GROUP

    users = get_user_model().objects.filter(is_active=True)
    user = users.filter(is_superuser=True).order_by("pk").first()
    if user is None:
        group = Group.objects.filter(name=LEADERSHIP_GROUP).first()
        user = users.filter(groups=group).order_by("pk").first() if group else None
    if user is None or settings.DORA_DASHBOARD_CACHE_SECONDS <= 0:
        return 0
    pages = [(path, "") for path in PREPARED_PAGES]
    if settings.DORA_DASHBOARD_PREPARE_TEAMS:
        teams = Team.objects.order_by("name").values_list("name", flat=True)
        pages += [("/dashboards/team", urlencode({"team": name})) for name in teams]
    for path, query in pages:
        try:
            snapshot_refresh(path, query, user.pk, prepare=True)
        except SoftTimeLimitExceeded:
            raise  # the task's time is up (dora/settings.py, CELERY_TASK_SOFT_TIME_LIMIT)
        except Exception:  # one page's error must not leave the others unprepared
            log.exception("preparing the dashboard page %s?%s failed", path, query)
    # GET /metrics reports how long ago this was (dora_page_snapshots_age_seconds).
    try:
        cache.set(SNAPSHOTS_PREPARED_KEY, time.time(), None)
    except Exception as exc:  # the cache is optional: the age then reads as unknown
        dependency_failed("cache", "snapshot prepared time", exc)
    return len(pages)


def snapshot_refresh(path: str, query: str, user_id: int | None, *, prepare: bool = False) -> int:
    """Compute a dashboard page again, as `user_id` would see it, and keep its snapshot (a
    Celery worker, `dora.tasks.snapshot_refresh_task`). The rendered page is discarded. With
    `prepare`, a page whose snapshot is of the current facts is left as it is."""
    from django.contrib.auth.models import AnonymousUser

    request = HttpRequest()
    request.method = "GET"
    request.path = request.path_info = path
    request.GET = QueryDict(query)
    user_model = get_user_model()
    request.user = (  # type: ignore[assignment]
        user_model.objects.filter(pk=user_id).first() if user_id is not None else None
    ) or AnonymousUser()
    request.snapshot_refresh = PREPARE if prepare else True  # type: ignore[attr-defined]
    match = resolve(path)
    response = match.func(request, *match.args, **match.kwargs)
    return response.status_code
