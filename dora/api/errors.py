"""Error answers for machine clients: under /api/ and /webhooks/ every error is JSON
(`{"detail": ...}`), never Django's HTML page, and says nothing of the internals.

Django calls these handlers (dora.urls: handler400/403/404/500) for what a view did not answer
itself: an unknown URL, a bad Host header, an unhandled exception. A database that cannot be
reached, or that did not answer within the request's deadline (dora.deadline), is a 503 with
Retry-After: the client should send the same request again later. Pages keep Django's own
handlers.
"""

from __future__ import annotations

import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

MACHINE_PREFIXES = ("/api/", "/webhooks/")
RETRY_AFTER_SECONDS = 30


def machine_client(request: HttpRequest) -> bool:
    """Whether the request is to a URL that answers JSON (the API, the webhooks)."""
    return request.path.startswith(MACHINE_PREFIXES)


def database_unavailable(exc: BaseException | None) -> bool:
    """A lost, refused, timed-out or cut connection, or a statement the server cancelled: the
    same request may well succeed later. (An IntegrityError or a bad query is a bug: 500.)"""
    return isinstance(exc, OperationalError | InterfaceError)


def server_error(request: HttpRequest) -> HttpResponse:
    if not machine_client(request):
        return defaults.server_error(request)
    exc = sys.exc_info()[1]  # Django calls this handler while handling the exception
    if database_unavailable(exc):
        deadline = getattr(request, "database_deadline", None)
        why = (
            f"did not answer within {deadline.seconds:g} s"
            if deadline is not None and deadline.fired
            else "cannot be reached"
        )
        return JsonResponse(
            {"detail": f"The database {why}; nothing was decided or stored. Retry later."},
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return JsonResponse(
        {"detail": "Internal server error; it has been logged. Retry later or report it."},
        status=500,
    )


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not machine_client(request):
        return defaults.page_not_found(request, exception)
    return JsonResponse({"detail": f"No such URL: {request.path}."}, status=404)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not machine_client(request):
        return defaults.bad_request(request, exception)
    return JsonResponse({"detail": "Bad request."}, status=400)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if not machine_client(request):
        return defaults.permission_denied(request, exception)
    return JsonResponse({"detail": "Permission denied."}, status=403)
