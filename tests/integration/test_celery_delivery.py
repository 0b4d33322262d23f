"""A task survives the death of the process running it (dora/settings.py, "Celery delivery"):
a killed pool process has its task put back on the queue, and a task left unacknowledged by a
killed worker is handed to another once the visibility timeout has passed. A real task
(events_record_task) on real prefork workers, a private redis-server as the broker."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.db import connection

from dora.models import Deployment
from tests import builders
from tests.servers import (
    REDIS_SERVER,
    RedisServer,
    broker_app,
    celery_worker,
    log_tail,
    redis_server,
)
from tests.servers import database_url_of as _database_url

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not Path(REDIS_SERVER).exists(), reason="needs redis-server"),
]
TASK = "ingest.tasks.events_record_task"
WAIT_SECONDS = 90


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[RedisServer]:
    if connection.vendor != "postgresql":
        pytest.skip("a worker subprocess needs the test database on PostgreSQL")
    with redis_server(tmp_path / "redis.log") as server:
        yield server


def deployment(ident: str) -> dict[str, Any]:
    return builders.deployment(ident, None, hours=0, target="eu", version="v1.0.0")


def dsn() -> str:
    return _database_url(connection.settings_dict)


@contextmanager
def deployments_locked() -> Iterator[psycopg.Connection]:
    """Hold dora_deployment so that a task recording a deployment waits in the middle of its
    run (while the test kills its process); released when the block ends."""
    with psycopg.connect(dsn()) as holder:
        holder.execute("LOCK TABLE dora_deployment IN ACCESS EXCLUSIVE MODE")
        try:
            yield holder
        finally:
            holder.rollback()


def wait_until_a_task_waits_on_the_lock(log: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    with psycopg.connect(dsn(), autocommit=True) as watcher:
        while True:
            (waiting,) = watcher.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
            if waiting:
                return
            assert time.monotonic() < deadline, f"the task never started:\n{log_tail(log)}"
            time.sleep(0.1)


def recorded(ident: str) -> bool:
    return Deployment.objects.filter(external_id__endswith=f":{ident}").exists()


def wait_until_recorded(ident: str, log: Path) -> float:
    started = time.monotonic()
    while not recorded(ident):
        assert time.monotonic() - started < WAIT_SECONDS, (
            f"the task was lost: {ident} not recorded in {WAIT_SECONDS} s\n{log_tail(log)}"
        )
        time.sleep(0.25)
    return time.monotonic() - started


def send(broker: RedisServer, queue: str, ident: str) -> None:
    with broker_app(broker.url()) as sender:
        sender.send_task(TASK, args=[[deployment(ident)]], kwargs={"source": "kill"}, queue=queue)


def test_a_task_whose_pool_process_is_killed_runs_again(
    broker: RedisServer, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    with celery_worker({"DATABASE_URL": dsn()}, "kill-child", log, broker=broker.url()) as worker:
        with deployments_locked():
            send(broker, "kill-child", "k1")
            wait_until_a_task_waits_on_the_lock(log)
            (child,) = worker.pool_children()
            os.kill(child, signal.SIGKILL)  # the pool process dies mid-task
        wait_until_recorded("k1", log)

    assert "WorkerLostError" in log.read_text()  # it was the killed run, then another one
    assert Deployment.objects.filter(external_id__endswith=":k1").count() == 1


def test_a_task_left_by_a_killed_worker_goes_to_another_after_the_visibility_timeout(
    broker: RedisServer, tmp_path: Path
) -> None:
    env = {
        "DATABASE_URL": dsn(),
        # Short, for the test; production keeps 1800 s (and a 1500 s task time limit).
        "DORA_CELERY_VISIBILITY_TIMEOUT": "6",
        "DORA_CELERY_TASK_TIME_LIMIT": "5",
    }
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    with (
        celery_worker(env, "kill-worker", first_log, broker=broker.url()) as first,
        deployments_locked(),
    ):
        send(broker, "kill-worker", "k2")
        wait_until_a_task_waits_on_the_lock(first_log)
        first.kill_all()  # the whole worker dies with the message unacknowledged

    assert not recorded("k2")
    with celery_worker(env, "kill-worker", second_log, broker=broker.url()):
        wait_until_recorded("k2", second_log)

    assert Deployment.objects.filter(external_id__endswith=":k2").count() == 1
