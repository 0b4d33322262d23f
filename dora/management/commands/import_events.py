"""`manage.py import_events FILE|-`: JSON Lines into the event intake, streamed."""

from __future__ import annotations

import bisect
import json
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dora.intake.events import events_record
from dora.intake.schema import MAX_DEPTH, EventInvalid
from dora.json_checks import json_loads
from dora.models import MissingCommit

# Larger derivations amortize their per-(service, environment) cost; memory stays bounded by it.
DERIVE_EVERY = 50_000
# Events per transaction: each batch pays a fixed number of statements (staging, upserts,
# marking), so a file import takes the API's largest request size.
BATCH_SIZE = 5_000
PROGRESS_EVERY = 10_000


def _lines(handle: TextIO) -> Iterator[Any]:
    """One item per line: the parsed object, or an EventInvalid saying why it is not JSON."""
    for line in handle:
        text = line.strip()
        if not text:
            yield None  # blank lines keep line numbers aligned; filtered out below
            continue
        try:
            yield json_loads(text)
        except json.JSONDecodeError as exc:
            yield EventInvalid(f"not valid JSON: {exc.msg} at column {exc.colno}")
        except RecursionError:
            yield EventInvalid(f"nested deeper than {MAX_DEPTH} levels")


class Command(BaseCommand):
    help = (
        "Import normalized events (CONTRACT §1) from a JSON Lines file ('-' reads stdin). "
        "Prints a summary; each rejected line goes to stderr with its number and reason; "
        "exits 1 if any line was rejected (every valid line is still stored)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="path to a .jsonl file, or - for stdin")
        parser.add_argument("--source", default="api", help="source for events that name none")
        parser.add_argument(
            "--batch-size", type=int, default=BATCH_SIZE, help="events per transaction"
        )
        parser.add_argument(
            "--derive-every",
            type=int,
            default=DERIVE_EVERY,
            help="derive the facts the import invalidated after this many events (and at the end)",
        )
        parser.add_argument("--quiet", action="store_true", help="no progress lines")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["file"]
        try:
            # Bytes that are not UTF-8 become lone surrogates: that line is rejected, not the file.
            if path == "-":
                handle = sys.stdin
                if hasattr(handle, "reconfigure"):
                    handle.reconfigure(errors="surrogateescape")
            else:
                handle = open(path, encoding="utf-8", errors="surrogateescape")  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"cannot read {path}: {exc.strerror}") from exc
        started = time.monotonic()
        # Item index -> line number without a list as long as the file: blank lines shift it.
        shifts: list[tuple[int, int]] = [(0, 1)]  # (first index, line number - index)
        progress_every = PROGRESS_EVERY

        def items() -> Iterator[Any]:
            index = 0
            for number, item in enumerate(_lines(handle), start=1):
                if item is None:
                    continue
                if number - index != shifts[-1][1]:
                    shifts.append((index, number - index))
                index += 1
                if not options["quiet"] and index % progress_every == 0:
                    rate = index / max(time.monotonic() - started, 1e-9)
                    self.stderr.write(f"… {index} events read ({rate:,.0f}/s)")
                yield item

        def line_of(index: int) -> int:
            return index + shifts[bisect.bisect_right(shifts, (index, 1 << 62)) - 1][1]

        try:
            report = events_record(
                items(),
                default_source=options["source"],
                batch_size=options["batch_size"],
                derive_every=options["derive_every"],
                keep_items=False,
                sent_by=f"command:import_events {path}",
            )
        except UnicodeDecodeError as exc:
            raise CommandError(f"{path} is not UTF-8 text ({exc.reason})") from exc
        finally:
            if handle is not sys.stdin:
                handle.close()
        for item in report.items:
            self.stderr.write(f"line {line_of(item.index)}: {item.reason}")
        counts = report.counts
        elapsed = time.monotonic() - started
        total = sum(counts.values())
        self.stdout.write(
            f"{total} events: {counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged, {counts['rejected']} rejected "
            f"in {elapsed:.1f}s ({total / max(elapsed, 1e-9):,.0f} events/s)"
        )
        if report.unconfigured_services:
            names = sorted(report.unconfigured_services)
            shown = ", ".join(names[:20]) + (f" … ({len(names)} in all)" if len(names) > 20 else "")
            self.stderr.write(
                f"warning: events named {len(names)} service(s) without configuration: {shown}; "
                "declare them (apply_config, the admin) or correct their names (the admin lists "
                "services without configuration)"
            )
        missing = MissingCommit.objects.values("sha").distinct().count()
        if missing:
            self.stderr.write(
                f"note: {missing} commit(s) named by deployments are not known yet; the change "
                "sets of the rollouts that need them stay incomplete until their commit events "
                "arrive (see MissingCommit in the admin)"
            )
        if counts["rejected"]:
            raise CommandError(
                f"{counts['rejected']} line(s) rejected; fix them and import the file again "
                "(already stored events will report 'unchanged')",
                returncode=1,
            )
