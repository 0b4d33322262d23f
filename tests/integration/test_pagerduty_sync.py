"""The PagerDuty sync (ingest.sources.pagerduty.sync) against `responses` mocks (no network): a
full sync over two pages, an unchanged second sync, a crash after page 1 then a resume, a 401.

The mock lists incidents as PagerDuty does: `since`/`until` select by `created_at` (since
inclusive, until exclusive), sort_by=created_at:asc, `limit`/`offset` paging with `more`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses

from dora.models import Incident, RawEvent, Service
from ingest.http import SourceRejected
from ingest.models import Source, SyncCursor
from ingest.sources.pagerduty.client import pagerduty_client
from ingest.sync import source_sync
from tests.fake_github import FakeClock

pytestmark = pytest.mark.django_db
API = "https://pd.example.test"
NOW = datetime(2024, 3, 10, 12, tzinfo=UTC)
SVC = {"id": "PSVC001", "type": "service_reference", "summary": "Checkout API"}


def incident(iid: str, created: str, status: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": iid,
        "type": "incident",
        "title": f"incident {iid}",
        "status": status,
        "created_at": created,
        "last_status_change_at": created,
        "service": SVC,
        "urgency": "high",
        "priority": None,
        **extra,
    }


# A: resolved, priority P1; B: resolved, low urgency, no priority; C: still acknowledged.
INCIDENTS = [
    incident("QAAA", "2024-03-01T10:00:00Z", "resolved", priority={"summary": "P1"}),
    incident("QBBB", "2024-03-02T09:00:00Z", "resolved", urgency="low"),
    incident("QCCC", "2024-03-05T08:00:00Z", "acknowledged"),
]
LOG_ENTRIES = {
    "QAAA": [
        {"type": "trigger_log_entry", "created_at": "2024-03-01T10:00:00Z"},
        {"type": "acknowledge_log_entry", "created_at": "2024-03-01T10:05:00Z"},
        {"type": "resolve_log_entry", "created_at": "2024-03-01T10:40:00Z"},
    ],
    "QBBB": [{"type": "resolve_log_entry", "created_at": "2024-03-02T11:30:00Z"}],
    "QCCC": [{"type": "acknowledge_log_entry", "created_at": "2024-03-05T08:10:00Z"}],
}


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class FakePagerDuty:
    """The two list endpoints, recording each incidents query."""

    def __init__(self, mock: responses.RequestsMock) -> None:
        self.queries: list[dict[str, list[str]]] = []
        mock.add_callback(responses.GET, f"{API}/incidents", callback=self.incidents)
        for iid, entries in LOG_ENTRIES.items():
            mock.get(
                f"{API}/incidents/{iid}/log_entries", json={"log_entries": entries, "more": False}
            )

    def incidents(self, request: Any) -> tuple[int, dict[str, str], str]:
        query = parse_qs(urlsplit(request.url).query)
        self.queries.append(query)
        since, until = _when(query["since"][0]), _when(query["until"][0])
        offset, limit = int(query["offset"][0]), int(query["limit"][0])
        assert query["sort_by"] == ["created_at:asc"] and query["service_ids[]"] == ["PSVC001"]
        window = sorted(
            (i for i in INCIDENTS if since <= _when(i["created_at"]) < until),
            key=lambda i: i["created_at"],
        )
        page = window[offset : offset + limit]
        more = offset + limit < len(window)
        return 200, {}, json.dumps({"incidents": page, "offset": offset, "more": more})


class Crash(Exception):
    pass


@pytest.fixture
def pd() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def source() -> Source:
    Service.objects.create(name="checkout")
    return Source.objects.create(
        name="pd",
        kind="pagerduty",
        base_url=API,
        token_env="PD_TEST_TOKEN",
        backfill_days=30,  # since 2024-02-09T12:00Z: all three incidents
        incidents={"services": {"PSVC001": "checkout"}},
    )


def sync(src: Source, **options: Any) -> Any:
    clock = FakeClock(NOW.timestamp())
    client = pagerduty_client("t0ken", base_url=API, clock=clock)
    return source_sync(src, now=NOW, clock=clock, client=client, limit=2, **options)


def test_pagerduty_full_sync_over_two_pages_creates_the_incidents(
    pd: responses.RequestsMock,
) -> None:
    server = FakePagerDuty(pd)
    src = source()
    pages: list[dict[str, Any]] = []

    result = sync(src, progress=pages.append)

    assert result.events["created"] == 3 and result.objects["incidents"] == 3
    assert [q["offset"] for q in server.queries] == [["0"], ["2"]]
    assert server.queries[0]["since"] == ["2024-02-09T12:00:00Z"]  # NOW - 30 days
    assert server.queries[0]["until"] == ["2024-03-10T12:00:00Z"]
    assert len(pages) == 2  # the lease renewed after each page
    rows = {i.external_id: i for i in Incident.objects.filter(source="pd")}
    assert sorted(rows) == ["incident:QAAA", "incident:QBBB", "incident:QCCC"]
    a, b, c = rows["incident:QAAA"], rows["incident:QBBB"], rows["incident:QCCC"]
    assert a.service.name == "checkout" and a.severity == "sev1" and a.title == "incident QAAA"
    assert a.opened_at == datetime(2024, 3, 1, 10, tzinfo=UTC)
    assert a.resolved_at == datetime(2024, 3, 1, 10, 40, tzinfo=UTC)  # the resolve entry
    assert a.mitigated_at is None  # an acknowledgement is not a mitigation
    assert b.severity == "sev4" and b.resolved_at == datetime(2024, 3, 2, 11, 30, tzinfo=UTC)
    assert c.severity == "sev2" and c.resolved_at is None  # high urgency, still open
    src.refresh_from_db()
    assert src.last_error == "" and src.last_sync_at == NOW
    cursor = SyncCursor.objects.get(source=src, stream="incidents")
    # C is still open: the next pass starts at it, to see it resolved.
    assert cursor.since == datetime(2024, 3, 5, 8, tzinfo=UTC) and cursor.resume_url == ""


def test_pagerduty_second_sync_with_nothing_new_creates_nothing(pd: responses.RequestsMock) -> None:
    server = FakePagerDuty(pd)
    src = source()
    sync(src)
    server.queries.clear()

    result = sync(src)

    assert result.events["created"] == 0 and result.events["updated"] == 0
    assert result.events["unchanged"] == 1  # the open incident C, read again
    assert [(q["since"], q["offset"]) for q in server.queries] == [
        (["2024-03-05T08:00:00Z"], ["0"])
    ]
    assert Incident.objects.filter(source="pd").count() == 3


def test_pagerduty_crash_after_page_one_then_resume_loses_and_duplicates_nothing(
    pd: responses.RequestsMock,
) -> None:
    server = FakePagerDuty(pd)
    src = source()

    def crash(info: dict[str, Any]) -> None:
        raise Crash  # page 1's events stored, its cursor not saved

    with pytest.raises(Crash):
        sync(src, progress=crash)
    assert Incident.objects.filter(source="pd").count() == 2
    cursor = SyncCursor.objects.get(source=src, stream="incidents")
    assert cursor.since is None and cursor.resume_url == ""

    result = sync(src)

    assert result.events["created"] == 1 and result.events["unchanged"] == 2
    assert Incident.objects.filter(source="pd").count() == 3
    assert RawEvent.objects.filter(source="pd", type="incident").count() == 3
    assert [q["offset"] for q in server.queries] == [["0"], ["0"], ["2"]]


def test_pagerduty_crash_after_page_one_saved_resumes_at_page_two(
    pd: responses.RequestsMock,
) -> None:
    server = FakePagerDuty(pd)
    src = source()
    calls: list[int] = []

    def crash_on_second(info: dict[str, Any]) -> None:
        calls.append(1)
        if len(calls) == 2:
            raise Crash  # page 1's cursor saved; page 2's events stored, its cursor not

    with pytest.raises(Crash):
        sync(src, progress=crash_on_second)
    cursor = SyncCursor.objects.get(source=src, stream="incidents")
    assert "offset=2" in cursor.resume_url

    result = sync(src)

    assert result.events == {"created": 0, "updated": 0, "unchanged": 1, "rejected": 0}
    assert Incident.objects.filter(source="pd").count() == 3
    # The resumed pass asked page 2 of the same window (the same until), not page 1.
    assert [(q["offset"], q["until"]) for q in server.queries[2:]] == [
        (["2"], ["2024-03-10T12:00:00Z"])
    ]


def test_pagerduty_sync_401_is_kept_as_last_error(pd: responses.RequestsMock) -> None:
    pd.get(f"{API}/incidents", status=401, json={"error": {"message": "Unauthorized"}})
    src = source()

    with pytest.raises(SourceRejected):
        sync(src)

    src.refresh_from_db()
    assert "401" in src.last_error and src.last_sync_at is None
    assert not Incident.objects.exists()


def test_pagerduty_source_is_applied_from_the_file_with_pagerduty_defaults() -> None:
    from dora.config import config_apply, config_load

    text = (
        "services:\n  - name: checkout\n"
        "sources:\n  - name: pd\n    kind: pagerduty\n    token_env: PD_TOKEN\n"
        "    services: {PSVC001: checkout}\n    urgency_severity: {high: sev1}\n"
    )

    diff = config_apply(config_load(text))

    assert "+ source pd" in diff.lines and diff.errors == ()
    row = Source.objects.get(name="pd")
    assert row.kind == "pagerduty" and row.base_url == "https://api.pagerduty.com"
    assert row.org == "" and row.repos == []
    assert row.incidents == {
        "services": {"PSVC001": "checkout"},
        "urgency_severity": {"high": "sev1"},
    }
    row.full_clean()  # the admin's checks accept it without org or repos


def test_pagerduty_sync_5xx_beyond_retries_is_unavailable_and_keeps_the_cursor(
    pd: responses.RequestsMock,
) -> None:
    from ingest.http import SourceUnavailable

    pd.get(f"{API}/incidents", status=503, json={"error": {"message": "down"}})
    src = source()

    with pytest.raises(SourceUnavailable):
        sync(src)

    assert len(pd.calls) == 6  # the client's attempts, waits on the fake clock
    src.refresh_from_db()
    assert src.last_error == "" and src.last_sync_at is None
    cursor = SyncCursor.objects.get(source=src, stream="incidents")
    assert cursor.since is None and cursor.resume_url == ""  # the next run starts over
