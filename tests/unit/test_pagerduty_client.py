"""PagerDuty REST reads against `responses` mocks (no network), pages built from the fixture."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from responses import matchers

from ingest.http import SourceUnavailable
from ingest.sources.pagerduty.client import API, incidents_read, pagerduty_client
from ingest.sources.pagerduty.mapper import PagerDutyMapping
from tests.shared import shared_fixture

SINCE = datetime(2022, 11, 1, tzinfo=UTC)
UNTIL = datetime(2022, 11, 4, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def fixture_incidents() -> list[dict[str, Any]]:
    with shared_fixture("pagerduty", "_raw_pagerduty_incidents.csv").open() as f:
        return [json.loads(row["data"]) for row in csv.DictReader(f)]


def list_page(offset: int, items: list[dict[str, Any]], more: bool) -> None:
    bare = [{k: v for k, v in i.items() if k != "log_entries"} for i in items]
    responses.get(
        f"{API}/incidents",
        json={"incidents": bare, "limit": 100, "offset": offset, "more": more},
        match=[matchers.query_param_matcher({"offset": str(offset)}, strict_match=False)],
    )


def entries_page(incident: dict[str, Any]) -> None:
    responses.get(
        f"{API}/incidents/{incident['id']}/log_entries",
        json={"log_entries": incident["log_entries"], "more": False},
    )


@responses.activate
def test_two_pages_with_log_entries_mapped() -> None:
    first, second, third = fixture_incidents()
    list_page(0, [first, second], more=True)
    list_page(100, [third], more=False)
    for incident in (first, second, third):
        entries_page(incident)
    client = pagerduty_client("k3y", clock=Clock())
    mapped = incidents_read(
        client, PagerDutyMapping(services={"PIKL83L": "checkout"}), since=SINCE, until=UNTIL
    )
    assert [e["id"] for e in mapped.events] == [
        "Q3YON8WNWTZMRQ",
        "Q3CZAU7Q4008QD",
        "Q1OHFWFP3GPXOG",
    ]
    # the log entries came from their own endpoint: the list pages carried none
    assert mapped.events[0]["acknowledged_at"] == "2022-11-03T06:23:07Z"
    assert mapped.events[2]["resolved_at"] == "2022-11-03T06:51:44Z"
    listing = responses.calls[0].request
    assert listing.headers["Authorization"] == "Token token=k3y"
    assert listing.headers["Accept"] == "application/json"
    assert "X-GitHub-Api-Version" not in listing.headers
    assert "since=2022-11-01T00%3A00%3A00%2B00%3A00" in listing.url
    assert "sort_by=created_at%3Aasc" in listing.url
    assert len(responses.calls) == 5  # 2 list pages + 3 log entry lists


@responses.activate
def test_unmapped_incidents_are_skipped_without_fetching_their_log_entries() -> None:
    list_page(0, fixture_incidents(), more=False)
    mapped = incidents_read(
        pagerduty_client("k", clock=Clock()),
        PagerDutyMapping(services={}),
        since=SINCE,
        until=UNTIL,
        service_ids=["PIKL83L"],
    )
    assert mapped.events == () and len(mapped.skipped) == 3
    assert len(responses.calls) == 1
    assert "service_ids%5B%5D=PIKL83L" in responses.calls[0].request.url


@responses.activate
def test_429_waits_retry_after_on_the_clock() -> None:
    responses.get(f"{API}/incidents", status=429, headers={"Retry-After": "7"})
    responses.get(f"{API}/incidents", json={"incidents": [], "more": False})
    clock = Clock()
    mapped = incidents_read(
        pagerduty_client("k", clock=clock), PagerDutyMapping({}), since=SINCE, until=UNTIL
    )
    assert mapped.events == () and clock.sleeps == [7.0]


@responses.activate
def test_a_window_past_the_offset_limit_stops_with_a_reason() -> None:
    responses.get(f"{API}/incidents", json={"incidents": [], "more": True})
    with pytest.raises(SourceUnavailable, match="shorter one"):
        incidents_read(
            pagerduty_client("k", clock=Clock()), PagerDutyMapping({}), since=SINCE, until=UNTIL
        )
    assert len(responses.calls) == 100  # offsets 0, 100, ..., 9900
