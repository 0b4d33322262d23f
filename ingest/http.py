"""One HTTP policy for REST sources: conditional GETs, rate-limit waits, retries, Link pagination.

Why requests and not PyGithub for the list endpoints: PyGithub 2.x pages through
`PaginatedList` without a way to send `If-None-Match` / `If-Modified-Since` on a list page or to
see its 304 (its `etag`/`last_modified` exist only on single objects it re-fetches), and its
retry (`GithubRetry`, a urllib3 `Retry`) sleeps with `time.sleep` inside urllib3, so a test
cannot run it on a fake clock and a sync cannot report what it waited for. A sync that must
make only conditional requests when nothing changed needs both, so the collector reads the
documented REST JSON through this module; the mappers (`ingest.sources.github.mapper`) take the
same JSON either way.

Policy, per GitHub's docs (docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api
and .../best-practices-for-using-the-rest-api):
- every response's X-RateLimit-Remaining / X-RateLimit-Reset are recorded; when the remaining
  budget falls below `low_budget` the next request first sleeps until the reset;
- 403/429 with Retry-After: sleep that long and retry; 403/429 with a zero remaining budget:
  sleep until the reset; a secondary-rate-limit 403 without either: wait a minute, then back off;
- 5xx and connection errors: retried with exponential backoff; after `attempts` tries the sync
  stops with SourceUnavailable (transient: a later run resumes);
- 401: when the credential can renew itself (a GitHub App installation token), renewed once
  and the request retried; otherwise, and on other 403s, 404, 422: SourceRejected with what to
  fix (a human must act);
- a 304 answers a conditional request: it does not count against the primary budget.
All sleeps go through the injected clock, so tests never wait.

The budget belongs to the credential, not to a client: GitHub counts requests per token (per
installation for an App), so every client, repository and source signed with one credential
records into and waits on one `RateBudget` (`rate_budget_for(credential.budget_key)`).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import requests

PER_PAGE = 100
_RETRY_STATUSES = {500, 502, 503, 504}
_SECONDARY_WAIT_SECONDS = 60.0
_MAX_BACKOFF_SECONDS = 120.0


class SourceUnavailable(Exception):
    """A transient failure (network, 5xx, limits that outlast the retries): retry later."""


class SourceRejected(Exception):
    """The source refused us for a reason a human must fix (token, permission, name)."""


class Clock(Protocol):
    def time(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def time(self) -> float:
        return time.time()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class Credential(Protocol):
    """What signs a client's requests: a fixed token, or one that renews itself."""

    @property
    def budget_key(self) -> str: ...

    def authorization(self) -> str | None:
        """The Authorization header's value (None: anonymous)."""
        ...

    def renew(self) -> bool:
        """Get a fresh token after a 401; False when this credential cannot."""
        ...


@dataclass(frozen=True)
class StaticToken:
    """A personal or fine-grained token read from the environment: sent as it is, never renewed."""

    token: str | None
    base_url: str = ""

    @property
    def budget_key(self) -> str:
        # A hash, so that the key can be logged and kept without the secret in it.
        digest = hashlib.sha256(f"{self.base_url}\0{self.token or ''}".encode()).hexdigest()
        return f"token:{digest[:16]}"

    def authorization(self) -> str | None:
        return f"Bearer {self.token}" if self.token else None

    def renew(self) -> bool:
        return False


@dataclass
class RateBudget:
    """One credential's primary rate budget: the last X-RateLimit-* headers any client saw."""

    remaining: int | None = None
    limit: int | None = None
    reset: float | None = None  # epoch seconds


_BUDGETS: dict[str, RateBudget] = {}
_BUDGETS_LOCK = threading.Lock()


def rate_budget_for(key: str) -> RateBudget:
    """The process's budget for a credential (`Credential.budget_key`), created on first use."""
    with _BUDGETS_LOCK:
        return _BUDGETS.setdefault(key, RateBudget())


def rate_budgets_forget() -> None:
    """Drop every recorded budget (tests; a budget is otherwise kept for the process's life)."""
    with _BUDGETS_LOCK:
        _BUDGETS.clear()


@dataclass
class HttpStats:
    """What a client did: requests sent, 304s, retries, seconds slept, the last rate budget."""

    calls: int = 0
    not_modified: int = 0
    retries: int = 0
    slept_seconds: float = 0.0
    rate_remaining: int | None = None
    rate_limit: int | None = None
    rate_reset: float | None = None  # epoch seconds

    def as_dict(self) -> dict[str, Any]:
        return {
            "api_calls": self.calls,
            "not_modified": self.not_modified,
            "retries": self.retries,
            "slept_seconds": round(self.slept_seconds, 3),
            "rate_remaining": self.rate_remaining,
            "rate_limit": self.rate_limit,
            "rate_reset": self.rate_reset,
        }


@dataclass(frozen=True)
class Page:
    """One response: its JSON (None on a 304), validators and the next page's URL."""

    status: int
    data: Any
    etag: str
    last_modified: str
    next_url: str | None
    url: str
    last_url: str | None = None  # Link rel="last": how many pages the list has

    @property
    def not_modified(self) -> bool:
        return self.status == 304


