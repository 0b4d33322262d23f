"""`manage.py revoke_token ID|PREFIX|NAME`: the token is refused from now on (kept on record)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from dora.models import ApiToken


class Command(BaseCommand):
    help = (
        "Revoke an API token, named by its id, the prefix list_tokens shows (dora_gate_Ab1…), or "
        "its name when one active token has it. It is refused from the next request on."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("token", help="id, prefix or name (see list_tokens)")

    def handle(self, *args: Any, **options: Any) -> None:
        given = options["token"].strip().rstrip("…")
        match = Q(prefix=given) | Q(name=given)
        if given.isdigit():
            match |= Q(id=int(given))
        found = list(ApiToken.objects.filter(match, revoked=False))
        if not found:
            raise CommandError(f"no active token with id, prefix or name {given!r} (list_tokens)")
        if len(found) > 1:
            ids = ", ".join(f"{t.id} ({t.scope}, {t.prefix}…)" for t in found)
            raise CommandError(f"{len(found)} active tokens match {given!r}: {ids}; give the id")
        (token,) = found
        token.revoked, token.revoked_at = True, datetime.now(UTC)
        token.save(update_fields=["revoked", "revoked_at"])
        self.stdout.write(
            f"revoked token {token.id} '{token.name}' ({token.scope}, {token.prefix}…)"
        )
