"""`manage.py seed_demo`: the demo estate (dora/demo.yml) and its history, via the event intake."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from dora.config import ConfigError, config_apply, config_load
from dora.demo import DEMO_CONFIG_PATH, SOURCE, demo_events
from dora.intake.events import events_record
from dora.management.options import moment_option
from dora.models import Deployment, GateDecision, RawEvent, Service
from dora.reads.promotion import PromotionRequest, promotion_decide

BATCH_SIZE = 1000
DERIVE_EVERY = 10_000  # derive facts in a few large passes: far fewer per-pair round trips
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # noqa: S105 - the documented login of the local demo
SHOWN_REJECTIONS = 5
DEMO_PIPELINE = "token:demo-pipeline"
# When the demo pipelines asked the gate, before the demo's `now`.
GATE_MOMENTS = tuple(
    timedelta(days=d, hours=h)
    for d, h in ((120, 5), (90, 3), (60, 7), (45, 2), (38, 4), (20, 6), (2, 1), (0, 2))
)


def _parse_now(value: str | datetime | None) -> datetime:
    """--now: an ISO timestamp with a zone; default the current hour (so reruns line up)."""
    if value is None or value == "":
        return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise CommandError(f"--now {value!s} has no time zone; add Z or an offset like +01:00")
        return value.astimezone(UTC)
    return moment_option(value)


class Command(BaseCommand):
    help = (
        "Create the demo estate: apply dora/demo.yml, then send a deterministic, realistic history "
        "of commits, pull requests, pipelines, deployments, incidents and infrastructure runs "
        "through the event intake; create the login demo/demo. Skips when already seeded."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--weeks", type=int, default=26, help="weeks of history (default 26)")
        parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
        parser.add_argument(
            "--force",
            action="store_true",
            help="seed even when demo events exist (events with the same ids are updated)",
        )
        parser.add_argument(
            "--now",
            default=None,
            help="end of the history, ISO 8601 with a zone (default: the current hour, UTC)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        weeks: int = options["weeks"]
        if weeks < 1:
            raise CommandError("--weeks must be at least 1")
        now = _parse_now(options["now"])
        if RawEvent.objects.filter(source=SOURCE).exists() and not options["force"]:
            self.stdout.write("demo estate already seeded; use --force to re-seed")
            self.ensure_user()
            return

        try:
            text = DEMO_CONFIG_PATH.read_text(encoding="utf-8")
            diff = config_apply(config_load(text, "dora/demo.yml"))
        except ConfigError as exc:
            raise CommandError(f"dora/demo.yml does not apply: {exc}") from exc
        self.stdout.write(f"applied dora/demo.yml ({len(diff.lines)} changes)")

        started = time.monotonic()
        events = list(demo_events(now=now, weeks=weeks, seed=options["seed"]))
        total = len(events)

        def progress(done: int) -> None:
            self.stderr.write(
                f"seeded {done}/{total} events ({100 * done // total}%, "
                f"{time.monotonic() - started:.0f}s)"
            )

        report = events_record(
            events,
            default_source=SOURCE,
            now=now,
            batch_size=BATCH_SIZE,
            sent_by="command:seed_demo",
            derive_every=DERIVE_EVERY,
            keep_items=False,
            progress=progress,
            unknown_services="create",  # the demo's history names only what demo.yml declares
        )
        counts = report.counts
        if counts["rejected"]:
            self.fail(report, events, 0)
        elapsed = time.monotonic() - started
        summary = ", ".join(f"{count} {status}" for status, count in counts.items())
        self.stdout.write(
            f"demo estate: {total} events over {weeks} weeks up to {now:%Y-%m-%dT%H:%MZ} "
            f"({summary}) in {elapsed:.1f}s"
        )
        decisions = seed_gate_decisions(now)
        self.stdout.write(
            f"promotion gate: {decisions['allowed']} allowed and {decisions['blocked']} blocked "
            "demo decisions (staging -> production)"
        )
        self.ensure_user()

    def ensure_user(self) -> None:
        users = get_user_model()
        if not users.objects.filter(username=DEMO_USERNAME).exists():
            users.objects.create_superuser(DEMO_USERNAME, "demo@example.com", DEMO_PASSWORD)
        self.stdout.write(f"log in as {DEMO_USERNAME} / {DEMO_PASSWORD}")

    def fail(self, report: Any, batch: list[dict[str, Any]], offset: int) -> None:
        """A rejected demo event is a bug in dora/demo.py: say which and stop."""
        rejected = [item for item in report.items if item.status == "rejected"]
        # Valid events were stored and their facts derived; only the rejected ones are missing.
        for item in rejected[:SHOWN_REJECTIONS]:
            event = batch[item.index] if 0 <= item.index < len(batch) else {}
            self.stderr.write(
                f"rejected event {offset + item.index} "
                f"({event.get('type')} {event.get('id')}): {item.reason}"
            )
        raise CommandError(
            f"{len(rejected)} demo events were rejected (a bug in dora/demo.py); "
            "every valid event was stored"
        )


def seed_gate_decisions(now: datetime) -> dict[str, int]:
    """Ask the gate, as a pipeline would, at a few moments of the last weeks, to promote each app
    service's newest staging version of that moment to production; the answers are stored like
    any other decision (the demo's stale network stack in staging blocks the recent ones of the
    services that run on it; a legacy service nobody deployed to staging for a week blocks its
    own)."""
    GateDecision.objects.filter(requested_by=DEMO_PIPELINE).delete()
    counts = {"allowed": 0, "blocked": 0}
    asked = 0
    for service in Service.objects.filter(kind=Service.Kind.APP).order_by("name"):
        staging = Deployment.objects.filter(
            service=service, environment__name="staging", status="success"
        ).exclude(version="")
        for offset in GATE_MOMENTS:
            moment = now - offset
            version = (
                staging.filter(finished_at__lte=moment)
                .order_by("-finished_at")
                .values_list("version", flat=True)
                .first()
            )
            if version is None:
                continue
            asked += 1
            stored, _ = promotion_decide(
                PromotionRequest(
                    service=service.name,
                    version=version,
                    from_env="staging",
                    to_env="production",
                    pipeline_run=f"demo-run-{asked}",
                ),
                now=moment,
                requested_by=DEMO_PIPELINE,
            )
            counts["allowed" if stored.allowed else "blocked"] += 1
    return counts
