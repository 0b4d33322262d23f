"""Bearer-token authentication for the API (tokens are stored hashed, each with one scope)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from dora.intake.event_base import Event
from dora.models import ApiToken, Service
from dora.prepared import aware, prepared_rows
from dora.web.access import Access

LAST_USED_RESOLUTION = timedelta(minutes=1)
_LOOKUP_SQL = """
SELECT id, name, scope, prefix, last_used_at, expires_at, services, teams, event_types
FROM dora_apitoken WHERE digest = %(digest)s AND NOT revoked
"""
_USED_SQL = "UPDATE dora_apitoken SET last_used_at = %(now)s WHERE id = %(id)s"


class TokenUser(AnonymousUser):
    """The caller behind a token: authenticated, but not a Django user."""

    def __init__(self, token: ApiToken) -> None:
        super().__init__()
        self.token = token
        self.username = f"token:{token.name}"

    @property
    def is_authenticated(self) -> bool:  # type: ignore[override]
        return True

    def __str__(self) -> str:
        return self.username


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>`; the token's sha256 is looked up, never the token itself."""

    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[TokenUser, ApiToken] | None:
        header = authentication.get_authorization_header(request).decode(errors="replace")
        if not header:
            return None
        keyword, _, raw = header.partition(" ")
        if keyword.lower() != self.keyword.lower():
            return None
        raw = raw.strip()
        if not raw:
            raise exceptions.AuthenticationFailed("Authorization: Bearer needs a token after it.")
        found = prepared_rows(_LOOKUP_SQL, {"digest": ApiToken.hash(raw)})
        if not found:
            raise exceptions.AuthenticationFailed(
                "Unknown or revoked token; create one with `python manage.py create_token`."
            )
        pk, name, scope, prefix, last_used_at, expires_at, services, teams, types = found[0]
        token = ApiToken(
            id=pk,
            name=name,
            scope=scope,
            prefix=prefix,
            last_used_at=aware(last_used_at),
            expires_at=aware(expires_at),
            services=_json_list(services),
            teams=_json_list(teams),
            event_types=_json_list(types),
        )
        now = timezone.now()
        if token.expires_at is not None and token.expires_at <= now:
            raise exceptions.AuthenticationFailed(
                f"This token ({token.prefix}…, '{token.name}') expired at "
                f"{token.expires_at:%Y-%m-%d %H:%M} UTC; create a new one with "
                "`python manage.py create_token`."
            )
        # A write per request would cost the gate's hot path a round trip and row churn; the
        # admin only needs to know roughly when a token was last used.
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            prepared_rows(_USED_SQL, {"id": pk, "now": now})
        return TokenUser(token), token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


def _json_list(value: Any) -> list[str]:
    """A JSON list column read raw: a list on PostgreSQL, its text on SQLite."""
    if isinstance(value, str):
        value = json.loads(value)
    return [str(item) for item in value or []]


def token_access(token: ApiToken) -> Access:
    """What a token may see and act on: everything, or its services (those it names and those
    of the teams it names, as the teams are now)."""
    if not (token.services or token.teams):
        return Access(everything=True)
    services = set(token.services)
    if token.teams:
        services.update(
            Service.objects.filter(team__name__in=token.teams).values_list("name", flat=True)
        )
    return Access(everything=False, teams=frozenset(token.teams), services=frozenset(services))


def request_token(request: Request) -> ApiToken | None:
    return request.auth if isinstance(request.auth, ApiToken) else None


def sender_of(request: Request) -> str:
    """Who sent a request's events, as stored with them (RawEvent.sent_by)."""
    token = request_token(request)
    if token is not None:
        return f"token:{token.name} ({token.prefix}…)"
    return f"user:{getattr(request.user, 'username', '') or 'anonymous'}"


def token_event_refusal(token: ApiToken) -> Callable[[Event], str | None]:
    """Why a token may not send an event (None when it may): its event types, its services.

    Events that name no service (commits, changes, pipeline runs) belong to the repositories of
    the token's services.
    """
    access = token_access(token)
    types = set(token.event_types)
    repos: set[str] | None = None
    if not access.everything:
        repos = {
            repo
            for service_repos in Service.objects.filter(
                name__in=sorted(access.services)
            ).values_list("repos", flat=True)
            for repo in service_repos or []
        }

    def refusal(event: Event) -> str | None:
        if types and event.type not in types:
            return (
                f"type: this token may send {', '.join(sorted(types))} events only, "
                f"not {event.type}"
            )
        if access.everything:
            return None
        service = event.fields.get("service")
        if service is not None and not access.service_allowed(service):
            return f"service: this token may not send events about service {service!r}"
        repo = event.fields.get("repo")
        if service is None and repo is not None and repo not in (repos or set()):
            return f"repo: {repo!r} is not a repository of this token's services"
        return None

    return refusal


def scope_required(scope: str) -> type[permissions.BasePermission]:
    """A permission: a token of `scope`, or a logged-in staff user (session) for reads."""

    class HasScope(permissions.BasePermission):
        message = f"This endpoint needs a token of scope '{scope}'."

        def has_permission(self, request: Request, view: Any) -> bool:
            token = request.auth if isinstance(request.auth, ApiToken) else None
            if token is not None:
                return token.scope == scope
            user = request.user
            return bool(user and user.is_authenticated and (scope == "read" or user.is_staff))

    HasScope.__name__ = f"Has{scope.title()}Scope"
    return HasScope


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "dora.api.auth.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer"}
