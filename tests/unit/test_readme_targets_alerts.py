"""The README's targets and alerts snippets are valid configuration (dora.config.config_load)."""

from __future__ import annotations

import re
from pathlib import Path

from dora.config import config_load

README = Path(__file__).resolve().parents[2] / "README.md"


def _section_yaml(title: str) -> list[str]:
    text = README.read_text()
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```yaml\n(.*?)```", section, re.S)


def test_the_readme_targets_and_alerts_snippets_load() -> None:
    targets, alerts = _section_yaml("Targets, digests and alerts")

    loaded = config_load(targets)
    assert [(t.team or t.service, t.figure, t.below) for t in loaded.targets] == [
        ("payments", "lead_time.p50_seconds", 86400),
        ("checkout", "change_failure_rate.rate", 0.15),
        ("platform", "version_spread.max_versions", 2),
    ]
    (team,) = config_load(alerts).teams
    assert [channel.kind for channel in team.alerts] == ["slack", "email", "webhook"]
