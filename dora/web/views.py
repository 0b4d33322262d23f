"""The home page (a redirect to where the viewer starts) and the health probes (/healthz:
liveness; /readyz: per component)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from dora.deadline import database_deadline
from dora.health import checks_known, checks_run, database_check, dependency_failures
from dora.web.access import access_for, private_page, public_dashboards
from dora.web.navigation import landing_url


@require_GET
@private_page
def home(request: HttpRequest) -> HttpResponse:
    """Where a viewer starts (and lands after logging in, LOGIN_REDIRECT_URL): their team's page
    when they belong to exactly one team, else the organisation overview (leadership and staff
    always). Anyone else logs in first, unless dashboards are public."""
    if not request.user.is_authenticated and not public_dashboards():
        return redirect_to_login(request.get_full_path(), login_url=reverse("login"))
    return redirect(landing_url(access_for(request.user)))


def duration_label(value: timedelta | None) -> str:
    """A duration the way configuration writes it (CONTRACT §2): 7d, 12h, 30m, 45s."""
    if value is None:
        return ""
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _operator(request: HttpRequest) -> bool:
    """A logged-in staff user or a token of scope read: may read the health probes' detail
    (exception text names hosts and ports). Anyone else reads only ok/error."""
    try:
        with database_deadline(settings.DORA_GATE_TIMEOUT_SECONDS):
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated and user.is_staff:
                return True
            if not request.headers.get("Authorization"):
                return False
            from rest_framework.request import Request

            from dora.api.auth import BearerTokenAuthentication
            from dora.models import ApiToken

            found = BearerTokenAuthentication().authenticate(Request(request))
            return found is not None and found[1].scope == ApiToken.Scope.READ
    except Exception:  # no database, a bad token: no detail
        return False


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness, for load balancers and compose: 200 when the process runs and its database
    answers (all the promotion gate needs), else 503. The broker and the cache are not
    checked here (GET /readyz): without them the gate still decides and pages still render."""
    database = checks_run(["database"])["database"]
    return JsonResponse(
        {
            # Without the database no caller can be recognised as an operator: the detail
            # (exception text, naming hosts and ports) goes to the log only.
            "database": "ok" if database.ok else "error",
            "broker": "not checked here: GET /readyz?component=broker",
            "status": "ok" if database.ok else "degraded",
        },
        status=200 if database.ok else 503,
    )


@never_cache
@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness, per component (database, broker, cache, derivation; the replica when one is
    configured, never a failure: reads fall back to the primary), for operators and for a
    worker's dependency check; `?component=` asks about one. 200 when every component asked
    about is ok, else 503. Anonymous callers read ok/error; staff and read tokens the detail
    and this process's count of cache and broker calls it did without."""
    asked = request.GET.get("component")
    known = checks_known()
    if asked is not None and asked not in known:
        return JsonResponse(
            {"detail": f"Unknown component {asked!r}; one of: {', '.join(known)}."},
            status=400,
        )
    checks = checks_run([name for name in known if asked in (None, name)])
    healthy = all(check.ok for check in checks.values())
    body: dict[str, object] = {
        "status": "ok" if healthy else "degraded",
        "components": {name: "ok" if check.ok else "error" for name, check in checks.items()},
    }
    database_ok = checks["database"].ok if "database" in checks else database_check().ok
    if database_ok and _operator(request):
        body["detail"] = {name: check.detail for name, check in checks.items()}
        body["failures_survived"] = dependency_failures()
    return JsonResponse(body, status=200 if healthy else 503)
