"""Scheduled syncs: source_sync_task (one sync per source at a time, rejections kept and not
retried), the per-minute dispatcher honouring each source's interval, and a real worker."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from dora.models import Commit
from ingest.http import SourceUnavailable
from ingest.models import Source
from ingest.schedule import (
    LEASE_TTL,
    REJECTED_RETRY,
    source_lease_acquire,
    source_lease_release,
    source_lease_renew,
    source_sync_exclusive,
    sources_dispatch,
)
from ingest.tasks import source_sync_dispatch_task, source_sync_task
from tests.fake_github import FakeClock, FakeGitHub, Fault
from tests.integration.test_github_sync import NOW, estate, make_source

pytestmark = pytest.mark.django_db


def _leased(source: Source) -> tuple[Any, str]:
    source.refresh_from_db()
    return source.sync_lease_until, source.sync_lease_owner


def test_source_sync_exclusive_syncs_renews_and_releases_the_lease() -> None:
    with FakeGitHub() as server:
        estate(server)
        source = make_source(server)
        clock = FakeClock(NOW.timestamp())

        result = source_sync_exclusive(source.pk, clock=clock)

    assert result["repositories"] == 1 and sum(result["objects"].values()) > 0
    assert _leased(source) == (None, "")
    assert source.last_sync_at == NOW and source.last_error == ""
    assert Commit.objects.filter(source="gh-test").count() == 12


def test_source_sync_task_skips_a_source_another_worker_is_syncing() -> None:
    with FakeGitHub() as server:
        estate(server)
        source = make_source(server)
        assert source_lease_acquire(source.pk, "other-worker", now=datetime.now(UTC))

        result = source_sync_task.apply(args=[source.pk]).get()

        assert result == {"skipped": "another sync of this source is running"}
        assert server.requests == []
        assert _leased(source)[1] == "other-worker"  # untouched


def test_source_sync_task_rejection_is_kept_not_retried_and_does_not_raise() -> None:
    with FakeGitHub() as server:
        source = make_source(server)
        fault = Fault("/commits", 401, body={"message": "Bad credentials"}, times=99)
        server.faults = [fault]

        outcome = source_sync_task.apply(args=[source.pk])

        assert outcome.successful()
        assert "Bad credentials" in outcome.get()["rejected"]
        # Asked once, not retried (the fault counts down before it answers; server.requests
        # records a fault only after answering, so it may lag behind).
        assert fault.times == 98
    source.refresh_from_db()
    assert "Bad credentials" in source.last_error
    assert (source.sync_lease_until, source.sync_lease_owner) == (None, "")


def test_source_sync_transient_failure_propagates_for_a_retry_and_frees_the_lease() -> None:
    with FakeGitHub() as server:
        source = make_source(server)
        server.faults = [Fault("/commits", 502, times=99)]

        with pytest.raises(SourceUnavailable):
            source_sync_exclusive(source.pk, clock=FakeClock(NOW.timestamp()))

    assert _leased(source) == (None, "")
    assert source_sync_task.autoretry_for == (SourceUnavailable,)
    assert source_sync_task.acks_late and source_sync_task.max_retries == 6


def test_source_sync_task_for_a_deleted_source_is_a_no_op() -> None:
    assert source_sync_task.apply(args=[987654]).get() == {"skipped": "no such source"}


def test_source_lease_is_exclusive_until_released_or_expired() -> None:
    source = Source.objects.create(name="s", org="acme")
    now = datetime(2026, 3, 10, tzinfo=UTC)

    assert source_lease_acquire(source.pk, "a", now=now)
    assert not source_lease_acquire(source.pk, "b", now=now + timedelta(minutes=5))
    source_lease_release(source.pk, "b")  # not b's lease: nothing happens
    assert _leased(source)[1] == "a"
    source_lease_renew(source.pk, "a", now=now + timedelta(hours=1))
    assert not source_lease_acquire(source.pk, "b", now=now + LEASE_TTL + timedelta(minutes=5))
    # A worker that died holding it: the lease expires and another worker takes over.
    later = now + timedelta(hours=1) + LEASE_TTL
    assert source_lease_acquire(source.pk, "b", now=later)
    source_lease_release(source.pk, "b")
    assert source_lease_acquire(source.pk, "c", now=later)


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_sync_the_same_source_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("threads with their own connections need the Postgres test database")
    source = Source.objects.create(name="s", org="acme")
    started, release = threading.Event(), threading.Event()
    running: list[int] = []

    def slow_sync(source: Source, **kwargs: Any) -> Any:
        running.append(source.pk)
        started.set()
        release.wait(timeout=30)
        raise SourceUnavailable("stopped by the test")

    monkeypatch.setattr("ingest.schedule.source_sync", slow_sync)
    results: dict[str, Any] = {}

    def worker(name: str) -> None:
        try:
            results[name] = source_sync_exclusive(source.pk)
        except SourceUnavailable as exc:
            results[name] = str(exc)
        finally:
            connection.close()

    first = threading.Thread(target=worker, args=("first",))
    first.start()
    assert started.wait(timeout=30)
    second = threading.Thread(target=worker, args=("second",))
    second.start()
    second.join(timeout=30)
    release.set()
    first.join(timeout=30)

    assert results == {
        "first": "stopped by the test",
        "second": {"skipped": "another sync of this source is running"},
    }
    assert running == [source.pk]
    assert _leased(source) == (None, "")


def test_dispatcher_queues_sources_whose_own_interval_has_passed() -> None:
    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    ago = lambda minutes: now - timedelta(minutes=minutes)  # noqa: E731
    never = Source.objects.create(name="never", org="a")
    Source.objects.create(name="recent", org="a", interval_seconds=900, sync_queued_at=ago(1))
    due = Source.objects.create(name="due", org="a", interval_seconds=900, sync_queued_at=ago(16))
    Source.objects.create(name="fast", org="a", interval_seconds=60, sync_queued_at=ago(0))
    Source.objects.create(
        name="rejected", org="a", interval_seconds=900, sync_queued_at=ago(60), last_error="401"
    )
    retry = Source.objects.create(
        name="rejected-long-ago",
        org="a",
        sync_queued_at=now - REJECTED_RETRY,
        last_error="401",
    )
    Source.objects.create(name="syncing", org="a", sync_lease_until=now + timedelta(minutes=3))
    queued: list[int] = []

    first = sources_dispatch(now=now, enqueue=queued.append)

    assert first == queued == [never.pk, due.pk, retry.pk]
    assert sources_dispatch(now=now + timedelta(seconds=59), enqueue=queued.append) == []
    fast = Source.objects.get(name="fast")
    assert sources_dispatch(now=now + timedelta(minutes=1), enqueue=queued.append) == [fast.pk]


def test_dispatch_task_enqueues_after_commit(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
) -> None:
    source = Source.objects.create(name="s", org="acme")
    sent: list[tuple[list[int], dict[str, Any]]] = []
    monkeypatch.setattr(
        "ingest.tasks.source_sync_task.apply_async",
        lambda args, **options: sent.append((args, options)),
    )

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        queued = source_sync_dispatch_task.apply(kwargs={"queue": "q1"}).get()

    assert queued == [source.pk] and len(callbacks) == 1
    assert sent == [([source.pk], {"queue": "q1"})]


def test_beat_runs_the_dispatcher_every_minute() -> None:
    entry = settings.CELERY_BEAT_SCHEDULE["sources-dispatch"]

    assert entry == {"task": "ingest.tasks.source_sync_dispatch_task", "schedule": 60.0}
    assert source_sync_dispatch_task.name == entry["task"]


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_dispatcher_and_sync_run_on_a_real_worker(celery_worker_process) -> None:
    with FakeGitHub() as server:
        estate(server)
        source = make_source(server)
        # The worker reads the real clock: the backfill must reach the estate's dates.
        Source.objects.filter(pk=source.pk).update(backfill_days=3650)

        queue = celery_worker_process.queue
        queued = source_sync_dispatch_task.apply_async(kwargs={"queue": queue}, queue=queue)

        assert queued.get(timeout=60) == [source.pk]
        deadline = time.monotonic() + 60
        # Finished = stamped and its lease released (the stamp comes first, then derivation).
        finished = Source.objects.filter(
            pk=source.pk, last_sync_at__isnull=False, sync_lease_owner=""
        )
        while not finished.exists():
            assert time.monotonic() < deadline, "the queued sync did not finish in 60 s"
            time.sleep(0.2)
    source.refresh_from_db()
    assert source.last_error == "" and source.sync_lease_owner == ""
    assert Commit.objects.filter(source="gh-test").count() == 12
