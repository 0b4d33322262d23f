"""`manage.py ingest_git PATH --repo NAME`: a local repository's history into the event intake."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dora.models import Service
from ingest.progress import TerminalProgress
from ingest.sources.git.history import GitIngested, git_history_ingest, tags_matching
from ingest.sources.git.reader import GitError, git_executable, has_commits, repository_check

BATCH_SIZE = 5_000
DERIVE_EVERY = 50_000


def _since(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise CommandError(
            f"--since {text!r}: expected a date or time, e.g. 2026-01-31 or 2026-01-31T12:00:00Z"
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Read a local git repository's history with the git command and record it as CONTRACT "
        "§1 events (source git:<repo>): a commit event per commit reachable from --rev, and with "
        "--tags each matching tag as a successful deployment of --service. Idempotent: running "
        "it again reports every event unchanged."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", help="the repository: a clone's directory or a bare repository")
        parser.add_argument("--repo", required=True, help="the repository's name, e.g. acme/shop")
        parser.add_argument("--service", help="the service the tags deploy (required with --tags)")
        parser.add_argument("--tags", metavar="PATTERN", help="regex: matching tags deploy")
        parser.add_argument("--environment", default="production", help="where tags deploy to")
        parser.add_argument("--since", help="only commits (and tags) from this date or time on")
        parser.add_argument("--rev", default="HEAD", help="read the commits reachable from this")
        parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
        parser.add_argument("--quiet", action="store_true", help="no progress lines")

    def handle(self, *args: Any, **options: Any) -> None:
        path, repo = options["path"], options["repo"]
        pattern = None
        if options["tags"] is not None:
            try:
                pattern = re.compile(options["tags"])
            except re.error as exc:
                raise CommandError(
                    f"--tags {options['tags']!r} is not a valid regular expression: {exc}"
                ) from exc
            if not options["service"]:
                raise CommandError("--tags needs --service: the service the tags deploy")
        service = options["service"]
        if service and not Service.objects.filter(name=service).exists():
            known = sorted(Service.objects.values_list("name", flat=True)[:21])
            shown = ", ".join(known[:20]) + (" …" if len(known) > 20 else "")
            raise CommandError(
                f"unknown service {service!r}: declare it (apply_config, the admin) or name one "
                f"of: {shown or '(no services yet)'}"
            )
        since = _since(options["since"]) if options["since"] else None
        try:
            git_executable()
            repository_check(path)
        except GitError as exc:
            raise CommandError(str(exc)) from exc
        rev = options["rev"]
        if not has_commits(path, rev):
            raise CommandError(f"{path}: {rev} names no commit (an empty repository? a bad --rev?)")
        started = time.monotonic()
        display = TerminalProgress(self.stderr)

        def progress(done: GitIngested) -> None:
            if not options["quiet"]:
                rate = display.rate_eta(done.commits)
                total = f" of {done.total:,}" if done.total is not None else ""
                display.write(f"… {done.commits:,}{total} commits ({rate or '0.0/s'})")

        try:
            # The tags first (few): their commits are read too, when no branch reaches them.
            tags = tags_matching(path, pattern, since=since) if pattern is not None else []
            done = git_history_ingest(
                path,
                repo=repo,
                starts=[rev],
                tags=tags,
                service=service,
                environment=options["environment"],
                since=since,
                count_first=not options["quiet"],
                batch_size=options["batch_size"],
                progress=progress,
                derive_every=DERIVE_EVERY,
                sent_by=f"command:ingest_git {repo}",
            )
        except GitError as exc:
            raise CommandError(str(exc)) from exc
        report = done.report
        display.finish()
        counts = report.counts
        elapsed = time.monotonic() - started
        self.stdout.write(
            f"{done.commits} commits, {done.tags} tag deployments: "
            f"{counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged, {counts['rejected']} rejected "
            f"in {elapsed:.1f}s ({done.commits / max(elapsed, 1e-9):,.0f} commits/s)"
        )
        for item in report.items:
            self.stderr.write(f"event {item.index}: {item.reason}")
        if counts["rejected"]:
            raise CommandError(f"{counts['rejected']} event(s) rejected", returncode=1)
