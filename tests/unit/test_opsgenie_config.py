"""`sources:` entries of kind opsgenie as dora.config reads them (no database)."""

from __future__ import annotations

import pytest

from dora.config import ConfigError, SourceSpec, config_load
from ingest.sources.opsgenie.config import opsgenie_config_problems

GOOD = """\
services:
  - name: checkout
  - name: web
sources:
  - name: og
    kind: opsgenie
    token_env: OPSGENIE_KEY
    base_url: https://api.eu.opsgenie.com
    services: {695bce3d-4621-4630-8ae1-24eb89c22d6e: checkout, web-frontend: web}
    priority_severity: {P3: sev2, P4: sev3}
    alerts_tag: incident
    interval: 5m
    webhook_secret_env: OG_WEBHOOK_SECRET
"""


def test_an_opsgenie_source_reads_services_priorities_and_the_alerts_tag() -> None:
    (spec,) = config_load(GOOD).sources

    assert spec.kind == "opsgenie" and spec.base_url == "https://api.eu.opsgenie.com"
    assert spec.services == (
        ("695bce3d-4621-4630-8ae1-24eb89c22d6e", "checkout"),
        ("web-frontend", "web"),
    )
    assert spec.priority_severity == (("P3", "sev2"), ("P4", "sev3"))
    assert spec.alerts_tag == "incident" and spec.webhook_secret_env == "OG_WEBHOOK_SECRET"
    assert opsgenie_config_problems(spec) == []


@pytest.mark.parametrize(
    ("line", "replacement", "message"),
    [
        (
            "    priority_severity: {P3: sev2, P4: sev3}\n",
            "    priority_severity: {P9: sev2}\n",
            "dora.yml:10: sources[0].priority_severity.P9: Opsgenie priorities are P1, P2, P3",
        ),
        (
            "    alerts_tag: incident\n",
            "    urgency_severity: {high: sev1}\n",
            "dora.yml:11: sources[0].urgency_severity: an opsgenie source names services",
        ),
        (
            "    alerts_tag: incident\n",
            "    repos: [acme/shop]\n",
            "dora.yml:11: sources[0].repos: an opsgenie source names services",
        ),
        (
            "    services: {695bce3d-4621-4630-8ae1-24eb89c22d6e: checkout, web-frontend: web}\n",
            "",
            "dora.yml:5: sources[0]: give services: {<Opsgenie service id>: checkout}",
        ),
        (
            "web-frontend: web}",
            "web-frontend: billing}",
            "dora.yml:9: sources[0].services.web-frontend: 'billing' is not a service of this file",
        ),
    ],
)
def test_opsgenie_source_errors_name_the_line(line: str, replacement: str, message: str) -> None:
    assert line in GOOD
    with pytest.raises(ConfigError) as exc:
        config_load(GOOD.replace(line, replacement))
    assert message in str(exc.value)


def test_only_an_opsgenie_source_names_priority_severity_and_alerts_tag() -> None:
    text = (
        "sources:\n  - name: gh\n    kind: github\n    token_env: T\n    org: acme\n"
        "    priority_severity: {P1: sev1}\n    alerts_tag: incident\n"
    )
    with pytest.raises(ConfigError) as exc:
        config_load(text)
    assert "dora.yml:6: sources[0].priority_severity: only an opsgenie source names" in str(
        exc.value
    )
    assert "dora.yml:7: sources[0].alerts_tag: only an opsgenie source names" in str(exc.value)


def test_the_providers_own_check_names_what_to_fix() -> None:
    spec = SourceSpec(
        name="og",
        kind="opsgenie",
        token_env="K",
        repos=("acme/shop",),
        priority_severity=(("P0", "sev1"),),
    )

    assert opsgenie_config_problems(spec) == [
        "sources.og: an opsgenie source names services, not org or repos",
        "sources.og: give services: {<Opsgenie service id>: checkout} (Opsgenie -> ours)",
        "sources.og.priority_severity.P0: Opsgenie priorities are P1, P2, P3, P4, P5",
    ]
