"""`manage.py gate --service S --version V --from ENV --to ENV`: the promotion gate's decision."""

from __future__ import annotations

import getpass
import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from dora.reads.promotion import (
    PromotionNotFound,
    PromotionRequest,
    decision_body,
    promotion_decide,
)

EXIT_BLOCKED = 3


class Command(BaseCommand):
    help = (
        "Ask the promotion gate (CONTRACT §5) and print the decision JSON; the decision is "
        "stored like the API's. Exit 0 allowed, 3 blocked, 1 for an unknown service or "
        "environment."
    )

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # CONTRACT §3 spells `--version V`; it replaces Django's own --version of the command.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--service", required=True)
        parser.add_argument("--version", required=True, help="a version label or a full sha")
        parser.add_argument("--from", dest="from_env", required=True, metavar="ENV")
        parser.add_argument("--to", dest="to_env", required=True, metavar="ENV")
        parser.add_argument("--pipeline-run", default="", help="the calling pipeline run's id")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["from_env"] == options["to_env"]:
            raise CommandError("--to must differ from --from")
        request = PromotionRequest(
            service=options["service"],
            version=options["version"],
            from_env=options["from_env"],
            to_env=options["to_env"],
            pipeline_run=options["pipeline_run"],
        )
        try:
            stored, decision = promotion_decide(
                request, now=timezone.now(), requested_by=f"manage.py gate ({_user()})"
            )
        except PromotionNotFound as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(decision_body(stored), indent=2))
        for check in decision.blocking:
            self.stderr.write(f"blocked by {check.name}: {check.detail}")
        for check in decision.warnings:
            self.stderr.write(f"warning {check.name}: {check.detail}")
        if not decision.allowed:
            sys.exit(EXIT_BLOCKED)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry in some containers
        return "unknown"
