"""`manage.py apply_config FILE [--check] [--prune]`: apply configuration as code (CONTRACT §2)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dora.config import ConfigError, config_apply, config_load
from dora.intake.derive import pending_derive
from dora.models import Team
from dora.units import plural


class Command(BaseCommand):
    help = (
        "Apply a YAML configuration file idempotently and print what changed. "
        "Exit codes: 0 applied (or, with --check, nothing would change); 1 with --check when "
        "something would change; 2 when the file is invalid or --prune refused a deletion."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="the YAML file; - reads standard input")
        parser.add_argument(
            "--check",
            action="store_true",
            help="print the difference and change nothing; exit 1 when something would change",
        )
        parser.add_argument(
            "--prune",
            action="store_true",
            help="also delete teams, services and environments the file does not name "
            "(never services or environments with deployments, incidents or automation runs)",
        )

    def handle(self, *args: Any, file: str, check: bool, prune: bool, **options: Any) -> None:
        if file == "-":
            text, filename = sys.stdin.read(), "<stdin>"
        else:
            try:
                text, filename = Path(file).read_text(encoding="utf-8"), file
            except (OSError, UnicodeDecodeError) as exc:
                raise CommandError(f"cannot read {file}: {exc}", returncode=2)
        # Known teams let config_load report unknown team references with every other problem;
        # with --prune only the file's teams count, which config_apply checks.
        known_teams = None if prune else set(Team.objects.values_list("name", flat=True))
        try:
            config = config_load(text, filename, known_teams=known_teams)
            diff = config_apply(config, dry_run=check, prune=prune)
        except ConfigError as exc:
            raise CommandError(str(exc), returncode=2)

        for line in diff.lines:
            self.stdout.write(line)
        if not diff.changed:
            self.stdout.write("no changes")
        for note in diff.notes:
            self.stdout.write(f"note: {note}")
        if diff.rederive:
            done_pairs = pending_derive()
            self.stdout.write(
                f"derived the facts of {plural(done_pairs, '(service, environment) pair')} again, "
                "since their configuration changed"
            )
        if diff.errors:
            done = "nothing was changed (--check)" if check else "the rest was applied"
            raise CommandError("\n".join([*diff.errors, done]), returncode=2)
        if check and diff.changed:
            raise SystemExit(1)
