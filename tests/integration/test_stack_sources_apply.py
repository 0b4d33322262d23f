"""apply_config writes atlantis/spacelift/env0 (and argocd/flux) sources with their stacks:
rules, and a delivery to the source then maps through them (file -> Source row -> webhook)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from dora.config import config_apply, config_load
from dora.models import AutomationRun, Deployment
from ingest.models import Source
from tests.infra_fixtures import infra_fixture_bytes

pytestmark = pytest.mark.django_db
FLUX_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "flux"
ARGOCD_APP = FLUX_FIXTURES.parent / "argocd" / "application-helm-sync-failed.json"

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


GITOPS_FILE = """\
sources:
  - name: argo
    kind: argocd
    stacks:
      - {match: "helm-guestbook-*", destination: "prod-eu/*", service: guestbook,
         environment: production}
  - name: flux
    kind: flux
    webhook_secret_env: FLUX_TOKEN
    stacks:
      - {match: "Kustomization/flux-system/*", as: automation_run, service: platform,
         environment: production, target: prod-1}
"""


def test_argocd_and_flux_are_sources_of_the_file(monkeypatch: pytest.MonkeyPatch) -> None:
    import hashlib
    import hmac

    from django.conf import settings

    monkeypatch.setattr(settings, "DORA_UNKNOWN_SERVICES", "create")
    lines = config_apply(config_load(GITOPS_FILE)).lines
    assert ("+ source argo" in lines, "+ source flux" in lines) == (True, True)
    argo, flux = Source.objects.get(name="argo"), Source.objects.get(name="flux")
    assert argo.stacks[0]["destination"] == "prod-eu/*"
    assert flux.stacks == [
        {
            "match": "Kustomization/flux-system/*",
            "as": "automation_run",
            "service": "platform",
            "environment": "production",
            "target": "prod-1",
        }
    ]
    argo.full_clean()
    flux.full_clean()
    flux.stacks = [{**flux.stacks[0], "destination": "x/*"}]  # an argocd key on a flux rule
    with pytest.raises(ValidationError) as exc:
        flux.full_clean()
    assert "stacks[0].destination: only argocd rules name destination" in str(exc.value)

    monkeypatch.setenv("DORA_ARGOCD_WEBHOOK_SECRET", "argo-pw")  # the kind's default variable
    response = Client().generic(
        "POST",
        "/webhooks/argocd/argo",
        json.dumps({"app": json.loads((ARGOCD_APP).read_text())}),
        content_type="application/json",
        HTTP_AUTHORIZATION="Bearer argo-pw",
    )
    assert response.status_code == 200, response.json()
    deployment = Deployment.objects.select_related("service", "environment").get()
    assert (deployment.service.name, deployment.environment.name) == ("guestbook", "production")

    monkeypatch.setenv("FLUX_TOKEN", "flux-pw")
    body = (FLUX_FIXTURES / "event-kustomization-succeeded.json").read_bytes()
    signature = "sha256=" + hmac.new(b"flux-pw", body, hashlib.sha256).hexdigest()
    response = Client().generic(
        "POST",
        "/webhooks/flux/flux",
        body,
        content_type="application/json",
        HTTP_X_SIGNATURE=signature,
    )
    assert response.status_code == 200, response.json()
    run = AutomationRun.objects.select_related("service", "target").get()
    assert (run.service.name, run.target.name, run.action) == ("platform", "prod-1", "apply")
