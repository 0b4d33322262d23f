"""Login throttling (django-axes): the authentication backend that refuses a locked-out
username and address, and the client address it counts by."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

LOCKOUT_STATUS = 429


class LoginThrottleBackend(AxesStandaloneBackend):
    """django-axes' check before the password is, for logins through a web request.

    A login without a request (the test client's `login`, a shell) is not a web visitor guessing
    passwords: it is left to the next backend instead of being refused, as axes would.
    """

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)


def client_ip(request: HttpRequest) -> str:
    """The address failures are counted by: the connection's, or behind
    DORA_TRUSTED_PROXY_COUNT proxies that append to X-Forwarded-For, the address that many
    places from the right (what the outermost trusted proxy saw; anything further left was
    written by the client and proves nothing)."""
    proxies = int(getattr(settings, "DORA_TRUSTED_PROXY_COUNT", 0) or 0)
    if proxies > 0:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [a for a in forwarded if a]
        if len(forwarded) >= proxies:
            return forwarded[-proxies]
    return str(request.META.get("REMOTE_ADDR", ""))


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: Any
) -> HttpResponse:
    """The page a locked-out login gets (429): why, for how long, and whom to ask."""
    cool_off = get_cool_off(request)
    minutes = max(1, round(cool_off.total_seconds() / 60)) if cool_off else None
    return render(
        request,
        "registration/locked_out.html",
        {
            "username": get_client_username(request, credentials) or "",
            "failure_limit": get_failure_limit(request, credentials),
            "minutes": minutes,
        },
        status=LOCKOUT_STATUS,
    )
