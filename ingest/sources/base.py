"""What every provider's sync returns and reports: SyncResult and the progress callback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Progress = Callable[[dict[str, Any]], None]


@dataclass
class SyncResult:
    """What one source_sync did."""

    repositories: int = 0
    objects: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(
        default_factory=lambda: {"created": 0, "updated": 0, "unchanged": 0, "rejected": 0}
    )
    http: dict[str, Any] = field(default_factory=dict)
    # DORA_UNKNOWN_SERVICES: services the events named that are not declared (warn), or that do
    # not exist and whose events were rejected (reject).
    unconfigured_services: set[str] = field(default_factory=set)
    refused_services: set[str] = field(default_factory=set)
    # Repositories found from an org (GitHub discovery) and those left out, with why.
    discovered: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def record(
        self,
        events: list[dict[str, Any]],
        *,
        source: str,
        now: datetime,
        stream: str,
        objects: int,
    ) -> None:
        """Record one page's events as `source`'s sync (derived once the sync is done: per page,
        a list read newest first would replay the newer rollouts again on every page, quadratic
        in pages on a backfill) and count
        them, with the page's `objects` under `stream`."""
        from dora.intake.events import events_record

        report = events_record(
            events,
            default_source=source,
            now=now,
            defer_derivation=True,
            sent_by=f"sync:{source}",
        )
        self.add_report(report, stream=stream, objects=objects)

    def add_report(self, report: Any, *, stream: str, objects: int) -> None:
        """Count an intake report (dora.intake.events.IntakeReport) and `objects` read of
        `stream`."""
        for status, n in report.counts.items():
            self.events[status] += n
        self.unconfigured_services |= report.unconfigured_services
        self.refused_services |= report.refused_services
        self.objects[stream] = self.objects.get(stream, 0) + objects

    def as_dict(self) -> dict[str, Any]:
        return {
            "repositories": self.repositories,
            "objects": dict(self.objects),
            "events": dict(self.events),
            "unconfigured_services": sorted(self.unconfigured_services),
            "refused_services": sorted(self.refused_services),
            "discovered": list(self.discovered),
            "left_out": dict(self.skipped),  # repositories discovery left out, and why
            **self.http,
        }
