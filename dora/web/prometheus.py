"""GET /metrics: the Prometheus text exposition (dora.prometheus), for a scraper that may.

Who may scrape: a bearer token of scope `metrics` (`manage.py create_token --scope metrics`),
or a client whose address is in DORA_METRICS_ALLOWED_NETWORKS, or loopback; anyone else gets
403. The client's address is the connection's, or behind DORA_TRUSTED_PROXY_COUNT proxies the
one they saw (dora.web.login.client_ip, as the login throttle reads it). A request that came
through a proxy that is not trusted (X-Forwarded-For or Forwarded present, no trusted proxies)
is not loopback's, even when the proxy connects from 127.0.0.1: else a proxy on the same host
would let the world in.
"""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from rest_framework import exceptions

from dora.api.auth import BearerTokenAuthentication
from dora.models import ApiToken
from dora.prometheus import scrape_registry
from dora.web.login import client_ip

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def allowed_networks() -> list[Network]:
    """DORA_METRICS_ALLOWED_NETWORKS as networks; a bad entry is a configuration error."""
    networks = []
    for entry in settings.DORA_METRICS_ALLOWED_NETWORKS:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"DORA_METRICS_ALLOWED_NETWORKS: {entry!r} is not a CIDR (e.g. 10.0.0.0/8): {exc}"
            ) from exc
    return networks


def scrape_refusal(request: HttpRequest) -> str | None:
    """Why this request may not scrape, or None when it may (the module's rules)."""
    if request.META.get("HTTP_AUTHORIZATION"):
        try:
            found = BearerTokenAuthentication().authenticate(request)  # type: ignore[arg-type]
        except exceptions.AuthenticationFailed as exc:
            return str(exc.detail)
        if found is None:
            return "Send the token as 'Authorization: Bearer <token>'."
        token = found[1]
        if token.scope != ApiToken.Scope.METRICS:
            return (
                f"GET /metrics needs a token of scope 'metrics', not '{token.scope}'; create one "
                "with `python manage.py create_token --scope metrics --name prometheus`."
            )
        if token.limited:
            return "A metrics token sees every service: create one without limits."
        return None
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return "The client's address cannot be read."
    if any(address in network for network in allowed_networks()):
        return None
    forwarded = "HTTP_X_FORWARDED_FOR" in request.META or "HTTP_FORWARDED" in request.META
    trusted = int(settings.DORA_TRUSTED_PROXY_COUNT or 0) > 0
    if address.is_loopback and (trusted or not forwarded):
        return None
    return (
        "GET /metrics needs a token of scope 'metrics' (Authorization: Bearer), or a client "
        "address in DORA_METRICS_ALLOWED_NETWORKS."
    )


@never_cache
@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """The Prometheus text exposition, or 403 saying what to do."""
    if refusal := scrape_refusal(request):
        return JsonResponse({"detail": refusal}, status=403)
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)
