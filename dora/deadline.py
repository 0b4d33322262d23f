"""Client-side deadlines on the database: a request that waits for PostgreSQL past its deadline
has its connection cut, so it fails at once (503) instead of hanging.

PostgreSQL's `statement_timeout` (DORA_DB_STATEMENT_TIMEOUT) is enforced by the server, so a
server that stops answering (stopped, swapping, a network path that black-holes packets while
the kernel keeps ACKing) never sends that error, and libpq waits on the socket for ever. Here a
single watchdog thread per process keeps the armed deadlines; when one passes it shuts down the
socket of that request's connection (`shutdown(2)` on a duplicate of its descriptor). The
blocked read then returns at once, psycopg raises OperationalError ("server closed the
connection unexpectedly"), Django's error handling runs as for any lost connection, and the
connection is closed when the deadline is disarmed, so the next request connects again.

This works with any thread (gunicorn sync or threaded workers, Django's development server),
unlike a SIGALRM, which only reaches the main thread. It cannot cut a connection that is still
being established: DORA_DB_CONNECT_TIMEOUT bounds that (psycopg applies it to the whole
connect, authentication included), so keep it at or below the shortest deadline.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.http import HttpRequest, HttpResponse

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Deadline:
    """One armed deadline: `fired` once the watchdog cut the connection."""

    at: float
    seconds: float
    wrapper: Any  # the request thread's django.db DatabaseWrapper
    fired: bool = False
    done: bool = False
    order: int = field(default=0)

    def __lt__(self, other: Deadline) -> bool:
        return (self.at, self.order) < (other.at, other.order)


class _Watchdog:
    """One thread per process, started on first use (so after gunicorn forks a worker)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._heap: list[Deadline] = []
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._order = itertools.count()

    def arm(self, seconds: float, wrapper: Any) -> Deadline:
        deadline = Deadline(
            at=time.monotonic() + seconds,
            seconds=seconds,
            wrapper=wrapper,
            order=next(self._order),
        )
        with self._condition:
            if self._thread is None or self._pid != os.getpid():
                # A forked child inherits the lock state but not the thread.
                self._heap = []
                self._pid = os.getpid()
                self._thread = threading.Thread(
                    target=self._run, name="dora-db-deadline", daemon=True
                )
                self._thread.start()
            heapq.heappush(self._heap, deadline)
            if self._heap[0] is deadline:
                self._condition.notify()
        return deadline

    def disarm(self, deadline: Deadline) -> bool:
        """Take the deadline off; True when it had fired (its connection is cut)."""
        with self._condition:  # waits for a firing in progress to finish
            deadline.done = True
            return deadline.fired

    def _run(self) -> None:
        with self._condition:
            while True:
                while self._heap and self._heap[0].done:
                    heapq.heappop(self._heap)
                if not self._heap:
                    self._condition.wait()
                    continue
                wait = self._heap[0].at - time.monotonic()
                if wait > 0:
                    self._condition.wait(wait)
                    continue
                deadline = heapq.heappop(self._heap)
                deadline.fired = True
                _connection_cut(deadline)


def _connection_cut(deadline: Deadline) -> None:
    """Shut down the socket of the deadline's connection, if it has one right now."""
    wrapper = deadline.wrapper
    raw = getattr(wrapper, "connection", None)
    if raw is None or getattr(wrapper, "vendor", "") != "postgresql" or raw.closed:
        return
    try:
        descriptor = raw.pgconn.socket
        with socket.socket(fileno=os.dup(descriptor)) as duplicate:
            duplicate.shutdown(socket.SHUT_RDWR)
    except Exception:  # already gone: nothing left to cut
        log.debug("database deadline: the connection was already closed", exc_info=True)
        return
    log.warning(
        "the database did not answer within %.1f s: connection cut (the request fails)",
        deadline.seconds,
    )


_watchdog = _Watchdog()


@contextmanager
def database_deadline(seconds: float | None, alias: str = DEFAULT_DB_ALIAS) -> Iterator[Deadline]:
    """Within the block, this thread's connection is cut `seconds` from now (None or 0: never).
    A connection that was cut is closed when the block ends, so the next use reconnects."""
    wrapper = connections[alias]
    if not seconds or seconds <= 0 or wrapper.vendor != "postgresql":
        yield Deadline(at=float("inf"), seconds=0, wrapper=wrapper, done=True)
        return
    deadline = _watchdog.arm(seconds, wrapper)
    try:
        yield deadline
    finally:
        if _watchdog.disarm(deadline):
            _connection_discard(wrapper)


def _connection_discard(wrapper: Any) -> None:
    try:
        wrapper.close()  # inside an atomic block Django also marks it for rollback
    except Exception:  # a cut connection may fail to close cleanly; it is dropped either way
        log.debug("database deadline: closing the cut connection failed", exc_info=True)
        wrapper.connection = None


class DatabaseDeadlineMiddleware:
    """Every request's database work gets DORA_REQUEST_TIMEOUT_SECONDS (above the server's
    statement timeout, below gunicorn's worker timeout); a view can set a shorter one of its
    own with `database_deadline` (the promotion gate: DORA_GATE_TIMEOUT_SECONDS)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with database_deadline(settings.DORA_REQUEST_TIMEOUT_SECONDS) as deadline:
            request.database_deadline = deadline  # type: ignore[attr-defined]
            return self.get_response(request)
