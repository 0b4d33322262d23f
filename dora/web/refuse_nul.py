"""Middleware: a request whose path, query string or cookies hold a NUL character gets a 400.

PostgreSQL cannot store or even compare text holding NUL (U+0000): a query filtering on such a
value fails with DataError, a 500 from whichever page, API or session lookup reads it first.
No URL, parameter or cookie of this service has a use for NUL, so it is refused here, once,
before any view reads it, with a message naming what to fix. (JSON bodies are the parsers' and
serializers' business: dora.api.parsers, DRF's CharField, the webhook and the intake.)
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse

NUL = "\x00"
# Paths answered in JSON (the API and the webhooks); every other path is a page.
JSON_PREFIXES = ("/api/", "/webhooks/")


def nul_problem(request: HttpRequest) -> tuple[str, str] | None:
    """(a message, the part to name as `parameter`) for the first part of the request holding
    a NUL, else None. Names are shown with the NUL as %00."""
    if NUL in request.path:
        path = request.path.replace(NUL, "%00")
        return f"The path {path!r} holds a NUL character (%00)", "path"
    for key, values in request.GET.lists():
        if NUL in key or any(NUL in value for value in values):
            name = key.replace(NUL, "%00")
            return f"The query parameter {name!r} holds a NUL character (%00)", name
    for key, value in request.COOKIES.items():
        if NUL in key or NUL in value:
            name = key.replace(NUL, "%00")
            return f"The cookie {name!r} holds a NUL character", f"cookie:{name}"
    return None


class RefuseNulMiddleware:
    """400 for a NUL in the path, the query string or a cookie (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = nul_problem(request)
        if problem is None:
            return self.get_response(request)
        message, parameter = problem
        detail = f"{message}, which nothing here accepts: remove it and send the request again."
        if request.path.startswith(JSON_PREFIXES):
            return JsonResponse({"detail": detail, "parameter": parameter}, status=400)
        return HttpResponse(
            f"Bad request. {detail}\n", status=400, content_type="text/plain; charset=utf-8"
        )
