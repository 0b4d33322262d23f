"""The `sources:` entry of kind pagerduty: what it must say beyond what the file reader checks.

The file reader (dora.config) reads `services:` / `urgency_severity:` into the spec; this is the
provider's own check, run again by apply_config (ingest.config).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dora.config import SourceSpec

DEFAULT_BASE_URL = "https://api.pagerduty.com"


def pagerduty_config_problems(spec: SourceSpec) -> list[str]:
    """What is wrong with a pagerduty source spec (empty when nothing is)."""
    where = f"sources.{spec.name}"
    problems = []
    if spec.org or spec.repos:
        problems.append(f"{where}: a pagerduty source names services, not org or repos")
    if not spec.services:
        problems.append(f"{where}: give services: {{PXXXXXX: checkout}} (PagerDuty id -> ours)")
    problems += [
        f"{where}.urgency_severity.{key}: PagerDuty urgencies are high, low"
        for key, _ in spec.urgency_severity
        if key not in ("high", "low")
    ]
    return problems
