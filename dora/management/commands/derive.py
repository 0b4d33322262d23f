"""`manage.py derive [--all]`: derive pending facts now, or every pair again from scratch."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dora.intake import derive
from dora.units import plural


class Command(BaseCommand):
    help = (
        "Derive the facts intake left pending (normally done at once; this recovers from a crash). "
        "--all re-derives every (service, environment) from its stored records, e.g. after a "
        "definition changed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="re-derive everything")
        parser.add_argument(
            "--retry-failed",
            action="store_true",
            help="also try again the pairs whose derivation failed (see the admin's Derive "
            "pendings, or /readyz)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        if options["all"]:
            marked = derive.pairs_mark()
            self.stderr.write(
                f"{plural(marked, '(service, environment) pair')} marked for derivation"
            )
        done = derive.pending_derive(retry_failed=options["retry_failed"] or options["all"])
        self.stdout.write(f"derived {plural(done, 'pair')} in {time.monotonic() - started:.1f}s")
        failures = derive.derivation_failures()
        for failure in failures:
            self.stderr.write(
                f"FAILED {failure.service} in {failure.environment} "
                f"(since {failure.failed_at:%Y-%m-%d %H:%M} UTC): {failure.error}"
            )
        if failures:
            self.stderr.write(
                f"{plural(len(failures), 'pair')} could not be derived; the others are up to date. "
                "Fix or delete the facts the errors name, then run `derive --retry-failed`."
            )
