"""apply_config writes atlantis/spacelift/env0 sources with their stacks: rules, and a delivery
to the source then maps through them (the file -> Source row -> webhook path)."""

from __future__ import annotations

import base64

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from dora.config import config_apply, config_load
from dora.models import AutomationRun
from ingest.models import Source
from tests.infra_fixtures import infra_fixture_bytes

pytestmark = pytest.mark.django_db

FILE = """\
services:
  - {name: network, kind: infra}
sources:
  - name: atl-acme
    kind: atlantis
    webhook_secret_env: ATL_SECRET
    stacks:
      - {match: vpc, workspace: prod*, service: network, environment: production, target: eu-1}
"""


def test_apply_config_then_a_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = config_apply(config_load(FILE)).lines
    assert "+ source atl-acme" in lines
    source = Source.objects.get(name="atl-acme")
    assert (source.kind, source.token_env, source.webhook_secret_env) == (
        "atlantis",
        "",
        "ATL_SECRET",
    )
    assert source.stacks == [
        {
            "match": "vpc",
            "service": "network",
            "environment": "production",
            "workspace": "prod*",
            "target": "eu-1",
        }
    ]
    source.full_clean()  # the admin accepts what the file wrote
    assert config_apply(config_load(FILE)).lines == ()  # applied again: no change
    monkeypatch.setenv("ATL_SECRET", "pw")
    auth = "Basic " + base64.b64encode(b"atlantis:pw").decode()
    response = Client().generic(
        "POST",
        "/webhooks/atlantis/atl-acme",
        infra_fixture_bytes("atlantis", "drift.json"),
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )
    assert response.status_code == 200, response.json()
    run = AutomationRun.objects.select_related("service", "target").get()  # vpc only
    assert (run.service.name, run.target.name, run.drift_detected) == ("network", "eu-1", True)


def test_the_admin_checks_a_stack_sources_rules() -> None:
    source = Source(name="sl", kind="spacelift", token_env="", stacks=[{"match": "x"}])
    with pytest.raises(ValidationError) as exc:
        source.full_clean()
    assert "stacks[0]: service is required" in str(exc.value)
    polled = Source(name="gh", kind="github", token_env="", org="acme")
    with pytest.raises(ValidationError) as exc:
        polled.full_clean()
    assert "token_env" in exc.value.message_dict
