"""`manage.py evaluate_alerts`: evaluate the alert conditions now (what beat does every few
minutes) and send the new alerts' deliveries once, printing what fired, cleared and was sent."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dora.alerts.delivery import delivery_attempt
from dora.alerts.evaluate import alerts_evaluate
from dora.management.options import moment_option
from dora.models import AlertDelivery


class Command(BaseCommand):
    help = (
        "Evaluate the alert conditions at --now (default now) for the teams with an enabled "
        "channel, fire new ones and clear ended ones (docs/ALERTS.md), then make one attempt at "
        "each new delivery; a delivery that fails stays pending for the worker's retries."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--now", default=None, help="the moment to evaluate at, ISO 8601 with a zone"
        )
        parser.add_argument(
            "--provider",
            action="append",
            default=None,
            help="a provider's dotted path (repeatable; default DORA_ALERT_PROVIDERS)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = moment_option(options["now"])
        result = alerts_evaluate(now=now, providers=options["provider"])
        for key in result.fired:
            self.stdout.write(f"fired: {key}")
        for key in result.cleared:
            self.stdout.write(f"cleared: {key}")
        sent = pending = failed = 0
        for delivery_id in result.deliveries:
            delivery = delivery_attempt(delivery_id, now=now)
            status = delivery.status if delivery is not None else None
            sent += status == AlertDelivery.Status.SENT
            failed += status == AlertDelivery.Status.FAILED
            pending += status == AlertDelivery.Status.PENDING
        self.stdout.write(
            f"{len(result.fired)} fired, {len(result.cleared)} cleared; deliveries: {sent} sent, "
            f"{pending} to retry, {failed} failed"
        )
        if result.failed_providers:
            raise CommandError(
                f"providers failed (see the log): {', '.join(result.failed_providers)}"
            )
