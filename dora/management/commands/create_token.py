"""`manage.py create_token --scope ingest|gate|read --name N`: prints a new API token once."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dora.models import ApiToken


class Command(BaseCommand):
    help = "Create an API token. Its value is printed once; only its hash is stored."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scope", required=True, choices=ApiToken.Scope.values)
        parser.add_argument("--name", required=True, help="who or what uses it, e.g. ci-deploy")

    def handle(self, *args: Any, **options: Any) -> None:
        token, raw = ApiToken.issue(name=options["name"], scope=options["scope"])
        self.stderr.write(
            f"token '{token.name}' (scope {token.scope}) created; it is shown once, store it now:"
        )
        self.stdout.write(raw)
