"""Processes and sockets the outage tests run: a TCP proxy that can freeze (a database or Redis
that stops answering), a closed port, gunicorn serving the app, a private redis-server, and a
Celery worker with the production pool (prefork)."""

from __future__ import annotations

import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent


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
    """A loopback port nothing listens on (closed again at once: connections are refused)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class FreezableProxy:
    """Forwards loopback TCP connections to `upstream`; `freeze()` stops forwarding while every
    socket stays open (a server that is stopped, not gone: the kernel still accepts and ACKs),
    `thaw()` resumes. New connections made while frozen are accepted and wait."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self._frozen = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._pairs: dict[socket.socket, socket.socket] = {}  # each side -> the other
        self._waiting: list[socket.socket] = []  # accepted while frozen, not yet connected
        self._thread = threading.Thread(target=self._run, name="freezable-proxy", daemon=True)
        self._thread.start()

    def freeze(self) -> None:
        self._frozen.set()

    def thaw(self) -> None:
        self._frozen.clear()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        with self._lock:
            for sock in [*self._pairs, *self._waiting, self._listener]:
                sock.close()
            self._pairs.clear()
            self._waiting.clear()

    def _connect(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            client.close()
            return
        server.setblocking(False)
        client.setblocking(False)
        self._pairs[client] = server
        self._pairs[server] = client

    def _drop(self, sock: socket.socket) -> None:
        other = self._pairs.pop(sock, None)
        sock.close()
        if other is not None:
            self._pairs.pop(other, None)
            other.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                try:
                    while True:
                        client, _ = self._listener.accept()
                        self._waiting.append(client)
                except BlockingIOError:
                    pass
                if self._frozen.is_set():
                    watched: list[socket.socket] = []
                else:
                    for client in self._waiting:
                        self._connect(client)
                    self._waiting.clear()
                    watched = list(self._pairs)
            if not watched:
                time.sleep(0.01)
                continue
            with selectors.DefaultSelector() as selector:
                for sock in watched:
                    selector.register(sock, selectors.EVENT_READ)
                ready = selector.select(timeout=0.01)
            with self._lock:
                if self._frozen.is_set():
                    continue  # frozen between select and here: forward nothing
                for key, _ in ready:
                    sock = key.fileobj
                    other = self._pairs.get(sock)  # type: ignore[call-overload]
                    if other is None:
                        continue
                    try:
                        data = sock.recv(65536)  # type: ignore[union-attr]
                        if not data:
                            raise ConnectionResetError
                        other.setblocking(True)
                        other.sendall(data)
                        other.setblocking(False)
                    except OSError:
                        self._drop(sock)  # type: ignore[arg-type]


@contextmanager
def freezable_proxy(upstream: tuple[str, int]) -> Iterator[FreezableProxy]:
    proxy = FreezableProxy(upstream)
    try:
        yield proxy
    finally:
        proxy.close()


def database_url_via(url: str, port: int) -> str:
    """The same database URL with the host and port of a proxy on loopback."""
    scheme, _, rest = url.partition("://")
    auth, _, location = rest.rpartition("@")
    _, _, path = location.partition("/")
    return f"{scheme}://{auth + '@' if auth else ''}127.0.0.1:{port}/{path}"


def log_tail(path: Path, lines: int = 60) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class Gunicorn:
    """gunicorn serving dora.wsgi (sync workers, the repository's gunicorn.conf.py)."""

    process: subprocess.Popen
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def gunicorn_serving(
    env: dict[str, str],
    log_path: Path,
    *,
    workers: int = 1,
    threads: int = 1,
    ready_path: str = "/accounts/login/",
) -> Iterator[Gunicorn]:
    """Start gunicorn with `env` (over this process's environment) and wait until it answers.

    threads > 1 runs gthread workers: `workers` × `threads` requests at once, each thread with
    its own database connection (the races of several pipelines posting at once)."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "dora.wsgi:application",
        "--config",
        str(ROOT / "gunicorn.conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--threads",
        str(threads),
        "--pid",
        str(log_path.with_suffix(".pid")),
        # Its own control socket: two test processes may each run a gunicorn at once.
        "--control-socket",
        str(log_path.with_suffix(".ctl")),
    ]
    full_env = {
        # A laptop's `make test` may have no key; production settings refuse to start without.
        "DJANGO_SECRET_KEY": "test-only-not-secret",
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dora.settings",
        "DORA_STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        **env,
    }
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT
        )
    server = Gunicorn(process=process, port=port, log_path=log_path)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{log_tail(log_path)}")
            try:
                urllib.request.urlopen(server.url + ready_path, timeout=2)  # noqa: S310
                break
            except urllib.error.HTTPError:
                break  # it answers
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"gunicorn did not answer:\n{log_tail(log_path)}")
                time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


@dataclass(frozen=True)
class RedisServer:
    port: int
    process: subprocess.Popen

    def url(self, db: int = 0) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"


REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


@contextmanager
def redis_server(log_path: Path) -> Iterator[RedisServer]:
    """A private redis-server on a free loopback port, no persistence; gone afterwards."""
    port = free_port()
    command = [
        REDIS_SERVER,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--dir",
        str(log_path.parent),
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start:\n{log_tail(log_path)}")
            time.sleep(0.05)
        yield RedisServer(port=port, process=process)
    finally:
        process.kill()
        process.wait(timeout=5)


@dataclass(frozen=True)
class Worker:
    """A `celery -A dora worker` process with the production pool (prefork)."""

    process: subprocess.Popen
    nodename: str
    log_path: Path

    def pool_children(self) -> list[int]:
        """The pids of its pool processes (children of the main process)."""
        children = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so split after its ")"
            if int(stat.rpartition(")")[2].split()[1]) == self.process.pid:
                children.append(int(entry.name))
        return children

    def kill_all(self) -> None:
        """kill -9 the main process and its pool, as a lost machine would."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)


def broker_app(url: str) -> Any:
    """A Celery app that talks to `url` only. (CELERY_BROKER_URL in the environment wins over
    broker_url, even one given to the app; the read and write URLs win over both.)"""
    from celery import Celery

    app = Celery("outage-tests", set_as_current=False)
    app.conf.update(broker_read_url=url, broker_write_url=url)
    return app


@contextmanager
def celery_worker(
    env: dict[str, str], queue: str, log_path: Path, *, broker: str
) -> Iterator[Worker]:
    """Start a prefork worker (concurrency 1) consuming `queue` from `broker` and wait until it
    answers a ping. Its own session, so kill_all can take the pool down with it."""
    nodename = f"{queue}-{time.monotonic_ns()}@{socket.gethostname()}"
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "dora",
        "worker",
        "--pool=prefork",
        "--concurrency=1",
        "-l",
        "info",
        "-Q",
        queue,
        "-n",
        nodename,
        "--without-gossip",
        "--without-mingle",
    ]
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dora.settings",
        "CELERY_BROKER_URL": broker,
        "CONN_MAX_AGE": "0",
        **env,
    }
    full_env.pop("CELERY_RESULT_BACKEND", None)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    worker = Worker(process=process, nodename=nodename, log_path=log_path)
    control = broker_app(broker)
    try:
        deadline = time.monotonic() + 60
        while not any(nodename in reply for reply in control.control.ping([nodename], timeout=1)):
            if process.poll() is not None:
                raise RuntimeError(f"celery worker exited:\n{log_tail(log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"celery worker did not answer:\n{log_tail(log_path)}")
        yield worker
    finally:
        control.close()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
