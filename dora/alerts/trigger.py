"""`Coalescer`: run a function in a background thread of this process, once per burst of wakes.

The gate wakes it after a blocked answer; the thread queues the evaluation task. The request
only sets an event (microseconds), so neither a slow broker nor a broker outage (each publish
bounded by DORA_BROKER_TIMEOUT_SECONDS) reaches the gate's answer. Wakes while a send is under
way are folded into one more send: the task evaluates every recent block, not one.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Coalescer:
    def __init__(self, send: Callable[[], object], *, name: str) -> None:
        self._send = send
        self._name = name
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def wake(self) -> None:
        """Ask for one send soon (returns at once)."""
        self._wanted.set()
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            self._start()

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            # A forked worker (gunicorn) does not inherit the parent's thread: start its own.
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            try:
                self._send()
            except Exception:  # never let the thread die: the next wake must still send
                log.exception("%s: sending failed", self._name)
