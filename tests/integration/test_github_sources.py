"""GitHub sources from configuration as code (the sources_apply hook), the webhook reading its
source from the Source row."""

from __future__ import annotations

import hashlib
import hmac
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from dora.config import Config, SourcesApplied, config_apply, config_load, sources_apply
from dora.models import Deployment
from ingest.models import Source, SyncCursor
from tests.shared import shared_fixture

pytestmark = pytest.mark.django_db

SOURCES = """\
sources:
  - name: github-acme
    kind: github
    base_url: https://ghe.example.com/api/v3
    token_env: ACME_GITHUB_TOKEN
    org: acme
    interval: 5m
    backfill: 30d
    webhook_secret_env: ACME_HOOK_SECRET
    deployments:
      from: [deployments_api, workflow_jobs]
      workflow_pattern: "^deploy"
      environments: {prod: production}
    incidents:
      label: outage
  - name: github-oss
    kind: github
    token_env: GITHUB_TOKEN
    repos: [octo/shop, octo/web]
"""


def _command(text: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    path = tmp_path / "dora.yml"
    path.write_text(text)
    out = io.StringIO()
    try:
        call_command("apply_config", str(path), *args, stdout=out, stderr=io.StringIO())
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue(), ""
    except CommandError as exc:
        return exc.returncode, out.getvalue(), str(exc)
    return 0, out.getvalue(), ""


def test_ingest_connects_the_sources_hook() -> None:
    answers = [
        answer for _, answer in sources_apply.send(sender=Config, config=Config(), prune=False)
    ]

    kinds = frozenset(
        {"github", "gitlab", "git", "opsgenie", "pagerduty", "terraform"}
        | {"atlantis", "spacelift", "env0", "argocd", "flux", "cloudtrail"}
    )
    assert SourcesApplied(kinds=kinds) in answers


def test_apply_config_creates_github_sources_without_any_token() -> None:
    diff = config_apply(config_load(SOURCES))

    assert diff.lines == ("+ source github-acme", "+ source github-oss")
    assert diff.notes == ()
    acme = Source.objects.get(name="github-acme")
    assert (acme.kind, acme.base_url, acme.token_env, acme.org, acme.repos) == (
        "github",
        "https://ghe.example.com/api/v3",
        "ACME_GITHUB_TOKEN",
        "acme",
        [],
    )
    assert (acme.interval_seconds, acme.backfill_days) == (300, 30)
    assert acme.webhook_secret_env == "ACME_HOOK_SECRET"
    assert acme.deployments == {
        "from": ["deployments_api", "workflow_jobs"],
        "workflow_pattern": "^deploy",
        "environments": {"prod": "production"},
    }
    assert acme.incidents == {"label": "outage"}
    oss = Source.objects.get(name="github-oss")
    # Keys left out take the model's defaults.
    assert (oss.base_url, oss.repos, oss.interval_seconds, oss.backfill_days) == (
        "https://api.github.com",
        ["octo/shop", "octo/web"],
        900,
        180,
    )
    assert (oss.deployments, oss.incidents, oss.webhook_secret_env) == ({}, {}, "")


def test_apply_config_source_change_is_shown_and_makes_the_source_due(tmp_path: Path) -> None:
    config_apply(config_load(SOURCES))
    Source.objects.update(sync_queued_at=datetime(2026, 3, 1, tzinfo=UTC))
    changed = SOURCES.replace("interval: 5m", "interval: 1h").replace("label: outage", "label: sev")

    code, out, _ = _command(changed, tmp_path, "--check")

    assert code == 1
    assert out.splitlines()[0] == (
        '~ source github-acme: interval 5m -> 1h, incidents {"label": "outage"} -> {"label": "sev"}'
    )
    assert Source.objects.get(name="github-acme").interval_seconds == 300  # --check: unchanged

    code, out, _ = _command(changed, tmp_path)

    assert code == 0 and out.startswith("~ source github-acme: interval 5m -> 1h")
    acme = Source.objects.get(name="github-acme")
    assert acme.interval_seconds == 3600 and acme.sync_queued_at is None
    assert Source.objects.get(name="github-oss").sync_queued_at is not None
    assert _command(changed, tmp_path, "--check")[:2] == (0, "no changes\n")


def test_apply_config_prune_deletes_absent_sources_with_their_cursors(tmp_path: Path) -> None:
    config_apply(config_load(SOURCES))
    oss = Source.objects.get(name="github-oss")
    SyncCursor.objects.create(source=oss, repo="octo/shop", stream="commits")
    only_acme = SOURCES.split("  - name: github-oss")[0]

    assert _command(only_acme, tmp_path)[1] == "no changes\n"  # without --prune: left alone
    code, out, _ = _command(only_acme, tmp_path, "--prune")

    assert code == 0 and "- source github-oss" in out.splitlines()
    assert list(Source.objects.values_list("name", flat=True)) == ["github-acme"]
    assert not SyncCursor.objects.exists()


def test_apply_config_bad_source_is_exit_2_with_lines(tmp_path: Path) -> None:
    text = SOURCES.replace("    org: acme\n", "    org: acme\n    repos: [acme/x]\n").replace(
        '"^deploy"', '"^deploy("'
    )

    code, _, err = _command(text, tmp_path)

    assert code == 2
    assert "dora.yml:7: sources[0]: give org or repos, not both" not in err  # pattern first
    assert "dora.yml:13: sources[0].deployments.workflow_pattern: not a valid regular" in err
    assert not Source.objects.exists()


OG_SOURCE = (
    "services:\n  - name: checkout\nsources:\n  - name: og\n    kind: opsgenie\n"
    "    token_env: OG_TOKEN\n    services: {svc-1: checkout}\n"
)


@pytest.fixture
def without_opsgenie(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every kind the file reader knows has a provider now: unregister opsgenie for the test,
    to see what happens to a kind no provider handles."""
    from ingest.sources import registry

    registry.providers_load()
    others = {k: p for k, p in registry.PROVIDERS.items() if k != "opsgenie"}
    monkeypatch.setattr(registry, "PROVIDERS", others)


@pytest.mark.usefixtures("without_opsgenie")
def test_sources_of_kinds_no_app_handles_are_noted_not_applied() -> None:
    text = OG_SOURCE

    diff = config_apply(config_load(text))

    assert diff.lines == ("+ service checkout",)  # the source itself is not applied
    assert diff.notes[0].startswith("sources (opsgenie): validated but not applied yet")


@pytest.mark.usefixtures("without_opsgenie")
def test_config_apply_merges_what_any_receiver_returns() -> None:
    def receiver(sender: object, **kwargs: object) -> SourcesApplied:
        return SourcesApplied(kinds=frozenset({"opsgenie"}), lines=("+ source og",))

    sources_apply.connect(receiver, dispatch_uid="test-opsgenie")
    try:
        text = OG_SOURCE
        diff = config_apply(config_load(text))
    finally:
        sources_apply.disconnect(dispatch_uid="test-opsgenie")

    assert diff.lines == ("+ service checkout", "+ source og") and diff.notes == ()


# ---------------------------------------------------------------------------------------------
# The webhook reads its source from the Source row
# ---------------------------------------------------------------------------------------------


def _deliver(url: str, event: str, body: bytes, secret: str) -> int:
    signature = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    response = Client().generic(
        "POST",
        url,
        body,
        content_type="application/json",
        HTTP_X_GITHUB_EVENT=event,
        HTTP_X_GITHUB_DELIVERY="d-source-1",
        HTTP_X_HUB_SIGNATURE_256=signature,
    )
    return response.status_code


def test_webhook_uses_the_source_rows_secret_and_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_HOOK_SECRET", "acme-secret")
    monkeypatch.setenv("DORA_GITHUB_WEBHOOK_SECRET", "settings-secret")
    Source.objects.create(
        name="github-acme",
        token_env="GITHUB_TOKEN",
        org="acme",
        webhook_secret_env="ACME_HOOK_SECRET",
        deployments={"from": ["releases"], "tag_pattern": r"^\d"},
    )
    body = shared_fixture("github", "webhooks", "release/published.payload.json").read_bytes()
    url = "/webhooks/github/github-acme"

    assert _deliver(url, "release", body, "settings-secret") == 401
    assert _deliver(url, "release", body, "acme-secret") == 200
    release = Deployment.objects.get()
    assert (release.source, release.version) == ("github-acme", "0.0.1")


def test_webhook_falls_back_to_settings_and_404s_unknown_sources(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DORA_GITHUB_WEBHOOK_SECRET", "settings-secret")
    body = json.dumps({"zen": "Keep it logically awesome."}).encode()

    assert _deliver("/webhooks/github", "ping", body, "settings-secret") == 202
    assert _deliver("/webhooks/github/nope", "ping", body, "settings-secret") == 404
