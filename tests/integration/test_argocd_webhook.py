"""POST /webhooks/argocd: the shared secret first, raw delivery stored, deployments recorded from
the docs/argocd template's body and its variants, idempotent."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from dora.models import Deployment
from ingest.models import Source, WebhookDelivery
from tests.argocd_template import render, template_body

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "argocd"
SECRET = "test-argocd-secret"
URL = "/webhooks/argocd"
GUESTBOOK_SHA = "53e28ff20cc530b9ada2173fbbd64d48338583ba"  # the fixture's revision


@pytest.fixture(autouse=True)
def webhook_config(monkeypatch: pytest.MonkeyPatch, settings: Any) -> None:
    monkeypatch.setenv("DORA_ARGOCD_WEBHOOK_SECRET", SECRET)
    settings.DORA_UNKNOWN_SERVICES = "create"
    Source.objects.create(
        name="argocd",
        kind="argocd",
        token_env="",
        stacks=[
            {
                "match": "helm-guestbook-*",
                "destination": "prod-*/*",
                "service": "guestbook",
                "environment": "production",
            },
            {
                "match": "guest*",
                "destination": "*/guestbook",
                "service": "guestbook",
                "environment": "staging",
            },
        ],
    )


def app(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def deliver(body: Any, **headers: str) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = headers or {"HTTP_AUTHORIZATION": f"Bearer {SECRET}"}
    response = Client().generic("POST", URL, data, content_type="application/json", **headers)
    return response.status_code, response.json()


def test_the_templates_rendered_body_is_a_deployment() -> None:
    rendered = render(template_body(), {"app": app("application-guestbook-synced.json")})

    status, answer = deliver(rendered.encode())

    assert status == 200 and answer["counts"]["created"] == 1, answer
    deployment = Deployment.objects.get()
    assert (deployment.source, deployment.external_id) == (
        "argocd",
        "deployment:argocd/guestbook@2024-03-05T10:00:37Z",
    )
    assert (deployment.service.name, deployment.environment.name, deployment.target.name) == (
        "guestbook",
        "staging",
        "kubernetes.default.svc",
    )
    assert (deployment.sha, deployment.status, deployment.trigger) == (
        GUESTBOOK_SHA,
        "success",
        "automated",
    )
    assert deployment.repo == "argoproj/argocd-example-apps"
    assert deployment.started_at == datetime(2024, 3, 5, 10, 0, 37, tzinfo=UTC)
    assert deployment.finished_at == datetime(2024, 3, 5, 10, 0, 40, tzinfo=UTC)
    delivery = WebhookDelivery.objects.get()
    assert (delivery.provider, delivery.event, delivery.action) == (
        "argocd",
        "guestbook",
        "Succeeded",
    )

    # The same operation as a raw object (another template): the same deployment, unchanged.
    status, answer = deliver({"app": app("application-guestbook-synced.json")})
    assert status == 200 and answer["counts"]["unchanged"] == 1, answer
    # Argo CD retrying the first delivery: answered from it.
    status, answer = deliver(rendered.encode())
    assert status == 200 and answer["duplicate"] is True
    assert Deployment.objects.count() == 1


def test_a_list_with_a_failed_helm_sync_and_an_unreadable_item() -> None:
    failed = app("application-helm-sync-failed.json")
    status, answer = deliver([failed, {"kind": "ConfigMap"}], HTTP_X_DORA_WEBHOOK_SECRET=SECRET)

    assert status == 200 and answer["counts"]["created"] == 1, answer
    assert answer["skipped"][0]["reason"].startswith("ConfigMap is not read")
    deployment = Deployment.objects.get()
    assert (deployment.service.name, deployment.environment.name, deployment.target.name) == (
        "guestbook",
        "production",
        "prod-eu",
    )
    assert (deployment.version, deployment.sha, deployment.status, deployment.trigger) == (
        "0.1.0",
        "",
        "failure",
        "manual",
    )
    assert WebhookDelivery.objects.get().payload == {"items": [failed, {"kind": "ConfigMap"}]}


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_AUTHORIZATION": "Bearer wrong"},
        {"HTTP_AUTHORIZATION": SECRET},  # no scheme
        {"HTTP_AUTHORIZATION": f"Basic {SECRET}"},
        {"HTTP_X_DORA_WEBHOOK_SECRET": SECRET + "x"},
    ],
)
def test_a_missing_or_wrong_secret_is_401_and_nothing_is_stored(headers: dict[str, str]) -> None:
    status, answer = deliver(
        {"app": app("application-guestbook-synced.json")}, HTTP_X_NONE="1", **headers
    )
    assert status == 401 and "Bearer" in answer["detail"]
    assert not WebhookDelivery.objects.exists()


def test_an_irrelevant_body_is_202_and_kept_raw() -> None:
    running = app("application-guestbook-synced.json")
    running["status"]["operationState"]["phase"] = "Terminating"
    status, answer = deliver(running)
    assert status == 202 and answer["counts"] is None
    assert answer["skipped"] == [
        {"object": "guestbook", "reason": "operation phase 'Terminating' is not an outcome"}
    ]
    assert WebhookDelivery.objects.get().processed_at is not None
    assert not Deployment.objects.exists()


def test_bad_bodies(settings: Any) -> None:
    assert deliver(b"not json")[0] == 400
    assert deliver(b'"text"')[0] == 400
    settings.DORA_MAX_BODY_BYTES = 50
    assert deliver({"app": app("application-guestbook-synced.json")})[0] == 413
    assert not WebhookDelivery.objects.exists()
