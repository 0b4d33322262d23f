"""POST /webhooks/terraform: signature first, raw delivery stored, automation run recorded,
idempotent. Bodies are HashiCorp's documented notification payloads (tests/fixtures/terraform),
as they are or with their trigger, status and times changed (then signed again)."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from dora.models import AutomationRun, RawEvent
from ingest.models import Source, WebhookDelivery
from ingest.sources.terraform.webhook import terraform_signature

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"
VECTORS = {
    v["name"]: v for v in json.loads((FIXTURES / "signature-vectors.json").read_text())["vectors"]
}
SECRET = VECTORS["run-errored"]["token"]
URL = "/webhooks/terraform"
STACKS = [{"match": "my-*", "service": "network", "environment": "production", "target": "{name}"}]


@pytest.fixture(autouse=True)
def webhook_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DORA_TERRAFORM_WEBHOOK_SECRET", SECRET)
    monkeypatch.delenv("DORA_TERRAFORM_TOKEN", raising=False)
    Source.objects.create(
        name="terraform", kind="terraform", token_env="DORA_TERRAFORM_TOKEN", stacks=STACKS
    )
    Source.objects.create(
        name="tfe-eu",
        kind="terraform",
        token_env="",
        webhook_secret_env="TFE_EU_SECRET",
        stacks=STACKS,
    )


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def run_body(trigger: str, status: str | None, updated_at: str) -> bytes:
    body = copy.deepcopy(json.loads(raw("notification-run-errored.json")))
    body["notifications"][0].update(trigger=trigger, run_status=status, run_updated_at=updated_at)
    return json.dumps(body).encode()


def deliver(
    body: bytes, *, signature: str | None = None, url: str = URL, secret: str = SECRET
) -> tuple[int, dict[str, Any]]:
    if signature is None:
        signature = terraform_signature(secret.encode(), body)
    response = Client().generic(
        "POST",
        url,
        body,
        content_type="application/json",
        HTTP_X_TFE_NOTIFICATION_SIGNATURE=signature,
    )
    return response.status_code, response.json()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_terraform_documented_run_notification_is_stored_raw_then_recorded() -> None:
    body = raw("notification-run-errored.json")
    status, answer = deliver(body, signature=VECTORS["run-errored"]["signature"])
    assert status == 200, answer
    assert answer["counts"]["created"] == 1 and answer["counts"]["skipped"] == 0
    delivery = WebhookDelivery.objects.get()
    assert (delivery.provider, delivery.source, delivery.event, delivery.action) == (
        "terraform",
        "terraform",
        "run:errored",
        "my-workspace",
    )
    assert delivery.delivery_id == "run-FwnENkvDnrpyFC7M:run:errored:2019-01-25T18:37:04.000Z"
    assert delivery.payload == json.loads(body)
    assert delivery.processed_at is not None and delivery.error == ""
    run = AutomationRun.objects.select_related("service", "environment", "target").get()
    assert (run.source, run.external_id) == ("terraform", "automation_run:run-FwnENkvDnrpyFC7M")
    assert (run.service.name, run.environment.name, run.target.name) == (
        "network",
        "production",
        "my-workspace",
    )
    assert (run.action, run.status, run.version, run.drift_detected) == (
        "apply",
        "cancelled",
        "",
        None,
    )
    assert run.started_at == at("2019-01-25T18:34:00Z")
    assert run.finished_at == at("2019-01-25T18:37:04Z")
    raw_event = RawEvent.objects.get(type="automation_run")
    assert raw_event.sent_by == (
        "webhook:terraform delivery run-FwnENkvDnrpyFC7M:run:errored:2019-01-25T18:37:04.000Z"
    )


def test_terraform_bad_signature_is_401_and_stores_nothing() -> None:
    body = raw("notification-run-errored.json")
    for signature in ("", "0" * 128, terraform_signature(b"another-token", body)):
        status, answer = deliver(body, signature=signature)
        assert status == 401, answer
        assert "X-TFE-Notification-Signature" in answer["detail"]
    response = Client().generic("POST", URL, body, content_type="application/json")
    assert response.status_code == 401
    assert not WebhookDelivery.objects.exists()
    assert not RawEvent.objects.exists() and not AutomationRun.objects.exists()


def test_terraform_duplicate_delivery_is_answered_from_the_first() -> None:
    body = raw("notification-run-errored.json")
    assert deliver(body)[0] == 200
    status, answer = deliver(body)
    assert status == 200 and answer["duplicate"] is True
    assert answer["counts"]["created"] == 1  # the first delivery's counts
    assert WebhookDelivery.objects.count() == 1 and AutomationRun.objects.count() == 1


def test_terraform_applying_then_completed_update_one_run() -> None:
    status, answer = deliver(run_body("run:applying", "applying", "2019-01-25T18:36:00.000Z"))
    assert status == 200 and answer["counts"]["created"] == 1, answer
    run = AutomationRun.objects.get()
    assert (run.status, run.finished_at) == ("running", at("2019-01-25T18:36:00Z"))
    status, answer = deliver(run_body("run:completed", "applied", "2019-01-25T18:41:30.000Z"))
    assert status == 200 and answer["counts"]["updated"] == 1, answer
    run = AutomationRun.objects.get()
    assert (run.action, run.status, run.finished_at) == (
        "apply",
        "success",
        at("2019-01-25T18:41:30Z"),
    )
    assert WebhookDelivery.objects.count() == 2
    # The applying notification delivered late (a retry) never moves the run back.
    status, answer = deliver(
        run_body("run:applying", "applying", "2019-01-25T18:36:00.000Z"), url=URL
    )
    assert answer.get("duplicate") is True
    status, answer = deliver(run_body("run:planning", "planning", "2019-01-25T18:35:00.000Z"))
    assert status == 200 and answer["counts"]["unchanged"] == 1, answer
    assert AutomationRun.objects.get().status == "success"


def test_terraform_drift_assessment_sets_drift_detected() -> None:
    body = raw("notification-assessment-drifted.json")
    status, answer = deliver(body, signature=VECTORS["assessment-drifted"]["signature"])
    assert status == 200 and answer["counts"]["created"] == 1, answer
    run = AutomationRun.objects.get()
    assert run.external_id == "automation_run:asmtres-vRVQxpqq64EA9V5a"
    assert (run.action, run.status, run.trigger, run.drift_detected) == (
        "plan",
        "success",
        "schedule",
        True,
    )
    assert run.finished_at == at("2022-06-09T05:23:10Z")
    assert WebhookDelivery.objects.get().event == "assessment:drifted"


def test_terraform_verification_answers_200_and_maps_nothing() -> None:
    body = raw("notification-verification.json")
    status, answer = deliver(body, signature=VECTORS["verification"]["signature"])
    assert status == 200, answer
    assert answer["counts"] is None
    delivery = WebhookDelivery.objects.get()
    assert delivery.event == "verification" and delivery.delivery_id.startswith("sha256:")
    assert not RawEvent.objects.exists() and not AutomationRun.objects.exists()
    assert deliver(body)[1]["duplicate"] is True  # "Send a test" twice: one delivery


def test_terraform_unknown_trigger_is_202_and_kept_raw() -> None:
    body = raw("notification-auto-destroy-reminder.json")
    status, answer = deliver(body)
    assert status == 202, answer
    assert "workspace:auto_destroy_reminder" in answer["detail"]
    delivery = WebhookDelivery.objects.get()
    assert delivery.payload == json.loads(body) and delivery.processed_at is not None
    assert not RawEvent.objects.exists()


def test_terraform_unplaced_workspace_is_kept_and_skipped() -> None:
    body = json.loads(raw("notification-run-errored.json"))
    body["workspace_name"] = "billing-prod"
    status, answer = deliver(json.dumps(body).encode())
    assert status == 200, answer
    assert answer["skipped"] == [
        {
            "run": "run-FwnENkvDnrpyFC7M",
            "reason": "terraform stack 'billing-prod' matches no rule of the source's stacks: "
            "add {match: <pattern>, service: <ours>, environment: <ours>}",
        }
    ]
    assert WebhookDelivery.objects.get().counts["skipped"] == 1
    assert not AutomationRun.objects.exists()


def test_terraform_body_over_the_limit_is_413(settings: Any) -> None:
    body = raw("notification-run-errored.json")
    settings.DORA_MAX_BODY_BYTES = len(body) - 1
    status, answer = deliver(body)
    assert status == 413, answer
    assert not WebhookDelivery.objects.exists()


def test_terraform_second_source_and_unknown_source(monkeypatch: pytest.MonkeyPatch) -> None:
    body = raw("notification-run-errored.json")
    status, answer = deliver(body, url=f"{URL}/tfe-eu")
    assert status == 503 and "TFE_EU_SECRET" in answer["detail"]
    monkeypatch.setenv("TFE_EU_SECRET", "eu-token")
    assert deliver(body, url=f"{URL}/tfe-eu")[0] == 401  # signed with the other token
    status, answer = deliver(body, url=f"{URL}/tfe-eu", secret="eu-token")
    assert status == 200, answer
    assert RawEvent.objects.get().source == "tfe-eu"
    status, answer = deliver(body, url=f"{URL}/nope")
    assert status == 404 and "add it to sources: (kind: terraform)" in answer["detail"]


def test_terraform_misconfigured_source_is_503() -> None:
    Source.objects.filter(name="terraform").update(stacks=[])  # hand-edited: no rules
    status, answer = deliver(raw("notification-run-errored.json"))
    assert status == 503 and "stacks: give stacks:" in answer["detail"]
    assert not WebhookDelivery.objects.exists()


def test_terraform_source_from_apply_config_serves_the_webhook(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dora.config import config_apply, config_load
    from ingest.models import Source

    text = (
        "sources:\n"
        "  - name: tfc\n"
        "    kind: terraform\n"
        "    webhook_secret_env: TFC_NOTIFY_TOKEN\n"
        "    stacks:\n"
        "      - {match: 'my-*', service: net, environment: staging}\n"
    )
    lines = config_apply(config_load(text)).lines
    assert "+ source tfc" in lines
    source = Source.objects.get(name="tfc")
    assert (source.kind, source.base_url, source.token_env, source.webhook_secret_env) == (
        "terraform",
        "https://app.terraform.io",
        "",
        "TFC_NOTIFY_TOKEN",
    )
    assert source.stacks == [{"match": "my-*", "service": "net", "environment": "staging"}]
    assert source.deployments == {}
    source.full_clean()  # the admin's checks accept it, without a token
    github = Source(name="gh", kind="github", org="acme", token_env="")
    with pytest.raises(ValidationError) as refused:  # every other kind still needs one
        github.full_clean()
    assert list(refused.value.message_dict) == ["token_env"]
    monkeypatch.setenv("TFC_NOTIFY_TOKEN", "tfc-token")
    body = raw("notification-run-errored.json")
    status, answer = deliver(body, url=f"{URL}/tfc", secret="tfc-token")
    assert status == 200 and answer["counts"]["created"] == 1, answer
    run = AutomationRun.objects.select_related("service", "environment").get()
    assert (run.source, run.service.name, run.environment.name) == ("tfc", "net", "staging")
    assert config_apply(config_load(text)).lines == ()  # applied again: nothing changes
