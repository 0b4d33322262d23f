"""The validated event and what intake (dora.intake.events) and storage (dora.intake.records) both
read of it.

Its own module so that dora.intake.events, which validates and stores, and dora.intake.records,
which it calls to store, import it from below instead of from each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

_REVERT_RE = re.compile(r"This reverts commit ([0-9a-fA-F]{7,64})")
# The event types that name a service (and an environment): they place records in the estate.
SERVICE_TYPES = ("deployment", "incident", "automation_run", "out_of_band_change")


@dataclass(frozen=True)
class Event:
    """A validated event: its idempotency key and its typed fields."""

    source: str
    type: str
    id: str
    fields: dict[str, Any]
    raw: dict[str, Any]
    digest: str
    canonical: str = field(repr=False)  # raw as canonical JSON: hashed into digest, stored as is

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.source, self.type, self.id)

    @property
    def source_time(self) -> datetime | None:
        """When the source last changed this object (its `updated_at`), if it says."""
        return self.fields.get("updated_at")


def commit_reverted_sha(message: str) -> str:
    """The sha a revert commit names in git's standard 'This reverts commit <sha>.' line."""
    match = _REVERT_RE.search(message or "")
    return match.group(1).lower() if match else ""
