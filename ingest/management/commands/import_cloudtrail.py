"""`manage.py import_cloudtrail --source NAME PATH...`: CloudTrail log files (or EventBridge
events) as `out_of_band_change` events, mapped by the cloudtrail source's pipeline_roles,
accounts and ignored_sources, recorded through the event intake (as that source) or printed."""

from __future__ import annotations

import gzip
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dora.intake.events import events_record
from ingest.sources.cloudtrail.config import CloudTrailConfigError, cloudtrail_source_mapping
from ingest.sources.cloudtrail.mapper import records_map, records_of


def _document(path: str) -> Any:
    """A CloudTrail log file as delivered (`.json.gz`) or unpacked (`.json`)."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rt", encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CommandError(f"cannot read {path}: {exc}") from exc


class Command(BaseCommand):
    help = (
        "Map CloudTrail records (log files .json or .json.gz, EventBridge events) to "
        "out_of_band_change events: writes by principals other than the pipeline's roles, in "
        "the accounts the cloudtrail source (--source) places. Records them as that source (or "
        "prints JSON Lines with --print) and lists what was skipped and why with --verbosity 2."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("paths", nargs="+", help="CloudTrail log files")
        parser.add_argument(
            "--source",
            default="cloudtrail",
            help="the cloudtrail source whose mapping applies (default cloudtrail)",
        )
        parser.add_argument(
            "--print", action="store_true", help="print the events as JSON Lines, store nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["source"]
        try:
            mapping = cloudtrail_source_mapping(name)
        except CloudTrailConfigError as exc:
            raise CommandError(f"source {name}: its mapping is wrong: {exc}") from exc
        if mapping is None:
            raise CommandError(
                f"no cloudtrail source named {name!r}: add it to sources: (kind: cloudtrail) "
                "and run apply_config"
            )
        records = [r for path in options["paths"] for r in records_of(_document(path))]
        mapped = records_map(records, mapping)
        if options["verbosity"] >= 2:
            for skipped in mapped.skipped:
                self.stderr.write(f"skipped {skipped.incident}: {skipped.reason}")
        if options["print"]:
            for event in mapped.events:
                self.stdout.write(json.dumps(event, sort_keys=True))
            return
        report = events_record(
            mapped.events, default_source=mapping.source, sent_by="command:import_cloudtrail"
        )
        for item in report.items:
            if item.status == "rejected":
                self.stderr.write(f"rejected {item.index}: {item.reason}")
        counts = report.counts
        self.stdout.write(
            f"{len(records)} records: {len(mapped.events)} changes outside the pipeline "
            f"({counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged, {counts['rejected']} rejected), "
            f"{len(mapped.skipped)} skipped"
        )
        if counts["rejected"]:
            raise CommandError("some changes were rejected (see above)")
