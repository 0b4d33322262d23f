"""`manage.py sync [--source NAME]`: run ingestion now, in the foreground, with progress lines."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ingest.http import SourceRejected, SourceUnavailable
from ingest.models import Source
from ingest.sync import source_sync  # the provider found by kind


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
            self.stdout.write(f"{source.name}: syncing {source.base_url}")
            try:
                result = source_sync(source, progress=self._progress)
            except (SourceRejected, SourceUnavailable) as exc:
                failed += 1
                self.stderr.write(f"{source.name}: {type(exc).__name__}: {exc}")
                continue
            summary = result.as_dict()
            self.stdout.write(
                f"{source.name}: done, {summary['repositories']} repositories, "
                f"{sum(summary['objects'].values())} objects, events {summary['events']}, "
                f"{summary['api_calls']} API calls ({summary['not_modified']} not modified), "
                f"rate budget {summary['rate_remaining']}/{summary['rate_limit']}"
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

    def _progress(self, info: dict[str, Any]) -> None:
        self.stdout.write(
            f"  {info['repo']} {info['stream']}: {info['objects']} objects, "
            f"{info['api_calls']} API calls, {info['not_modified']} not modified, "
            f"rate budget {info['rate_remaining']}"
        )
