"""Progress you can see: `manage.py sync` on a terminal and in a log, and the admin's Sources
page while a sync holds the lease (against the fake GitHub, tests/fake_github.py)."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from ingest import schedule
from ingest.models import Source
from ingest.schedule import source_sync_exclusive
from tests.fake_github import FakeClock, FakeGitHub
from tests.integration.test_github_sync import NOW, estate, make_source
from tests.unit.test_progress import FakeTTY

pytestmark = pytest.mark.django_db

# The estate's 12 commits and 7 pull requests at the fake's 5 a page: commits on pages 1-3
# (5, 5, 2: 5, 10, 12 so far), pulls on pages 1-2 (5, 2: 5, 7 so far).
COMMIT_PAGES = [
    "octo/shop commits: page 1 of 3, 5 objects",
    "octo/shop commits: page 2 of 3, 10 objects",
    "octo/shop commits: page 3 of 3, 12 objects",
]
PULL_PAGES = ["octo/shop pulls: page 1 of 2, 5 objects", "octo/shop pulls: page 2 of 2, 7 objects"]


def _command(monkeypatch: pytest.MonkeyPatch, stdout: io.StringIO) -> None:
    monkeypatch.setattr("ingest.http.SystemClock.sleep", lambda self, seconds: None)
    with FakeGitHub() as server:
        estate(server)
        # The command reads the real clock: the backfill must reach the estate's dates.
        Source.objects.filter(pk=make_source(server).pk).update(backfill_days=3650)
        call_command("sync", "--source", "gh-test", stdout=stdout, stderr=io.StringIO())


def test_sync_command_prints_pages_of_the_total_as_plain_lines(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    _command(monkeypatch, out)
    text = out.getvalue()
    lines = [line.strip() for line in text.splitlines()]

    assert "\r" not in text
    for expected in COMMIT_PAGES + PULL_PAGES:
        assert any(line.startswith(expected + ", ") for line in lines), expected
    # From a stream's second page on, the pages a second and the time left of the total.
    page_2 = next(line for line in lines if line.startswith(COMMIT_PAGES[1]))
    assert "pages/s, ETA " in page_2
    assert "gh-test: done, 1 repositories, 35 objects" in text


def test_sync_command_on_a_terminal_redraws_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    out = FakeTTY()
    _command(monkeypatch, out)
    text = out.getvalue()

    for expected in COMMIT_PAGES + PULL_PAGES:
        assert f"\r  {expected}, " in text
    # The pages are drawn over each other: one line from "syncing" to "done".
    syncing, drawn, done = text.split("\n")[:3]
    assert syncing.startswith("gh-test: syncing ") and drawn.startswith("\r  octo/shop ")
    assert done.startswith("gh-test: done, 1 repositories, 35 objects")


def test_the_source_row_shows_the_running_sync_and_is_cleared_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[tuple[str, bool]] = []
    renew = schedule.source_lease_renew

    def renew_and_look(source_id: int, owner: str, **kwargs) -> None:
        renew(source_id, owner, **kwargs)
        row = Source.objects.get(pk=source_id)
        seen.append((row.sync_progress, row.sync_lease_owner == owner))

    monkeypatch.setattr(schedule, "source_lease_renew", renew_and_look)
    with FakeGitHub() as server:
        estate(server)
        source = make_source(server)
        source_sync_exclusive(source.pk, clock=FakeClock(NOW.timestamp()))

    progress = [text for text, _ in seen]
    for expected in COMMIT_PAGES + PULL_PAGES:
        assert expected in progress
    assert all(leased for _, leased in seen)
    source.refresh_from_db()
    assert source.sync_progress == "" and source.sync_lease_until is None


def test_admin_sources_list_shows_the_running_syncs_progress(
    admin_client, plain_static: None
) -> None:
    Source.objects.create(
        name="gh-acme",
        base_url="https://api.github.com",
        repos=["acme/shop"],
        sync_lease_until=datetime.now(UTC) + timedelta(minutes=30),
        sync_lease_owner="worker-1",
        sync_progress="acme/shop pulls: page 3 of 12, 240 objects",
    )
    Source.objects.create(
        name="gh-idle",
        base_url="https://api.github.com",
        repos=["acme/web"],
        sync_lease_until=datetime.now(UTC) - timedelta(minutes=1),  # expired: not running
        sync_progress="acme/web commits: page 1, 5 objects",
    )

    page = admin_client.get(reverse("admin:ingest_source_changelist")).content.decode()

    assert (
        '<td class="field-next_sync_due">syncing: acme/shop pulls: page 3 of 12, 240 objects<'
        in page
    )
    assert "acme/web commits: page 1" not in page


def test_the_sync_command_holds_the_lease_and_shows_its_progress_on_the_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`manage.py sync` in the foreground is seen on the admin's Sources page as a worker's
    sync is: its pages on the row while it runs, the row cleared after."""
    seen: list[str] = []
    renew = schedule.source_lease_renew

    def renew_and_look(source_id: int, owner: str, **kwargs) -> None:
        renew(source_id, owner, **kwargs)
        seen.append(Source.objects.get(pk=source_id).sync_progress)

    monkeypatch.setattr(schedule, "source_lease_renew", renew_and_look)
    _command(monkeypatch, io.StringIO())

    for expected in COMMIT_PAGES + PULL_PAGES:
        assert expected in seen
    row = Source.objects.get(name="gh-test")
    assert row.sync_progress == "" and row.sync_lease_until is None


def test_the_sync_command_skips_a_source_a_worker_is_syncing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FakeGitHub() as server:
        estate(server)
        source = make_source(server)
        Source.objects.filter(pk=source.pk).update(
            sync_lease_until=datetime.now(UTC) + timedelta(minutes=30), sync_lease_owner="worker-1"
        )
        err = io.StringIO()
        with pytest.raises(CommandError, match="1 source"):
            call_command("sync", "--source", "gh-test", stdout=io.StringIO(), stderr=err)

    assert "gh-test: skipped: another sync of this source is running" in err.getvalue()
    assert server.requests == []  # nothing read: the worker's sync is the one that reads
    row = Source.objects.get(pk=source.pk)
    assert row.sync_lease_owner == "worker-1"  # its lease left alone
