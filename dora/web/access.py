"""Who may see which teams and services on the dashboards (and the metrics API for sessions).

One rule, in one place: a team's members (Team.members, usernames) see that team and its
services; staff, superusers and the `leadership` group see everything, services without a team
included; with DORA_PUBLIC_DASHBOARDS=1 anonymous visitors see everything, read-only (for a
trusted network). `access_rule` is the pure rule; `access_for` reads what it needs (two
queries) for a request's user.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.cache import patch_cache_control

from dora.models import Service, Team
from dora.reads.scope import Scope

LEADERSHIP_GROUP = "leadership"


@dataclass(frozen=True)
class Access:
    """What one viewer may see: everything, or these teams and these services."""

    everything: bool
    teams: frozenset[str] = frozenset()
    services: frozenset[str] = frozenset()

    def team_allowed(self, team: str) -> bool:
        return self.everything or team in self.teams

    def service_allowed(self, service: str) -> bool:
        return self.everything or service in self.services

    def scope_allowed(self, scope: Scope) -> bool:
        """A metrics scope (CONTRACT §3) lies inside what the viewer may see.

        The whole organisation (no team, no service) only for those who see everything; a team
        scope needs that team, a service scope every named service.
        """
        if self.everything:
            return True
        if not scope.team and not scope.services:
            return False
        if scope.team and scope.team not in self.teams:
            return False
        return all(name in self.services for name in scope.services)

    @property
    def only_team(self) -> str | None:
        """The viewer's one team, when they belong to exactly one and do not see everything
        (where they land after logging in, dora.web.navigation); else None."""
        if self.everything or len(self.teams) != 1:
            return None
        return next(iter(self.teams))

    def visible_scope(self) -> Scope | None:
        """The scope of everything visible; None when that is nothing at all."""
        if self.everything:
            return Scope()
        if not self.services:
            return None
        return Scope(services=tuple(sorted(self.services)))


def access_rule(
    *,
    username: str | None,
    sees_everything: bool,
    teams: Iterable[tuple[str, Iterable[str]]],
    services: Iterable[tuple[str, str | None]],
) -> Access:
    """The rule itself, without the database.

    teams: (team name, member usernames); services: (service name, owning team name or None).
    A viewer without a username (anonymous) who does not see everything sees nothing.
    """
    if sees_everything:
        return Access(everything=True)
    if not username:
        return Access(everything=False)
    mine = frozenset(name for name, members in teams if username in set(members or ()))
    owned = frozenset(name for name, team in services if team is not None and team in mine)
    return Access(everything=False, teams=mine, services=owned)


def public_dashboards() -> bool:
    """DORA_PUBLIC_DASHBOARDS=1: anonymous read-only access to every dashboard."""
    return bool(getattr(settings, "DORA_PUBLIC_DASHBOARDS", False))


def is_leader(user: Any) -> bool:
    """Staff, superusers and members of the `leadership` group see every team."""
    if not getattr(user, "is_authenticated", False):
        return False
    if getattr(user, "is_superuser", False) or getattr(user, "is_staff", False):
        return True
    groups = getattr(user, "groups", None)
    return bool(groups is not None and groups.filter(name=LEADERSHIP_GROUP).exists())


def access_for(user: Any) -> Access:
    """What `user` (a Django user, possibly anonymous) may see; at most two queries."""
    authenticated = bool(getattr(user, "is_authenticated", False))
    if not authenticated:
        return Access(everything=public_dashboards())
    if is_leader(user):
        return Access(everything=True)
    username = user.get_username()
    # Team.members is a JSON list; a JSON `contains` lookup is not portable (SQLite), and the
    # team table is small, so the membership test runs here.
    teams = [
        (name, members or [])
        for name, members in Team.objects.values_list("name", "members").order_by()
    ]
    mine = {name for name, members in teams if username in members}
    services = (
        Service.objects.filter(team__name__in=mine).values_list("name", "team__name").order_by()
        if mine
        else []
    )
    return access_rule(username=username, sees_everything=False, teams=teams, services=services)


def private_page(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """`Cache-Control: private, no-store` on the view's responses.

    Each page shows what its viewer may see (a member's teams, leadership's whole estate), so a
    shared proxy must never hand one viewer's page to another (private), and a browser keeps no
    copy on disk once its user has logged out of a shared machine (no-store). The figures come
    from dashboard snapshots, so fetching a page again costs little.
    """

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        patch_cache_control(response, private=True, no_store=True)
        return response

    return wrapped


def dashboard_view(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Log in first (unless dashboards are public); the view gets `request.access`; the
    response is private to its viewer (`private_page`)."""

    @wraps(view)
    @private_page
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated and not public_dashboards():
            return redirect_to_login(request.get_full_path(), login_url=reverse("login"))
        request.access = access_for(request.user)  # type: ignore[attr-defined]
        return view(request, *args, **kwargs)

    return wrapped


def names_allowed(access: Access, *, team: str | None = None, services: Iterable[str] = ()) -> bool:
    """The viewer may see the named team and every named service.

    Checked before any name is looked up: for a viewer who does not see everything, a name they
    may not see and a name that does not exist must answer alike (403, the same text), or the
    answers would list the other teams' and services' names. A viewer who sees everything is
    told about a typo instead (the lookup's 400 or 404).
    """
    if access.everything:
        return True
    if team and team not in access.teams:
        return False
    return all(name in access.services for name in services)


def team_required(access: Access, team: str) -> None:
    """PermissionDenied (403) unless the viewer may see `team` (before it is looked up: an
    unknown team answers the same, see `names_allowed`)."""
    if not names_allowed(access, team=team):
        raise PermissionDenied(f"You are not a member of the team {team!r}.")


def service_required(access: Access, service: str) -> None:
    """PermissionDenied (403) unless the viewer may see `service` (before it is looked up)."""
    if not names_allowed(access, services=[service]):
        raise PermissionDenied(f"You may not see the service {service!r}.")