@dataclass
class RestClient:
    """A requests.Session bound to one API root and credential, applying the policy above.

    `token` is a fixed token (sent as `Bearer`); `credential` replaces it (a GitHub App's
    installation token). `budget` is the credential's shared RateBudget; left out, the client
    keeps one of its own.
    """

    base_url: str
    token: str | None = None
    clock: Clock = field(default_factory=SystemClock)
    session: requests.Session = field(default_factory=requests.Session)
    low_budget: int = 50
    attempts: int = 6
    timeout: float = 30.0
    stats: HttpStats = field(default_factory=HttpStats)
    credential: Credential | None = None
    budget: RateBudget = field(default_factory=RateBudget)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self.session.headers.update(
            {
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
                "User-Agent": "dora-metrics-sync",
            }
        )
        if self.credential is None:
            self.credential = StaticToken(self.token, self.base_url)

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def get(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        etag: str = "",
        last_modified: str = "",
    ) -> Page:
        """GET one page (conditional when validators are given), waiting and retrying per policy."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        url = self.url(path)
        renewed = False
        attempt = 0
        while attempt < self.attempts:
            attempt += 1
            self._wait_for_budget()
            self.stats.calls += 1
            authorization = self.credential.authorization() if self.credential else None
            if authorization:
                headers["Authorization"] = authorization
            try:
                response = self.session.get(
                    url, params=params, headers=headers, timeout=self.timeout
                )
            except requests.RequestException as exc:
                if attempt == self.attempts:
                    raise SourceUnavailable(f"{url}: {exc}") from exc
                self._retry_sleep(self._backoff(attempt))
                continue
            self._read_budget(response)
            if response.status_code == 401 and not renewed and self.credential is not None:
                # An installation token revoked or expired early: one fresh token, one retry
                # (not counted as an attempt); a second 401 is a rejection.
                renewed = True
                if self.credential.renew():
                    self.stats.retries += 1
                    attempt -= 1
                    continue
            wait = self._retry_wait(response, attempt)
            if wait is None:
                return self._page(response)
            if attempt == self.attempts:
                raise SourceUnavailable(
                    f"{url}: HTTP {response.status_code} after {attempt} attempts"
                )
            self._retry_sleep(wait)
        raise AssertionError("unreachable")

    # -- policy ----------------------------------------------------------------------------

    def _page(self, response: requests.Response) -> Page:
        if response.status_code == 304:
            self.stats.not_modified += 1
            data = None
        elif response.ok:
            data = response.json()
        else:
            raise SourceRejected(_rejection(response))
        return Page(
            status=response.status_code,
            data=data,
            etag=response.headers.get("ETag", ""),
            last_modified=response.headers.get("Last-Modified", ""),
            next_url=(response.links.get("next") or {}).get("url"),
            url=response.url,
            last_url=(response.links.get("last") or {}).get("url"),
        )

    def _retry_wait(self, response: requests.Response, attempt: int) -> float | None:
        """Seconds to wait before retrying this response, or None when it is final."""
        status = response.status_code
        if status in _RETRY_STATUSES:
            return self._backoff(attempt)
        if status not in (403, 429):
            return None
        retry_after = response.headers.get("Retry-After")
        if retry_after is not None:
            try:
                return max(float(retry_after), 0.0)
            except ValueError:
                return _SECONDARY_WAIT_SECONDS
        if response.headers.get("X-RateLimit-Remaining") == "0":
            return self._until_reset()
        if status == 429 or "secondary rate limit" in response.text.lower():
            return max(_SECONDARY_WAIT_SECONDS, self._backoff(attempt))
        return None  # a 403 for permissions: not retried

    def _backoff(self, attempt: int) -> float:
        return min(2.0 ** (attempt - 1), _MAX_BACKOFF_SECONDS)

    def _until_reset(self) -> float:
        if self.budget.reset is None:
            return _SECONDARY_WAIT_SECONDS
        return max(self.budget.reset - self.clock.time(), 0.0) + 1.0

    def _read_budget(self, response: requests.Response) -> None:
        """Record the headers into the credential's budget (and this client's stats)."""
        headers = response.headers
        for header, attr in (
            ("X-RateLimit-Remaining", "remaining"),
            ("X-RateLimit-Limit", "limit"),
            ("X-RateLimit-Reset", "reset"),
        ):
            value = headers.get(header)
            if value is not None and value.strip().isdigit():
                setattr(self.budget, attr, int(value))
                setattr(self.stats, f"rate_{attr}", int(value))

    def _wait_for_budget(self) -> None:
        """Before a request: when the credential's budget is low, sleep until its reset (any
        client of the credential may have spent it)."""
        budget = self.budget
        if budget.remaining is not None and budget.remaining < self.low_budget and budget.reset:
            wait = self._until_reset()
            if wait > 1.0:
                self._retry_sleep(wait)
            budget.remaining = None  # re-read from the next response

    def _retry_sleep(self, seconds: float) -> None:
        self.stats.retries += 1
        self.stats.slept_seconds += seconds
        self.clock.sleep(seconds)


def _rejection(response: requests.Response) -> str:
    try:
        message = response.json().get("message", "")
    except ValueError:
        message = response.text[:200]
    where = f"{response.request.method} {response.url}: HTTP {response.status_code} {message}"
    hints = {
        401: "the token is missing, expired or wrong: set a valid one in the source's token_env "
        "(a GitHub App: check app_id, the private key and the installation)",
        403: "the token lacks a permission (repo, actions, deployments read) or SSO authorization",
        404: "no such repository or organisation, or the token cannot see it",
    }
    hint = hints.get(response.status_code)
    return f"{where} ({hint})" if hint else where
