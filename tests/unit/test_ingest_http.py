"""ingest.http's policy against `responses` mocks, on a fake clock (no real waits, no network)."""

from __future__ import annotations

import pytest
import requests
import responses

from ingest.http import RestClient, SourceRejected, SourceUnavailable

API = "https://ghe.example.com/api/v3"


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def budget(remaining: int, reset: int = 1_600) -> dict[str, str]:
    return {"X-RateLimit-Remaining": str(remaining), "X-RateLimit-Reset": str(reset)}


@responses.activate
def test_http_low_budget_sleeps_until_the_reset_before_the_next_request() -> None:
    clock = Clock()
    responses.get(f"{API}/a", json=[], headers=budget(3))
    responses.get(f"{API}/b", json=[], headers=budget(4999, 5_000))
    client = RestClient(API, token="x", clock=clock)
    client.get("/a")
    client.get("/b")
    assert clock.sleeps == [601.0]  # reset 1600 - now 1000, plus a second
    assert client.stats.rate_remaining == 4999
    assert responses.calls[0].request.headers["Authorization"] == "Bearer x"


@responses.activate
def test_http_primary_limit_403_waits_for_the_reset_then_succeeds() -> None:
    clock = Clock()
    responses.get(f"{API}/a", status=403, json={"message": "API rate limit"}, headers=budget(0))
    responses.get(f"{API}/a", json=[1], headers=budget(5000, 9_999))
    page = RestClient(API, clock=clock, low_budget=0).get("/a")
    assert page.data == [1]
    assert clock.sleeps == [601.0]


@responses.activate
def test_http_secondary_limit_without_retry_after_waits_a_minute() -> None:
    clock = Clock()
    responses.get(
        f"{API}/a", status=403, json={"message": "You have exceeded a secondary rate limit"}
    )
    responses.get(f"{API}/a", json=[])
    RestClient(API, clock=clock).get("/a")
    assert clock.sleeps == [60.0]


@responses.activate
def test_http_5xx_backs_off_then_gives_up_as_unavailable() -> None:
    clock = Clock()
    responses.get(f"{API}/a", status=502)
    with pytest.raises(SourceUnavailable, match="502"):
        RestClient(API, clock=clock, attempts=4).get("/a")
    assert clock.sleeps == [1.0, 2.0, 4.0]


@responses.activate
def test_http_connection_errors_are_retried() -> None:
    clock = Clock()
    responses.get(f"{API}/a", body=requests.ConnectionError("reset"))
    responses.get(f"{API}/a", json={"ok": True})
    assert RestClient(API, clock=clock).get("/a").data == {"ok": True}


@responses.activate
def test_http_permission_403_and_404_are_rejected_with_what_to_fix() -> None:
    responses.get(f"{API}/a", status=403, json={"message": "Resource not accessible"})
    responses.get(f"{API}/b", status=404, json={"message": "Not Found"})
    client = RestClient(API, clock=Clock())
    with pytest.raises(SourceRejected, match="permission"):
        client.get("/a")
    with pytest.raises(SourceRejected, match="no such repository"):
        client.get("/b")


@responses.activate
def test_http_conditional_request_and_304_and_link_pagination() -> None:
    responses.get(
        f"{API}/list",
        json=[1],
        headers={"ETag": '"v1"', "Link": f'<{API}/list?page=2>; rel="next"'},
    )
    responses.get(f"{API}/list", status=304)
    client = RestClient(API, clock=Clock())
    page = client.get("/list", {"per_page": 100})
    assert (page.etag, page.next_url) == ('"v1"', f"{API}/list?page=2")
    again = client.get("/list", {"per_page": 100}, etag=page.etag, last_modified="Mon, 09 Mar 2026")
    assert again.not_modified and again.data is None
    sent = responses.calls[1].request.headers
    assert sent["If-None-Match"] == '"v1"' and sent["If-Modified-Since"] == "Mon, 09 Mar 2026"
    assert client.stats.not_modified == 1 and client.stats.calls == 2
