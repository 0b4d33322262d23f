"""Fill a notified run's version from the HCP Terraform API (the notification has no commit).

After a run notification is recorded, when the source has an API token (`token_env`), the
task `terraform_run_version_task` reads the run's commit (client.py) and records the stored
event again with CONTRACT §1's `version`, `sha` and `repo` (and `trigger`, `action` plan for a
plan-only run): an apply naming its commit is then also the stack's deployment of it. The
event keeps its `updated_at`, so a newer notification stored in the meantime wins (CONTRACT §1)
and is filled by its own task; later notifications keep the filled fields (mapper.run_event
merges over the stored event).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from dora.intake.events import events_record
from dora.models import RawEvent
from ingest.http import RestClient, SourceRejected
from ingest.sources.terraform.client import run_commit, terraform_client
from ingest.sources.terraform.mapper import run_with_commit
from ingest.sources.terraform.sources import terraform_source


@dataclass(frozen=True)
class VersionFill:
    """What one fill did: `filled`, `no_token`, `no_event`, `no_commit` or `unchanged`."""

    outcome: str
    version: str | None = None
    counts: dict[str, int] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome, "version": self.version, "counts": self.counts}


def terraform_run_version_fill(
    source: str, run_id: str, *, client: RestClient | None = None
) -> VersionFill:
    """Fill the stored run `run_id` of `source` from the API (see the module docstring)."""
    config = terraform_source(source)
    if config is None:
        raise SourceRejected(f"No terraform source named {source!r} (sources: kind terraform).")
    token = os.environ.get(config.token_env or "", "") if config.token_env else ""
    if client is None:
        if not token:
            return VersionFill("no_token")
        client = terraform_client(config.base_url, token)
    stored = (
        RawEvent.objects.filter(source=config.name, type="automation_run", external_id=run_id)
        .values_list("payload", flat=True)
        .first()
    )
    if not stored:
        return VersionFill("no_event")
    facts = run_commit(client, run_id)
    filled = run_with_commit(stored, facts)
    if filled == stored:
        return VersionFill("no_commit" if not facts.sha else "unchanged", facts.sha)
    report = events_record(
        [filled], default_source=config.name, sent_by=f"sync:{config.name} run {run_id}"
    )
    return VersionFill("filled", facts.sha, dict(report.counts))
