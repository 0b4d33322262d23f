"""`manage.py send_digests`: send the digests due now (what beat does), or preview one."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dora.digests import Digest, digest_deliver, digests_send, leadership_digest, team_digest
from dora.management.options import moment_option
from dora.models import Team


class Command(BaseCommand):
    help = (
        "Without --team or --leadership: send every digest due at --now and not sent yet (what "
        "the beat task does). With --team (repeatable) or --leadership: build those digests for "
        "--now and send them unless already sent for their period. --dry-run prints the subject, "
        "recipients and the plain-text part (--html: the HTML part) and sends nothing."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--team", action="append", default=[], help="a team (repeatable)")
        parser.add_argument("--leadership", action="store_true", help="the leadership digest")
        parser.add_argument("--dry-run", action="store_true", help="print, send nothing")
        parser.add_argument("--html", action="store_true", help="with --dry-run: the HTML part")
        parser.add_argument(
            "--now", default=None, help="the moment to act at, ISO 8601 with a zone (default now)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = moment_option(options["now"])
        names: list[str] = options["team"]
        if not names and not options["leadership"]:
            if options["dry_run"]:
                raise CommandError("--dry-run previews one digest: name --team or --leadership")
            report = digests_send(now=now)
            for subject, to in report.sent:
                self.stdout.write(f"sent: {subject} -> {', '.join(to)}")
            for line in report.skipped:
                self.stdout.write(f"skipped: {line}")
            if report.failed:
                raise CommandError(f"failed (see the log): {', '.join(report.failed)}")
            return
        teams = {team.name: team for team in Team.objects.filter(name__in=names)}
        missing = [name for name in names if name not in teams]
        if missing:
            raise CommandError(f"no such team: {', '.join(missing)}")
        digests = [team_digest(teams[name], now=now) for name in names]
        if options["leadership"]:
            digests.append(leadership_digest(now=now))
        for digest in digests:
            if options["dry_run"]:
                self._preview(digest, html=options["html"])
            elif not digest.to:
                self.stdout.write(f"not sent (no recipients): {digest.subject}")
            elif digest_deliver(digest, now=now):
                self.stdout.write(f"sent: {digest.subject} -> {', '.join(digest.to)}")
            else:
                self.stdout.write(f"already sent for this period: {digest.subject}")

    def _preview(self, digest: Digest, *, html: bool) -> None:
        self.stdout.write(f"Subject: {digest.subject}")
        self.stdout.write(f"To: {', '.join(digest.to) or '(nobody: no recipients)'}")
        for filename, content, mimetype in digest.attachments:
            self.stdout.write(f"Attachment: {filename} ({mimetype}, {len(content)} bytes)")
        self.stdout.write("")
        self.stdout.write(digest.html if html else digest.text)
