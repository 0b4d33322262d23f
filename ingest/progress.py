"""One small terminal progress display, shared by `manage.py sync` and `manage.py ingest_git`.

On a terminal the line is redrawn in place (a carriage return, then the line padded over the
previous one); anywhere else (a pipe, a log file, a test's StringIO) each update is its own
plain line, as before. `rate_eta` gives the "N/s, ETA m:ss" suffix: the rate since `restart`
(or creation), and the time left when a total is known.

`SyncTally` turns the page reports of a provider's sync (ingest.sources.base.Progress) into
the text both the command and the admin's Sources page show, e.g.
"acme/shop pulls: page 3 of 12, 240 objects".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TextIO

from django.core.management.base import OutputWrapper


def duration(seconds: float) -> str:
    """Whole seconds as m:ss, or h:mm:ss from an hour on."""
    whole = max(int(round(seconds)), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class TerminalProgress:
    """Draw progress lines on `stream`: in place on a terminal, plain lines otherwise."""

    def __init__(
        self,
        stream: TextIO,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        # A command's self.stdout adds a newline to what does not end in one: write past it.
        self.stream = stream._out if isinstance(stream, OutputWrapper) else stream
        self.tty = self.stream.isatty() if tty is None else tty
        self.clock = clock
        self.started = clock()
        self._width = 0  # the drawn line's length, to blank what a shorter line leaves

    def restart(self) -> None:
        """Measure the rate from now (e.g. a new stream of pages)."""
        self.started = self.clock()

    def rate_eta(self, done: int, total: int | None = None, unit: str = "") -> str:
        """`"2.5 pages/s, ETA 0:04"`: the rate since the start, the time left of `total`."""
        elapsed = self.clock() - self.started
        if elapsed <= 0 or done <= 0:
            return ""
        rate = done / elapsed
        text = f"{rate:,.1f} {unit}/s" if unit else f"{rate:,.1f}/s"
        if total is not None and total >= done:
            text += f", ETA {duration((total - done) / rate)}"
        return text

    def write(self, line: str) -> None:
        if not self.tty:
            self.stream.write(line + "\n")
            return
        pad = " " * max(self._width - len(line), 0)
        self.stream.write("\r" + line + pad)
        self.stream.flush()
        self._width = len(line)

    def finish(self) -> None:
        """End an in-place line (a terminal only) so that what follows starts on its own."""
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()
        self._width = 0


class SyncTally:
    """Objects and pages of the current (repository, stream), from a sync's page reports."""

    def __init__(self) -> None:
        self.key: tuple[str, str] | None = None
        self.objects = 0
        self.pages = 0

    def add(self, info: dict[str, Any]) -> bool:
        """Count one page report; True when it starts a new (repository, stream)."""
        key = (info["repo"], info["stream"])
        new = key != self.key
        if new:
            self.key, self.objects, self.pages = key, 0, 0
        self.objects += info.get("objects", 0)
        self.pages += 1
        return new

    def text(self, info: dict[str, Any]) -> str:
        """`acme/shop pulls: page 3 of 12, 240 objects` (`of N` when the provider said)."""
        if info.get("total") is not None:  # a git sync: commits done of those counted first
            return f"{info['repo']} {info['stream']}: {info.get('done', 0):,} of {info['total']:,}"
        page = info.get("page") or self.pages
        total = info.get("pages")
        of = f" of {total}" if total else ""
        return f"{info['repo']} {info['stream']}: page {page}{of}, {self.objects} objects"
