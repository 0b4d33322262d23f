"""Shared test fixtures: marker skips, Playwright on Debian's Chromium, a real Celery worker,
PyGithub's recorded exchanges (tests/pygithub_replay.py)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.pygithub_replay import pygithub_replay_dir  # noqa: F401  (a session fixture)
from tests.servers import database_url_of as _database_url

# pytest-playwright's sync API keeps an asyncio loop in the test thread; without this, Django
# refuses ORM calls from live_server tests (SynchronousOnlyOperation). Tests only.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BROKER_SKIP_REASON = "needs CELERY_BROKER_URL (a Redis broker) and a worker"
BROWSER_SKIP_REASON = f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
WORKER_START_TIMEOUT_SECONDS = 60.0


def broker_url() -> str:
    return os.environ.get("CELERY_BROKER_URL", "")


def snapshot_cache_url() -> str:
    """A Redis database for dashboard snapshots shared by a test and its worker: the broker's
    server, the next database number (never the broker's own)."""
    base, _, number = broker_url().rpartition("/")
    return f"{base}/{(int(number or 0) + 1) % 16}"


# ---------------------------------------------------------------------------------------------
# Markers: `broker` needs Redis and a worker, `browser` needs Chromium
# ---------------------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    # whitenoise warns when STATIC_ROOT has not been collected yet; tests never serve from it.
    config.addinivalue_line("filterwarnings", "ignore:No directory at:UserWarning")


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"celery broker: {broker_url() or 'none (tasks run eagerly)'}"]
    if not broker_url():
        lines.append(f"tests marked 'broker' will be skipped: {BROKER_SKIP_REASON}")
    if not CHROMIUM.exists():
        lines.append(f"tests marked 'browser' will be skipped: {BROWSER_SKIP_REASON}")
    return lines


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_broker = pytest.mark.skip(reason=BROKER_SKIP_REASON)
    skip_browser = pytest.mark.skip(reason=BROWSER_SKIP_REASON)
    for item in items:
        if "broker" in item.keywords and not broker_url():
            item.add_marker(skip_broker)
        if "browser" in item.keywords and not CHROMIUM.exists():
            item.add_marker(skip_browser)


@pytest.fixture(autouse=True)
def _dashboard_snapshots(request: pytest.FixtureRequest) -> Iterator[None]:
    """Dashboard snapshots (dora.web.snapshots) off unless a test is marked `snapshots`.

    A test's transaction is rolled back without committing, so the facts generation that keys
    a snapshot never moves between tests: the next test with the same page and viewer would be
    served the previous one's figures. The `snapshots` tests start from an empty cache.
    """
    from django.conf import settings
    from django.core.cache import cache

    keep = request.node.get_closest_marker("snapshots") is not None
    before = settings.DORA_DASHBOARD_CACHE_SECONDS
    settings.DORA_DASHBOARD_CACHE_SECONDS = before if keep else 0
    if keep:
        cache.clear()
    yield
    settings.DORA_DASHBOARD_CACHE_SECONDS = before


def _skipped_for(terminalreporter: pytest.TerminalReporter, reason: str) -> int:
    """Count skipped test reports with this reason (also works under xdist, where the
    controller never sees the collected items, only the reports)."""
    count = 0
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        if isinstance(longrepr, tuple) and len(longrepr) == 3 and reason in str(longrepr[2]):
            count += 1
    return count


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for marker, reason in (("broker", BROKER_SKIP_REASON), ("browser", BROWSER_SKIP_REASON)):
        skipped = _skipped_for(terminalreporter, reason)
        if skipped:
            terminalreporter.write_line(
                f"SKIPPED {skipped} test(s) marked '{marker}': {reason}", yellow=True, bold=True
            )


# ---------------------------------------------------------------------------------------------
# Browser tests (pytest-playwright + pytest-django live_server) on Debian's Chromium
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    # Never `playwright install`: it downloads a browser build and fails offline.
    return {**browser_type_launch_args, "executable_path": str(CHROMIUM), "args": CHROMIUM_ARGS}


@pytest.fixture
def plain_static(settings) -> None:
    """live_server serves /static/ from the finders, which know no manifest-hashed names."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


# ---------------------------------------------------------------------------------------------
# A real Celery worker (tests marked `broker`, with django_db(transaction=True))
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CeleryWorkerProcess:
    """A worker subprocess consuming only `queue`; send tasks there with apply_async(queue=...)."""

    queue: str
    nodename: str
    pid: int
    log_path: Path


def _log_tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="session")
def celery_worker_process(
    django_db_setup, worker_id: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[CeleryWorkerProcess]:
    """Start `celery -A dora worker --pool=solo` against this process's test database.

    Session-scoped per test process: under pytest-xdist each process (gw0, gw1, ...) has its own
    test database, its own worker and its own queue, so parallel workers never take each other's
    tasks. It ends before pytest-django drops the test database (it depends on django_db_setup).
    """
    if not broker_url():
        pytest.skip(BROKER_SKIP_REASON)
    from django.db import connection

    try:
        database_url = _database_url(connection.settings_dict)
    except RuntimeError as exc:
        pytest.skip(f"{exc}: run broker tests with DATABASE_URL=postgres://...")

    from dora.celery import app

    queue = f"dora-test-{worker_id}"
    nodename = f"{queue}-{os.getpid()}@{socket.gethostname()}"
    log_path = tmp_path_factory.mktemp("celery") / f"{queue}.log"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": broker_url(),
        "DJANGO_SETTINGS_MODULE": "dora.settings",
        # A short-lived connection per task: nothing holds the test database open at teardown.
        "CONN_MAX_AGE": "0",
        # Dashboard snapshots the worker computes again are read by the test (snapshots tests).
        "DORA_CACHE_URL": snapshot_cache_url(),
    }
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "dora",
        "worker",
        "--pool=solo",
        "-l",
        "warning",
        "-Q",
        queue,
        "-n",
        nodename,
        "--without-gossip",
        "--without-mingle",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + WORKER_START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"celery worker exited with {process.returncode}:\n{_log_tail(log_path)}"
                )
            replies = app.control.ping(destination=[nodename], timeout=1.0)
            if any(nodename in reply for reply in replies):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"celery worker did not answer a ping within {WORKER_START_TIMEOUT_SECONDS}s:"
                    f"\n{_log_tail(log_path)}"
                )
        yield CeleryWorkerProcess(
            queue=queue, nodename=nodename, pid=process.pid, log_path=log_path
        )
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # warm shutdown: finish the current task
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


# ---------------------------------------------------------------------------------------------
# Per-process credential state (ingest.http rate budgets, GitHub App installation tokens)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _credentials_forget() -> Iterator[None]:
    """Each test starts with no recorded rate budget and no cached installation token (both
    live for a worker process's life, keyed by API root and credential)."""
    from ingest.http import rate_budgets_forget
    from ingest.sources.github.auth import installation_tokens_forget

    rate_budgets_forget()
    installation_tokens_forget()
    yield
    rate_budgets_forget()
    installation_tokens_forget()
