"""Bearer-token authentication for the API (tokens are stored hashed, each with one scope)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AnonymousUser
from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions
from rest_framework.request import Request

from dora.models import ApiToken
from dora.prepared import aware, prepared_rows

LAST_USED_RESOLUTION = timedelta(minutes=1)
_LOOKUP_SQL = """
SELECT id, name, scope, prefix, last_used_at FROM dora_apitoken
WHERE digest = %(digest)s AND NOT revoked
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
        pk, name, scope, prefix, last_used_at = found[0]
        token = ApiToken(
            id=pk, name=name, scope=scope, prefix=prefix, last_used_at=aware(last_used_at)
        )
        now = timezone.now()
        # A write per request would cost the gate's hot path a round trip and row churn; the
        # admin only needs to know roughly when a token was last used.
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            prepared_rows(_USED_SQL, {"id": pk, "now": now})
        return TokenUser(token), token

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


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
