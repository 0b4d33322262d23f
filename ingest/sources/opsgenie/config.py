"""The `sources:` entry of kind opsgenie: what it must say beyond what the file reader checks.

The file reader (dora.config) reads `services:`, `priority_severity:` and `alerts_tag:` into the
spec; this is the provider's own check, run again by apply_config (ingest.config).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest.sources.opsgenie.mapper import PRIORITIES

if TYPE_CHECKING:
    from dora.config import SourceSpec

DEFAULT_BASE_URL = "https://api.opsgenie.com"


def opsgenie_config_problems(spec: SourceSpec) -> list[str]:
    """What is wrong with an opsgenie source spec (empty when nothing is)."""
    where = f"sources.{spec.name}"
    problems = []
    if spec.org or spec.repos:
        problems.append(f"{where}: an opsgenie source names services, not org or repos")
    if not spec.services:
        problems.append(
            f"{where}: give services: {{<Opsgenie service id>: checkout}} (Opsgenie -> ours)"
        )
    problems += [
        f"{where}.priority_severity.{key}: Opsgenie priorities are {', '.join(PRIORITIES)}"
        for key, _ in spec.priority_severity
        if key not in PRIORITIES
    ]
    return problems
