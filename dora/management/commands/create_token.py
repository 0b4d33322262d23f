"""`manage.py create_token --scope S --name N [limits]`: prints a new API token once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.dateparse import parse_date, parse_datetime

from dora.config import duration_parse
from dora.intake.schema import EVENT_TYPES
from dora.models import ApiToken, Service, Team


def _names(text: str | None) -> list[str]:
    return sorted({part.strip() for part in (text or "").split(",") if part.strip()})


def expiry_parse(text: str, *, now: datetime) -> datetime:
    """`90d`, `12h` (from now), or an ISO date or timestamp (a date means 00:00 UTC)."""
    try:
        return now + duration_parse(text)
    except ValueError:
        pass
    moment = parse_datetime(text)
    if moment is None and (day := parse_date(text)) is not None:
        moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if moment is None:
        raise CommandError(
            f"--expires {text!r}: give a duration from now (90d, 12h) or a date (2027-03-01)"
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment <= now:
        raise CommandError(f"--expires {text!r} is in the past")
    return moment


class Command(BaseCommand):
    help = (
        "Create an API token. Its value is printed once; only its hash is stored. Limit it to "
        "services, teams or event types, and give it an expiry: a pipeline's token should be "
        "able to do what that pipeline does, and no more."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--scope", required=True, choices=ApiToken.Scope.values)
        parser.add_argument("--name", required=True, help="who or what uses it, e.g. ci-deploy")
        parser.add_argument(
            "--services",
            help="comma-separated: only events about, gate questions on and metrics of these "
            "services (events without a service: their repositories)",
        )
        parser.add_argument(
            "--teams", help="comma-separated: as --services, for the teams' services (as they are)"
        )
        parser.add_argument(
            "--types",
            help=f"comma-separated event types an ingest token may send ({', '.join(EVENT_TYPES)})",
        )
        parser.add_argument(
            "--expires", help="refused from then on: 90d, 12h from now, or a date (2027-03-01)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = datetime.now(UTC)
        services, teams, types = (
            _names(options["services"]),
            _names(options["teams"]),
            _names(options["types"]),
        )
        unknown_types = [t for t in types if t not in EVENT_TYPES]
        if unknown_types:
            raise CommandError(
                f"--types: unknown {', '.join(unknown_types)} (one of {', '.join(EVENT_TYPES)})"
            )
        if types and options["scope"] != ApiToken.Scope.INGEST:
            raise CommandError("--types limits what a token sends: only for --scope ingest")
        if (services or teams) and options["scope"] == ApiToken.Scope.METRICS:
            raise CommandError(
                "--services/--teams: a metrics token scrapes GET /metrics, which reports every "
                "service; it takes no limits"
            )
        unknown_teams = sorted(set(teams) - set(Team.objects.values_list("name", flat=True)))
        if unknown_teams:
            raise CommandError(
                f"--teams: no team named {', '.join(unknown_teams)} (apply_config creates teams)"
            )
        expires = expiry_parse(options["expires"], now=now) if options["expires"] else None
        token, raw = ApiToken.issue(
            name=options["name"],
            scope=options["scope"],
            expires_at=expires,
            services=services,
            teams=teams,
            event_types=types,
        )
        new_services = sorted(set(services) - set(Service.objects.values_list("name", flat=True)))
        if new_services:
            self.stderr.write(
                f"note: no service named {', '.join(new_services)} yet (services are created "
                "when their first event arrives)"
            )
        self.stderr.write(
            f"token '{token.name}' (scope {token.scope}, {token_limits(token)}) created; "
            "it is shown once, store it now:"
        )
        self.stdout.write(raw)


def token_limits(token: ApiToken) -> str:
    """The limits of a token in words: 'services a, b; types deployment; expires 2027-03-01'."""
    parts = []
    if token.services:
        parts.append(f"services {', '.join(token.services)}")
    if token.teams:
        parts.append(f"teams {', '.join(token.teams)}")
    if token.event_types:
        parts.append(f"types {', '.join(token.event_types)}")
    parts.append(
        f"expires {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "no expiry"
    )
    return "; ".join(parts) if len(parts) > 1 or token.expires_at else "no limits, no expiry"
