"""`manage.py list_tokens [--all]`: the API tokens, their limits, last use and state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from dora.management.commands.create_token import token_limits
from dora.models import ApiToken


def token_state(token: ApiToken, *, now: datetime) -> str:
    if token.revoked:
        when = f" {token.revoked_at:%Y-%m-%d}" if token.revoked_at else ""
        return f"revoked{when}"
    if token.expires_at is not None and token.expires_at <= now:
        return f"expired {token.expires_at:%Y-%m-%d}"
    return "active"


class Command(BaseCommand):
    help = "List API tokens (never their values: only a prefix to recognise each)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="also revoked and expired tokens")

    def handle(self, *args: Any, **options: Any) -> None:
        now = datetime.now(UTC)
        rows = [("id", "name", "scope", "prefix", "state", "last used", "limits")]
        for token in ApiToken.objects.order_by("scope", "name", "id"):
            state = token_state(token, now=now)
            if state != "active" and not options["all"]:
                continue
            rows.append(
                (
                    str(token.id),
                    token.name,
                    token.scope,
                    f"{token.prefix}…",
                    state,
                    f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never",
                    token_limits(token),
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            self.stdout.write("  ".join([*cells, row[-1]]).rstrip())
        if len(rows) == 1:
            self.stderr.write("no tokens" + ("" if options["all"] else " active (--all)"))
