"""Dashboard pages and the health probe."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from dora.models import Environment, Service, Team
from dora.web.access import access_for, private_page

BROKER_TIMEOUT_SECONDS = 2.0


@login_required
@require_GET
@private_page
def home(request: HttpRequest) -> HttpResponse:
    """The estate at a glance, as far as the viewer may see it (dora.web.access): their teams
    with their services, and the environments they deploy to; everything for leadership and
    staff (services without a team included); nothing for a user in no team."""
    access = access_for(request.user)
    teams = Team.objects.prefetch_related(
        Prefetch("service_set", queryset=Service.objects.order_by("name"))
    )
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
        "dora/home.html",
        {
            "teams": teams,
            "unowned_services": unowned,
            "environments": environments,
            "in_no_team": not access.everything and not access.teams,
        },
    )


def duration_label(value: timedelta | None) -> str:
    """A duration the way configuration writes it (CONTRACT §2): 7d, 12h, 30m, 45s."""
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def database_status() -> str:
    """'ok' when the default database answers a query, else 'error: <why>'."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any failure is reported, never raised, by a health probe
        return f"error: {exc.__class__.__name__}: {exc}"
    return "ok"


def broker_status() -> str:
    """'ok' when the Celery broker accepts a connection within a short timeout.

    Without CELERY_BROKER_URL tasks run eagerly in the web process, so there is nothing to check.
    """
    broker_url = getattr(settings, "CELERY_BROKER_URL", None)
    if not broker_url:
        return "eager (no broker configured)"
    from kombu import Connection

    try:
        with Connection(
            broker_url,
            connect_timeout=BROKER_TIMEOUT_SECONDS,
            transport_options={"socket_timeout": BROKER_TIMEOUT_SECONDS},
        ) as conn:
            conn.ensure_connection(
                max_retries=1, interval_start=0, interval_step=0, timeout=BROKER_TIMEOUT_SECONDS
            )
    except Exception as exc:  # any failure is reported, never raised, by a health probe
        return f"error: {exc.__class__.__name__}: {exc}"
    return "ok"


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Health for load balancers and compose: 200 when the database (and broker, if set) answer."""
    database = database_status()
    broker = broker_status()
    healthy = database == "ok" and not broker.startswith("error")
    return JsonResponse(
        {"database": database, "broker": broker, "status": "ok" if healthy else "degraded"},
        status=200 if healthy else 503,
    )
