"""What every provider's sync returns and reports: SyncResult and the progress callback."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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

    def as_dict(self) -> dict[str, Any]:
        return {
            "repositories": self.repositories,
            "objects": dict(self.objects),
            "events": dict(self.events),
            "unconfigured_services": sorted(self.unconfigured_services),
            "refused_services": sorted(self.refused_services),
            **self.http,
        }
