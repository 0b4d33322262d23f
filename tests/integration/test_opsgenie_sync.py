"""The Opsgenie sync (ingest.sources.opsgenie.sync) against `responses` mocks (no network): a full
sync over two pages, a 429, an unchanged second sync, a crash between pages then a resume, a 401,
the alerts-as-incidents stream, and the source applied from the file.

The mock lists as Opsgenie does: `query` is `createdAt >= <ms> AND createdAt < <ms>` (alerts:
`tag: "<tag>" AND ...`), `sort=createdAt&order=asc`, `offset`/`limit`, and `paging.next` only when
another page follows. Its incidents are DevLake's two real ones (`_raw_opsgenie_incidents.csv`,
read by hand: #2 3f84e009 resolved P5 created 2023-09-05T18:20:28.003Z, #1 3a74524a open P3
created 2023-09-06T14:30:56.346Z) and a third derived from #2 (closed P1, created
2023-09-07T09:00Z).
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from dora.models import Incident, RawEvent, Service
from ingest.http import SourceRejected
from ingest.models import Source, SyncCursor
from ingest.sources.opsgenie.client import opsgenie_client
from ingest.sync import source_sync
from tests.fake_github import FakeClock
from tests.shared import shared_fixture

pytestmark = pytest.mark.django_db
API = "https://og.example.test"
NOW = datetime(2023, 9, 15, 12, tzinfo=UTC)
SERVICE = "695bce3d-4621-4630-8ae1-24eb89c22d6e"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "opsgenie"
_QUERY = re.compile(
    r'^(?:tag: "(?P<tag>[^"]*)" AND )?createdAt >= (?P<since>\d+) AND createdAt < (?P<until>\d+)$'
)


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def real_incidents() -> list[dict[str, Any]]:
    with shared_fixture("opsgenie", "_raw_opsgenie_incidents.csv").open() as f:
        rows = [json.loads(row["data"]) for row in csv.DictReader(f)]
    open_one, resolved = rows  # the CSV's order: #1 (open), #2 (resolved)
    third = {
        **resolved,
        "id": "0c1d2e3f-0000-4000-8000-000000000003",
        "message": "Incident#3",
        "status": "closed",
        "priority": "P1",
        "createdAt": "2023-09-07T09:00:00Z",
        "updatedAt": "2023-09-07T09:50:00Z",
        "impactStartDate": "2023-09-07T09:00:00Z",
        "impactEndDate": "2023-09-07T09:45:00Z",
    }
    return [resolved, open_one, third]


class FakeOpsgenie:
    """The two list endpoints, recording each query; `throttle` answers that many 429s first."""

    def __init__(self, mock: responses.RequestsMock, alerts: list[dict[str, Any]] = ()) -> None:
        self.incidents = real_incidents()
        self.alerts = list(alerts)
        self.queries: list[dict[str, str]] = []
        self.throttle = 0
        self.keys: list[str] = []
        mock.add_callback(responses.GET, f"{API}/v1/incidents", callback=self.listing)
        mock.add_callback(responses.GET, f"{API}/v2/alerts", callback=self.listing)

    def listing(self, request: Any) -> tuple[int, dict[str, str], str]:
        self.keys.append(request.headers.get("Authorization", ""))
        if self.throttle:
            self.throttle -= 1
            return 429, {"X-RateLimit-State": "THROTTLED"}, json.dumps({"message": "throttled"})
        query = {k: v[0] for k, v in parse_qs(urlsplit(request.url).query).items()}
        path = urlsplit(request.url).path
        self.queries.append({"path": path, **query})
        assert (query["sort"], query["order"]) == ("createdAt", "asc")
        match = _QUERY.match(query["query"])
        assert match, query["query"]
        since, until = int(match["since"]), int(match["until"])
        items = self.alerts if path == "/v2/alerts" else self.incidents
        window = sorted(
            (
                i
                for i in items
                if since <= ms(i["createdAt"]) < until
                and (match["tag"] is None or match["tag"] in i.get("tags", []))
            ),
            key=lambda i: ms(i["createdAt"]),
        )
        offset, limit = int(query["offset"]), int(query["limit"])
        body: dict[str, Any] = {"data": window[offset : offset + limit], "took": 0.01}
        if offset + limit < len(window):
            body["paging"] = {"next": f"{API}{path}?offset={offset + limit}&limit={limit}"}
        return 200, {}, json.dumps(body)


class Crash(Exception):
    pass


@pytest.fixture
def og() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def source(**incidents: Any) -> Source:
    Service.objects.create(name="checkout")
    return Source.objects.create(
        name="og",
        kind="opsgenie",
        base_url=API,
        token_env="OG_TEST_KEY",
        backfill_days=30,  # since 2023-08-16T12:00Z: all three incidents
        incidents={"services": {SERVICE: "checkout"}, **incidents},
    )


def sync(src: Source, clock: FakeClock | None = None, **options: Any) -> Any:
    clock = clock or FakeClock(NOW.timestamp())
    client = opsgenie_client("k3y", base_url=API, clock=clock)
    return source_sync(src, now=NOW, clock=clock, client=client, limit=2, **options)


def test_opsgenie_full_sync_over_two_pages_after_a_429(og: responses.RequestsMock) -> None:
    server = FakeOpsgenie(og)
    server.throttle = 1
    src = source()
    clock = FakeClock(NOW.timestamp())
    pages: list[dict[str, Any]] = []

    result = sync(src, clock, progress=pages.append)

    assert clock.sleeps == [60.0]  # a 429 without Retry-After: the client's minute
    assert server.keys[0] == "GenieKey k3y"
    assert result.events["created"] == 3 and result.objects["incidents"] == 3
    assert [q["offset"] for q in server.queries] == ["0", "2"]
    # NOW - 30 days = 2023-08-16T12:00Z; until NOW, in epoch milliseconds.
    assert server.queries[0]["query"] == "createdAt >= 1692187200000 AND createdAt < 1694779200000"
    assert len(pages) == 2  # the lease renewed after each page
    rows = {i.external_id: i for i in Incident.objects.filter(source="og")}
    one = rows["incident:3a74524a-f492-4172-b3f5-6041c7cb404a@checkout"]
    two = rows["incident:3f84e009-7548-4e7d-832a-fa82c1ceb6b1@checkout"]
    three = rows["incident:0c1d2e3f-0000-4000-8000-000000000003@checkout"]
    assert one.severity == "sev3" and one.resolved_at is None and one.title == "Incident#1"
    assert one.opened_at == datetime(2023, 9, 6, 14, 30, 56, 346000, tzinfo=UTC)
    assert two.severity == "sev5"
    assert two.resolved_at == datetime(2023, 9, 5, 18, 21, 21, 490000, tzinfo=UTC)
    assert three.severity == "sev1" and three.resolved_at == datetime(2023, 9, 7, 9, 45, tzinfo=UTC)
    assert one.mitigated_at is None and three.mitigated_at is None
    src.refresh_from_db()
    assert src.last_error == "" and src.last_sync_at == NOW
    cursor = SyncCursor.objects.get(source=src, stream="incidents")
    # #1 is still open: the next pass starts at it, to see it resolved.
    assert cursor.since == datetime(2023, 9, 6, 14, 30, 56, 346000, tzinfo=UTC)
    assert cursor.resume_url == ""
    assert not SyncCursor.objects.filter(source=src, stream="alerts").exists()  # no alerts_tag


def test_opsgenie_second_sync_with_nothing_new_asks_only_from_the_cursor(
    og: responses.RequestsMock,
) -> None:
    server = FakeOpsgenie(og)
    src = source()
    sync(src)
    server.queries.clear()

    result = sync(src)

    assert result.events["created"] == 0 and result.events["updated"] == 0
    assert result.events["unchanged"] == 2  # #1 (still open) and #3, created after it
    assert [(q["query"], q["offset"]) for q in server.queries] == [
        (f"createdAt >= {ms('2023-09-06T14:30:56.346Z')} AND createdAt < 1694779200000", "0")
    ]
    assert Incident.objects.filter(source="og").count() == 3


def test_opsgenie_crash_after_page_one_then_resume_loses_and_duplicates_nothing(
    og: responses.RequestsMock,
) -> None:
    server = FakeOpsgenie(og)
    src = source()

    def crash(info: dict[str, Any]) -> None:
        raise Crash  # page 1's events stored, its cursor not saved

    with pytest.raises(Crash):
        sync(src, progress=crash)
    assert Incident.objects.filter(source="og").count() == 2
    cursor = SyncCursor.objects.get(source=src, stream="incidents")
    assert cursor.since is None and cursor.resume_url == ""

    result = sync(src)

    assert result.events["created"] == 1 and result.events["unchanged"] == 2
    assert Incident.objects.filter(source="og").count() == 3
    assert RawEvent.objects.filter(source="og", type="incident").count() == 3
    assert [q["offset"] for q in server.queries] == ["0", "0", "2"]


def test_opsgenie_crash_after_page_one_saved_resumes_at_page_two(
    og: responses.RequestsMock,
) -> None:
    server = FakeOpsgenie(og)
    src = source()
    calls: list[int] = []

    def crash_on_second(info: dict[str, Any]) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise Crash  # page 1's cursor saved; page 2's events stored, its cursor not

    with pytest.raises(Crash):
        sync(src, progress=crash_on_second)
    assert "offset=2" in SyncCursor.objects.get(source=src, stream="incidents").resume_url

    result = sync(src)

    assert result.events == {"created": 0, "updated": 0, "unchanged": 1, "rejected": 0}
    assert Incident.objects.filter(source="og").count() == 3
    # The resumed pass asked page 2 of the same window (the same until), not page 1.
    assert [(q["offset"], q["query"].endswith("< 1694779200000")) for q in server.queries[2:]] == [
        ("2", True)
    ]


def test_opsgenie_sync_401_is_kept_as_last_error(og: responses.RequestsMock) -> None:
    og.get(f"{API}/v1/incidents", status=401, json={"message": "Could not authenticate"})
    src = source()

    with pytest.raises(SourceRejected):
        sync(src)

    src.refresh_from_db()
    assert "401" in src.last_error and src.last_sync_at is None
    assert not Incident.objects.exists()


def test_opsgenie_tagged_alerts_are_synced_as_incidents(og: responses.RequestsMock) -> None:
    listed = json.loads((FIXTURES / "list_alerts.json").read_text())["data"]
    # Derived: the documented closed alert moved into the window (same report: ack 15.702 s,
    # close 60.503 s after creation), with the service's id as a tag; the untagged one as is.
    alert = {**listed[0], "createdAt": "2023-09-08T20:32:52.353Z", "updatedAt": "2023-09-08T21:00Z"}
    alert["tags"] = [*alert["tags"], SERVICE]
    other = {**listed[1], "id": "other", "createdAt": "2023-09-08T10:00:00Z"}
    server = FakeOpsgenie(og, alerts=[alert, other])
    src = source(alerts_tag="Critical")

    result = sync(src)

    assert result.objects["alerts"] == 1  # the query asked only for the tag
    alerts_query = next(q for q in server.queries if q["path"] == "/v2/alerts")
    assert alerts_query["query"].startswith('tag: "Critical" AND createdAt >= 1692187200000')
    row = Incident.objects.get(
        source="og", external_id="incident:alert:70413a06-38d6-4c85-92b8-5ebc900d42e2"
    )
    assert row.service.name == "checkout" and row.severity == "sev4"
    assert row.opened_at == datetime(2023, 9, 8, 20, 32, 52, 353000, tzinfo=UTC)
    assert row.resolved_at == datetime(2023, 9, 8, 20, 33, 52, 856000, tzinfo=UTC)
    assert row.mitigated_at is None
    cursor = SyncCursor.objects.get(source=src, stream="alerts")
    assert cursor.since == datetime(2023, 9, 15, 11, 59, tzinfo=UTC)  # none open: until - 1 min


def test_opsgenie_source_is_applied_from_the_file_with_opsgenie_defaults() -> None:
    from dora.config import config_apply, config_load

    text = (
        "services:\n  - name: checkout\n"
        "sources:\n  - name: og\n    kind: opsgenie\n    token_env: OG_KEY\n"
        "    services: {svc-1: checkout}\n    priority_severity: {P3: sev2}\n"
        "    alerts_tag: incident\n"
    )

    diff = config_apply(config_load(text))

    assert "+ source og" in diff.lines and diff.errors == ()
    row = Source.objects.get(name="og")
    assert row.kind == "opsgenie" and row.base_url == "https://api.opsgenie.com"
    assert row.incidents == {
        "services": {"svc-1": "checkout"},
        "priority_severity": {"P3": "sev2"},
        "alerts_tag": "incident",
    }
    row.full_clean()  # the admin's checks accept it without org or repos


def test_the_registry_and_the_scheduler_find_the_opsgenie_provider() -> None:
    from ingest.schedule import sources_dispatch
    from ingest.sources.registry import provider_for

    provider = provider_for("opsgenie")
    assert provider.label == "Opsgenie" and provider.sync is not None
    assert provider.webhook is not None and provider.config_check is not None
    src = source()
    queued: list[int] = []

    assert sources_dispatch(now=NOW, enqueue=queued.append) == [src.pk]  # never synced: due
    assert queued == [src.pk]
