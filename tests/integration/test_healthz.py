"""The /healthz probe: database and broker status, no login needed."""

from __future__ import annotations

import os

import pytest
from django.test import Client


@pytest.mark.django_db
def test_healthz_reports_database_ok_and_eager_broker_without_broker(
    client: Client, settings
) -> None:
    settings.CELERY_BROKER_URL = None

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "database": "ok",
        "broker": "eager (no broker configured)",
        "status": "ok",
    }


@pytest.mark.django_db
def test_healthz_is_503_when_the_configured_broker_does_not_answer(
    client: Client, settings
) -> None:
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens on port 1

    response = client.get("/healthz")

    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok"
    assert body["broker"].startswith("error: ")
    assert body["status"] == "degraded"


@pytest.mark.broker
@pytest.mark.django_db
def test_healthz_reports_ok_with_a_reachable_broker(client: Client, settings) -> None:
    settings.CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]

    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok", "status": "ok"}
