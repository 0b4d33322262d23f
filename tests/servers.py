"""The production web server in tests: gunicorn serving dora.wsgi against the test database.

Django's live_server is one thread in the test process; the races intake must survive need
several processes, each with its own database connections, as `docker compose up` runs them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Server:
    url: str
    log_path: Path

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def database_url_of(settings_dict: dict) -> str:
    """The URL of the database this test process uses (pytest-django's test database)."""
    engine = settings_dict["ENGINE"]
    if engine != "django.db.backends.postgresql":
        raise RuntimeError(f"another process cannot share a {engine} test database")
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or "5432"
    return f"postgres://{auth}{host}:{port}/{quote(settings_dict['NAME'], safe='')}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def gunicorn_serving(
    database_url: str,
    log_path: Path,
    *,
    workers: int = 4,
    threads: int = 2,
    env: dict[str, str] | None = None,
) -> Iterator[Server]:
    """gunicorn with `workers` processes of `threads` threads each, on a free loopback port.

    Tasks run eagerly in the server (no broker): what a request does is in its answer.
    """
    port = free_port()
    environment = {
        key: value
        for key, value in os.environ.items()
        if key not in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "DORA_CACHE_URL")
    }
    environment.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "dora.settings",
            "DJANGO_SECRET_KEY": environment.get("DJANGO_SECRET_KEY", "test-only-not-secret"),
            "CONN_MAX_AGE": "0",  # nothing holds the test database open at teardown
            **(env or {}),
        }
    )
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "dora.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--timeout",
        "120",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(  # noqa: S603 - our own server
            command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
        )
    server = Server(url=f"http://127.0.0.1:{port}", log_path=log_path)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited with {process.returncode}:\n{server.log_tail()}"
                )
            try:
                with urllib.request.urlopen(f"{server.url}/healthz", timeout=2):  # noqa: S310
                    break
            except urllib.error.HTTPError:
                break  # it answers: up, whatever its health
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not answer:\n{server.log_tail()}") from None
                time.sleep(0.2)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
