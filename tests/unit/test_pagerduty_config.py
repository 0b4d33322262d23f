"""`sources:` entries of kind pagerduty as dora.config reads them (no database)."""

from __future__ import annotations

import pytest

from dora.config import ConfigError, config_load
from ingest.sources.pagerduty.config import pagerduty_config_problems

GOOD = """\
services:
  - name: checkout
  - name: web
sources:
  - name: pd
    kind: pagerduty
    token_env: PD_TOKEN
    services: {PSVC001: checkout, PSVC002: web}
    urgency_severity: {high: sev1, low: sev3}
    interval: 5m
    backfill: 30d
    webhook_secret_env: PD_WEBHOOK_SECRET
"""


def test_a_pagerduty_source_reads_services_and_urgency_severity() -> None:
    (spec,) = config_load(GOOD).sources

    assert spec.kind == "pagerduty" and spec.token_env == "PD_TOKEN"
    assert spec.services == (("PSVC001", "checkout"), ("PSVC002", "web"))
    assert spec.urgency_severity == (("high", "sev1"), ("low", "sev3"))
    assert spec.webhook_secret_env == "PD_WEBHOOK_SECRET" and spec.backfill.days == 30
    assert pagerduty_config_problems(spec) == []


def test_an_unknown_service_of_ours_is_an_error_naming_its_line() -> None:
    text = GOOD.replace("PSVC002: web}", "PSVC002: billing}")

    with pytest.raises(ConfigError) as exc:
        config_load(text)

    assert "dora.yml:8: sources[0].services.PSVC002: 'billing' is not a service of this file" in (
        str(exc.value)
    )


@pytest.mark.parametrize(
    ("line", "replacement", "message"),
    [
        (
            "    services: {PSVC001: checkout, PSVC002: web}\n",
            "",
            "dora.yml:5: sources[0]: give services: {PXXXXXX: checkout}",
        ),
        (
            "    interval: 5m\n",
            "    interval: 5m\n    repos: [acme/checkout]\n",
            "dora.yml:11: sources[0].repos: a pagerduty source names services",
        ),
        (
            "{high: sev1, low: sev3}",
            "{urgent: sev1}",
            "dora.yml:9: sources[0].urgency_severity.urgent: PagerDuty urgencies are high, low",
        ),
        (
            "{PSVC001: checkout, PSVC002: web}",
            "[PSVC001]",
            "dora.yml:8: sources[0].services: expected a mapping",
        ),
    ],
)
def test_pagerduty_source_errors_name_the_line(line: str, replacement: str, message: str) -> None:
    with pytest.raises(ConfigError) as exc:
        config_load(GOOD.replace(line, replacement))

    assert message in str(exc.value)


def test_only_a_pagerduty_source_names_services() -> None:
    text = "sources:\n  - name: gh\n    kind: github\n    token_env: T\n    org: acme\n"
    text += "    services: {PSVC001: checkout}\n"

    with pytest.raises(ConfigError) as exc:
        config_load(text)

    assert "dora.yml:6: sources[0].services: only a pagerduty source names services" in str(
        exc.value
    )
