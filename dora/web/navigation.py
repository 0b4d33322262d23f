"""Navigation: where a viewer lands after logging in, the teams the header's switcher lists,
the header's current section, and each page's breadcrumbs (Overview › team › service › page)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from dora.models import Service, Team
from dora.web.access import Access, access_for

# The header's sections, by the URL names of their pages (the entry marked aria-current).
SECTIONS = {
    "dashboard-overview": "overview",
    "dashboard-team": "teams",
    "dashboard-service": "teams",
    "dashboard-explain": "teams",
    "dashboard-estate": "estate",
    "dashboard-estate-configuration": "estate",
    "dashboard-gate": "gate",
    "dashboard-gate-decision": "gate",
    "dashboard-report": "report",
    "definitions": "definitions",
}


def landing_url(access: Access) -> str:
    """The page a viewer starts on: their team's page when they belong to exactly one team and
    do not see everything (leadership, staff); else the organisation overview (which tells a
    user in no team whom to ask)."""
    team = access.only_team
    if team is not None:
        return team_url(team)
    return reverse("dashboard-overview")


def team_url(team: str) -> str:
    return f"{reverse('dashboard-team')}?{urlencode({'team': team})}"


def service_url(service: str) -> str:
    return f"{reverse('dashboard-service')}?{urlencode({'service': service})}"


def visible_teams(access: Access) -> list[str]:
    """The names of the teams the viewer may see, sorted (one query for leadership)."""
    if access.everything:
        return list(Team.objects.order_by("name").values_list("name", flat=True))
    return sorted(access.teams)


def request_access(request: HttpRequest) -> Access:
    """The viewer's Access: the one a dashboard view already read (request.access), else read
    now and kept on the request."""
    access = getattr(request, "access", None)
    if access is None:
        access = access_for(getattr(request, "user", None))
        request.access = access  # type: ignore[attr-defined]
    return access


def navigation_context(request: HttpRequest) -> dict[str, Any]:
    """Template context processor: the header's current section and its team switcher's teams
    (read only when a page's header shows the switcher)."""
    match = getattr(request, "resolver_match", None)
    return {
        "nav_section": SECTIONS.get(match.url_name if match else "", ""),
        "nav_teams": SimpleLazyObject(lambda: visible_teams(request_access(request))),
    }


def crumb(label: str, url: str | None = None) -> dict[str, Any]:
    return {"label": label, "url": url}


def breadcrumbs(
    access: Access,
    *,
    team: str | None = None,
    service: str | None = None,
    trail: tuple[dict[str, Any], ...] = (),
    params: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Overview › team › service › trail, each linked but the last (the page itself).

    `params`: query parameters every link keeps (the page's window, dora.window), so moving up
    a level keeps the weeks the viewer was looking at.

    `service` without `team`: its owning team is looked up (one query) and named when the viewer
    may see it. A name the viewer may not see is never linked.
    """
    if service and not team:
        team = Service.objects.filter(name=service).values_list("team__name", flat=True).first()
    extra = f"&{urlencode(params)}" if params else ""
    crumbs = [crumb("Overview", reverse("dashboard-overview") + (f"?{extra[1:]}" if extra else ""))]
    if team and access.team_allowed(team):
        crumbs.append(crumb(team, team_url(team) + extra))
    if service:
        allowed = access.service_allowed(service)
        crumbs.append(crumb(service, service_url(service) + extra if allowed else None))
    crumbs += trail
    if crumbs:
        crumbs[-1] = crumb(crumbs[-1]["label"])  # the page itself: no link
    return crumbs
