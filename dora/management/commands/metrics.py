"""`manage.py metrics`: the CONTRACT §4 report for a scope and window, as JSON, a table or CSV."""

from __future__ import annotations

import csv
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from dora.metrics.levels import BENCHMARK_YEARS, percentile_shown
from dora.reads.report import metrics_report
from dora.reads.report_items import summary_rows
from dora.reads.report_query import RANGE_TEXT, ParameterError, metrics_query_parse


class Command(BaseCommand):
    help = (
        "DORA, estate and value-stream metrics for services, a team or the whole organisation "
        "(no --service and no --team). Dates are ISO dates (00:00 UTC) or timestamps with a "
        f"zone, from {RANGE_TEXT}. Without --since and --until the window is the dashboards' "
        "(--range, --end, --start): by default the last 4 complete ISO weeks in the scope's "
        "time zone."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--service", action="append", default=[], help="a service (repeatable)")
        parser.add_argument("--team", help="a team: its services, items pooled")
        parser.add_argument("--since", help="window start (inclusive), e.g. 2026-01-01")
        parser.add_argument("--until", help="window end (exclusive); default now")
        parser.add_argument(
            "--range",
            help="without --since/--until: 1w, 4w, 12w (default) whole ISO weeks, q a quarter, "
            "custom the days --start to --end (the scope's time zone)",
        )
        parser.add_argument("--end", help="a day of the window's last week (default: last week)")
        parser.add_argument("--start", help="--range custom: the first day")
        parser.add_argument(
            "--benchmark",
            help=f"report year: {', '.join(map(str, BENCHMARK_YEARS))} (2025: percentiles of "
            "DORA's 2025 Quick Check distribution, the default when DORA's published file is "
            "found (DORA_QUICK_CHECK_2025_FILE), else 2024; 2021–2024: their levels)",
        )
        parser.add_argument(
            "--industry",
            help="2025 Quick Check industry to place the figures against (default: the team's, "
            "else the organisation's, else all), a key of DORA's published file",
        )
        parser.add_argument("--kind", choices=["app", "infra"], help="only services of a kind")
        parser.add_argument(
            "--tier",
            help="environment tier (default: production for the DORA figures, every "
            "environment for automation lag)",
        )
        parser.add_argument("--target", help="only rollouts and runs on this target")
        parser.add_argument("--format", choices=["json", "table", "csv"], default="table")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        try:
            query = metrics_query_parse(
                now=now,
                services=options["service"],
                team=options["team"],
                since=options["since"],
                until=options["until"],
                benchmark=options["benchmark"],
                kind=options["kind"],
                tier=options["tier"],
                target=options["target"],
                industry=options["industry"],
                range=options["range"],
                end=options["end"],
                start=options["start"],
            )
        except ParameterError as exc:
            raise CommandError(f"--{exc.parameter}: {exc}")
        report = metrics_report(query, now=now)
        if options["format"] == "json":
            self.stdout.write(json.dumps(report, indent=2, allow_nan=False))
        elif options["format"] == "csv":
            writer = csv.writer(self.stdout, lineterminator="\n")
            writer.writerow(["figure", "value", "n", "level", "percentile", "definitions_version"])
            version = report["definitions_version"]
            for row in summary_rows(report):
                writer.writerow(
                    [
                        row["figure"],
                        row["value"],
                        row["n"],
                        row["level"],
                        row["percentile"],
                        version,
                    ]
                )
        else:
            self.table_write(report)

    def table_write(self, report: dict[str, Any]) -> None:
        scope = report["scope"]
        who = (
            f"team {scope['team']}"
            if scope["team"]
            else ", ".join(scope["services"]) or "organisation"
        )
        window = report["window"]
        placement = report["placement"]
        against = f" ({placement['industry_name']})" if placement else ""
        self.stdout.write(
            f"{who} ({scope['tier']}), {window['since']} .. {window['until']}, "
            f"benchmark {report['benchmark']}{against}, "
            f"definitions v{report['definitions_version']} ({report['definitions_url']})"
        )
        # A tier year shows each figure's level; 2025 its percentile ("better than 72%").
        tiers = placement is None
        rows = [
            (
                r["figure"],
                r["value_text"],
                "" if r["n"] is None else str(r["n"]),
                (r["level"] or "-")
                if tiers
                else ("-" if r["percentile"] is None else f"{percentile_shown(r['percentile'])}%"),
            )
            for r in summary_rows(report)
            if r["figure"] != ("percentile" if tiers else "level")
        ]
        header = ("figure", "value", "n", "level" if tiers else "better than")
        widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
        for row in [header, tuple("-" * w for w in widths), *rows]:
            self.stdout.write(
                f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:>{widths[2]}}  {row[3]}"
            )
