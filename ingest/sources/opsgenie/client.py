"""Opsgenie REST reads: incidents (Incident API v1) and alerts (Alert API v2), paged by offset.

Through ingest.http's policy (timeouts, retries on 429/5xx with backoff, injected clock), with
Opsgenie's own header: `Authorization: GenieKey <key>` (an API integration's key, or an account
API key with read access). The EU instance is `https://api.eu.opsgenie.com` (the source's
`base_url`). Both lists take a search `query`, `offset`, `limit` (at most 100), `sort` and `order`
and answer `{"data": [...], "paging": {"next": ...}}`; `paging.next` is absent on the last page.
docs.opsgenie.com/docs/incident-api (List Incidents), docs.opsgenie.com/docs/alert-api (List Alerts)
Search syntax (docs.opsgenie.com/docs/search-syntax-for-incidents, ...-for-alerts): `createdAt`
takes `<`, `<=`, `>`, `>=` against epoch milliseconds; `tag: <name>` matches an alert's tag.
The sync (sync.py) pages these lists itself, a cursor saved per page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ingest.http import Clock, Page, RestClient, SystemClock

API = "https://api.opsgenie.com"
EU_API = "https://api.eu.opsgenie.com"
LIMIT = 100  # the lists' maximum page size
MAX_OFFSET = 20_000  # the Alert API refuses offset + limit past this; the sync re-windows
INCIDENTS_PATH = "/v1/incidents"
ALERTS_PATH = "/v2/alerts"


def opsgenie_client(key: str, *, base_url: str = API, clock: Clock | None = None) -> RestClient:
    """A RestClient speaking Opsgenie's headers (the GitHub ones it sets are replaced)."""
    client = RestClient(base_url, token=None, clock=clock or SystemClock())
    client.session.headers.pop("X-GitHub-Api-Version", None)
    client.session.headers["Accept"] = "application/json"
    client.session.headers["Authorization"] = f"GenieKey {key}"
    return client


def epoch_millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def created_query(since: datetime, until: datetime, tag: str | None = None) -> str:
    """The search query of a window [since, until) of creation times, optionally of one tag."""
    query = f"createdAt >= {epoch_millis(since)} AND createdAt < {epoch_millis(until)}"
    if tag:
        escaped = tag.replace("\\", "\\\\").replace('"', '\\"')
        query = f'tag: "{escaped}" AND {query}'
    return query


def list_params(query: str, offset: int, limit: int = LIMIT) -> dict[str, Any]:
    """One page of a list, oldest first."""
    return {"query": query, "offset": offset, "limit": limit, "sort": "createdAt", "order": "asc"}


def incidents_page(
    client: RestClient, *, since: datetime, until: datetime, offset: int, limit: int = LIMIT
) -> Page:
    """`GET /v1/incidents`: the incidents created in [since, until), oldest first."""
    return client.get(INCIDENTS_PATH, list_params(created_query(since, until), offset, limit))


def alerts_page(
    client: RestClient,
    *,
    tag: str,
    since: datetime,
    until: datetime,
    offset: int,
    limit: int = LIMIT,
) -> Page:
    """`GET /v2/alerts`: the alerts tagged `tag` created in [since, until), oldest first."""
    return client.get(ALERTS_PATH, list_params(created_query(since, until, tag), offset, limit))


def page_items(page: Page) -> tuple[list[dict[str, Any]], bool]:
    """A list page's objects and whether another page follows (`paging.next`)."""
    data = page.data or {}
    items = [item for item in data.get("data") or [] if isinstance(item, dict)]
    return items, bool((data.get("paging") or {}).get("next"))
