"""POST /webhooks/cloudtrail: an EventBridge API destination's deliveries (one CloudTrail record
each, as `detail`), the shared-secret header first, kept raw, mapped once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from dora.models import OutOfBandChange
from ingest.models import Source, WebhookDelivery

pytestmark = pytest.mark.django_db
SECRET = "test-cloudtrail-secret"
URL = "/webhooks/cloudtrail/cloudtrail-prod"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cloudtrail"
RECORD = json.loads((FIXTURES / "derived_assumed_role_stop_instances.json").read_text())
# The EventBridge envelope around a CloudTrail record (its `detail`).
BODY = json.dumps(
    {
        "version": "0",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": "123456789012",
        "region": "us-east-2",
        "detail": RECORD,
    }
).encode()


MAPPING = {
    "pipeline_roles": ["arn:aws:iam::123456789012:role/deploy-*"],
    "accounts": {
        "123456789012": {
            "environment": "production",
            "service": "network",
            "regions": {"us-east-2": "use2"},
        }
    },
}


@pytest.fixture(autouse=True)
def configured(monkeypatch: pytest.MonkeyPatch) -> Source:
    monkeypatch.setenv("DORA_CLOUDTRAIL_WEBHOOK_SECRET", SECRET)
    return Source.objects.create(name="cloudtrail-prod", kind="cloudtrail", cloudtrail=MAPPING)


def deliver(body: bytes = BODY, *, token: str | None = SECRET, url: str = URL) -> tuple[int, Any]:
    headers = {} if token is None else {"HTTP_X_DORA_WEBHOOK_TOKEN": token}
    response = Client().generic("POST", url, body, content_type="application/json", **headers)
    return response.status_code, response.json()


def test_a_delivery_is_stored_raw_mapped_once_and_a_retry_is_a_no_op() -> None:
    status, body = deliver()
    again, repeated = deliver()

    assert status == 200, body
    assert body["counts"]["created"] == 1 and body["counts"]["skipped"] == 0
    assert body["items"][0]["key"] == (
        "cloudtrail-prod:out_of_band_change:derived-0000-4000-8000-assumedrole01"
    )
    assert (again, repeated["duplicate"]) == (200, True)
    change = OutOfBandChange.objects.get()
    assert (change.what, change.target.name, change.actor) == (
        "ec2:StopInstances",
        "use2",
        "arn:aws:sts::123456789012:assumed-role/RoleToBeAssumed/MySessionName",
    )
    delivery = WebhookDelivery.objects.get(provider="cloudtrail")
    assert delivery.delivery_id == "derived-0000-4000-8000-assumedrole01"
    assert delivery.processed_at is not None


def test_a_wrong_or_missing_token_is_401_and_stores_nothing() -> None:
    assert deliver(token="nope")[0] == 401
    assert deliver(token=None)[0] == 401
    assert not WebhookDelivery.objects.exists() and not OutOfBandChange.objects.exists()


def test_a_pipeline_call_is_kept_raw_and_answered_with_the_reason(settings: Any) -> None:
    pipeline = {
        **RECORD,
        "eventID": "pipeline-1",
        "userIdentity": {
            **RECORD["userIdentity"],
            "sessionContext": {
                "sessionIssuer": {"arn": "arn:aws:iam::123456789012:role/deploy-tf"}
            },
        },
    }

    status, body = deliver(json.dumps({"detail": pipeline}).encode())

    assert status == 200
    assert body["counts"]["created"] == 0
    assert body["skipped"] == [
        {
            "record": "StopInstances pipeline-1",
            "reason": "made by the pipeline (principal matches "
            "'arn:aws:iam::123456789012:role/deploy-*')",
        }
    ]
    assert WebhookDelivery.objects.filter(delivery_id="pipeline-1").exists()


def test_unknown_source_is_404_and_missing_secret_503(monkeypatch: pytest.MonkeyPatch) -> None:
    Source.objects.create(name="acme", kind="github", org="acme")

    elsewhere, body = deliver(url="/webhooks/cloudtrail/elsewhere")
    assert elsewhere == 404 and "No cloudtrail source named 'elsewhere'" in body["detail"]
    assert deliver(url="/webhooks/cloudtrail/acme")[0] == 404  # another kind's source
    assert deliver(url="/webhooks/cloudtrail")[0] == 404  # no source named cloudtrail
    monkeypatch.delenv("DORA_CLOUDTRAIL_WEBHOOK_SECRET")
    status, body = deliver()
    assert status == 503 and "DORA_CLOUDTRAIL_WEBHOOK_SECRET" in body["detail"]
    assert not WebhookDelivery.objects.exists()


def test_the_source_row_names_its_secret_variable_and_the_bare_url_is_cloudtrail(
    monkeypatch: pytest.MonkeyPatch, configured: Source
) -> None:
    Source.objects.create(
        name="cloudtrail", kind="cloudtrail", cloudtrail=MAPPING, webhook_secret_env="CT_SECRET"
    )
    monkeypatch.delenv("CT_SECRET", raising=False)

    unset, body = deliver(url="/webhooks/cloudtrail")
    assert unset == 503 and "CT_SECRET" in body["detail"]
    monkeypatch.setenv("CT_SECRET", "other-secret")
    assert deliver(url="/webhooks/cloudtrail")[0] == 401  # DORA_CLOUDTRAIL_WEBHOOK_SECRET's
    status, body = deliver(url="/webhooks/cloudtrail", token="other-secret")
    assert status == 200, body
    assert body["items"][0]["key"].startswith("cloudtrail:out_of_band_change:")
    assert OutOfBandChange.objects.get().source == "cloudtrail"


def test_a_wrong_stored_mapping_is_503_after_the_token(configured: Source) -> None:
    Source.objects.filter(pk=configured.pk).update(cloudtrail={"accounts": {"1": {}}})

    assert deliver(token="nope")[0] == 401
    status, body = deliver()
    assert status == 503 and "12 digits" in body["detail"]
    assert not WebhookDelivery.objects.exists()
