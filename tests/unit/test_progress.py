"""The shared terminal progress display (ingest.progress): in place on a terminal, plain lines
elsewhere, the rate and the time left when a total is known."""

from __future__ import annotations

import io

from ingest.progress import SyncTally, TerminalProgress, duration


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_on_a_terminal_the_line_is_redrawn_in_place_and_blanks_a_longer_one() -> None:
    stream = FakeTTY()
    display = TerminalProgress(stream)

    display.write("page 1 of 3")
    display.write("page 2")  # 5 characters shorter: 5 spaces blank the rest
    display.finish()

    assert stream.getvalue() == "\rpage 1 of 3" + "\rpage 2" + " " * 5 + "\n"


def test_elsewhere_each_update_is_a_plain_line() -> None:
    stream = io.StringIO()
    display = TerminalProgress(stream)

    display.write("page 1 of 3")
    display.write("page 2")
    display.finish()

    assert stream.getvalue() == "page 1 of 3\npage 2\n"


def test_rate_and_eta_from_the_start_and_the_total() -> None:
    clock = Clock(100.0)
    display = TerminalProgress(io.StringIO(), clock=clock)
    clock.now = 104.0
    # 2 pages in 4 s: 0.5 pages/s; 10 - 2 = 8 pages left at 0.5/s: 16 s.
    assert display.rate_eta(2, 10, "pages") == "0.5 pages/s, ETA 0:16"
    # No total: the rate alone.
    assert display.rate_eta(2) == "0.5/s"
    # Nothing done yet: no rate to tell.
    assert display.rate_eta(0, 10, "pages") == ""
    display.restart()  # at 104
    clock.now = 110.0
    # 3 pages in 6 s: 0.5/s; 903 - 3 = 900 left: 1800 s = 30:00.
    assert display.rate_eta(3, 903, "pages") == "0.5 pages/s, ETA 30:00"


def test_duration_reads_minutes_then_hours() -> None:
    assert duration(59.4) == "0:59"
    assert duration(3725) == "1:02:05"  # 1 h, 2 min, 5 s


def test_sync_tally_counts_objects_per_repository_and_stream() -> None:
    tally = SyncTally()
    info = {"repo": "acme/shop", "stream": "pulls", "objects": 100, "page": 1, "pages": 12}
    assert tally.add(info) is True
    assert tally.add({**info, "page": 2}) is False
    assert tally.add({**info, "page": 3, "objects": 40}) is False
    assert tally.text({**info, "page": 3}) == "acme/shop pulls: page 3 of 12, 240 objects"
    other = {"repo": "acme/shop", "stream": "commits", "objects": 7, "page": 1, "pages": None}
    assert tally.add(other) is True
    assert tally.text(other) == "acme/shop commits: page 1, 7 objects"
