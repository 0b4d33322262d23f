"""`manage.py sync [--source NAME]`: run ingestion now, in the foreground, with progress lines.

It takes the source's sync lease as a worker does (ingest.schedule.source_sync_exclusive): a
source a worker is syncing is skipped with a message, never read twice at once, and the admin's
Sources page shows this sync's progress while it runs."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.http import SourceUnavailable
from ingest.models import Source
from ingest.progress import SyncTally, TerminalProgress
from ingest.schedule import source_sync_exclusive  # the provider found by kind, under the lease


class Command(BaseCommand):
    help = (
        "Read the configured sources now (all of them, or --source NAME), printing one line per "
        "page: repository, stream, objects, API calls, 304s and the remaining rate budget."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--source", action="append", default=[], help="a source's name")

    def handle(self, *args: Any, **options: Any) -> None:
        names: list[str] = options["source"]
        sources = list(Source.objects.filter(name__in=names) if names else Source.objects.all())
        missing = sorted(set(names) - {s.name for s in sources})
        if missing:
            known = ", ".join(Source.objects.values_list("name", flat=True)) or "none"
            raise CommandError(f"No source named {', '.join(missing)} (configured: {known}).")
        if not sources:
            raise CommandError("No sources are configured: add one under `sources:` first.")
        failed = 0
        for source in sources:
            self.stdout.write(f"{source.name}: syncing {source.location or source.base_url}")
            self._display = TerminalProgress(self.stdout)
            problem = None
            try:
                summary = source_sync_exclusive(source.pk, progress=self._progress)
            except SourceUnavailable as exc:
                summary, problem = {}, f"SourceUnavailable: {exc}"
            self._display.finish()
            if "rejected" in summary:
                problem = f"SourceRejected: {summary['rejected']}"
            elif "skipped" in summary:
                problem = f"skipped: {summary['skipped']}; run it again when that one ends"
            if problem:
                failed += 1
                self.stderr.write(f"{source.name}: {problem}")
                continue
            not_modified = summary.get("not_modified", 0)  # GitLab's sync asks no 304s
            calls = (
                f", {summary['api_calls']} API calls ({not_modified} not modified), "
                f"rate budget {summary['rate_remaining']}/{summary.get('rate_limit', '?')}"
                if "api_calls" in summary
                else ""  # a git source calls no API
            )
            self.stdout.write(
                f"{source.name}: done, {summary['repositories']} repositories, "
                f"{sum(summary['objects'].values())} objects, events {summary['events']}{calls}"
            )
            if summary.get("discovered") or summary.get("left_out"):
                skipped = summary.get("left_out") or {}
                self.stdout.write(
                    f"{source.name}: {source.org}: reading {', '.join(summary['discovered'])}"
                    + (
                        "; left out "
                        + ", ".join(f"{name} ({why})" for name, why in skipped.items())
                        if skipped
                        else ""
                    )
                )
            if summary["refused_services"]:
                self.stderr.write(
                    f"{source.name}: events of unknown services rejected "
                    f"(DORA_UNKNOWN_SERVICES): {', '.join(summary['refused_services'])}; list "
                    "their repositories in a service's repos (apply_config) to record them"
                )
            if summary["unconfigured_services"]:
                self.stderr.write(
                    f"{source.name}: services without configuration: "
                    f"{', '.join(summary['unconfigured_services'])} (the admin lists them)"
                )
        if failed:
            raise CommandError(f"{failed} source(s) failed; see above.")

    def _progress(self, info: dict[str, Any], tally: SyncTally) -> None:
        """One page read (`tally` has counted it): the stream's pages (of the total the provider
        gives) and objects, the API calls, the rate budget, pages a second and the time left of
        this stream."""
        if tally.pages == 1:  # a new (repository, stream)
            self._display.restart()
        if info.get("total") is not None:  # a git sync: commits done of the total counted
            line = f"  {tally.text(info)} commits"
            if speed := self._display.rate_eta(info.get("done", 0), info["total"], "commits"):
                line += f", {speed}"
            self._display.write(line)
            return
        if "api_calls" not in info:  # a sync that calls no API (git's fetch)
            return
        done, page, pages = tally.pages, info.get("page"), info.get("pages")
        total = done + pages - page if page and pages else None
        line = (
            f"  {tally.text(info)}, {info['api_calls']} API calls, "
            f"{info.get('not_modified', 0)} not modified, rate budget {info['rate_remaining']}"
        )
        # Timed from this stream's first page: the pages read since, and those left.
        if speed := self._display.rate_eta(done - 1, total and total - 1, "pages"):
            line += f", {speed}"
        self._display.write(line)
