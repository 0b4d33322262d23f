"""The health probes: /healthz (liveness: the process and its database, all the promotion gate
needs) and /readyz (each component, detail for operators only), no login needed."""

from __future__ import annotations

import os

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from dora.models import ApiToken
from tests.servers import free_port

pytestmark = pytest.mark.django_db

# What an exception's text reveals: the refused address, the errno, the exception's class.
INTERNALS = ("127.0.0.1", "Errno", "refused", "Error:", "error: ")


def closed_broker(settings) -> int:
    port = free_port()
    settings.CELERY_BROKER_URL = f"redis://127.0.0.1:{port}/0"
    return port


def closed_cache(settings) -> int:
    port = free_port()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{port}/0",
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    return port


def read_token_client() -> Client:
    _, raw = ApiToken.issue(name="ops", scope=ApiToken.Scope.READ)
    return Client(HTTP_AUTHORIZATION=f"Bearer {raw}")


def test_healthz_is_ok_without_a_broker(client: Client, settings) -> None:
    settings.CELERY_BROKER_URL = None

    response = client.get("/healthz")

    assert response.status_code == 200
    body = response.json()
    assert (body["database"], body["status"]) == ("ok", "ok")
    assert set(body) == {"database", "broker", "status"}  # the keys it always had


def test_healthz_stays_200_when_the_broker_is_down(client: Client, settings) -> None:
    closed_broker(settings)

    response = client.get("/healthz")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "ok"


def test_readyz_broker_is_503_when_the_broker_is_down(client: Client, settings) -> None:
    port = closed_broker(settings)

    one = client.get("/readyz?component=broker")
    every = client.get("/readyz")
    database = client.get("/readyz?component=database")

    assert one.status_code == 503
    assert one.json() == {"status": "degraded", "components": {"broker": "error"}}
    assert every.status_code == 503
    assert every.json()["components"]["broker"] == "error"
    assert every.json()["components"]["database"] == "ok"
    assert database.status_code == 200
    for response in (one, every):
        text = response.content.decode()
        assert str(port) not in text
        assert not any(internal in text for internal in INTERNALS), text


def test_readyz_cache_is_503_when_the_cache_is_down(client: Client, settings) -> None:
    settings.CELERY_BROKER_URL = None
    port = closed_cache(settings)

    response = client.get("/readyz?component=cache")
    every = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["components"] == {"cache": "error"}
    assert every.status_code == 503
    assert every.json()["components"] == {
        "database": "ok",
        "broker": "ok",
        "cache": "error",
        "derivation": "ok",
    }
    assert str(port) not in every.content.decode()


def test_readyz_details_are_for_staff_and_read_tokens_only(client: Client, settings) -> None:
    port = closed_broker(settings)
    staff = Client()
    staff.force_login(User.objects.create_user("op", is_staff=True))
    member = Client()
    member.force_login(User.objects.create_user("dev"))
    _, ingest_raw = ApiToken.issue(name="ci", scope=ApiToken.Scope.INGEST)
    ingest = Client(HTTP_AUTHORIZATION=f"Bearer {ingest_raw}")

    shown = [c.get("/readyz").json() for c in (staff, read_token_client())]
    hidden = [c.get("/readyz").json() for c in (client, member, ingest)]

    for body in shown:
        assert body["detail"]["broker"].startswith("error: ")
        assert str(port) in body["detail"]["broker"]
        assert body["detail"]["database"] == "ok"
        assert "pairs waiting for derivation" in body["detail"]["derivation"]
        assert set(body["failures_survived"]) == {"cache", "broker"}
    for body in hidden:
        assert set(body) == {"status", "components"}


def test_readyz_names_the_components_it_knows(client: Client) -> None:
    response = client.get("/readyz?component=disk")

    assert response.status_code == 400
    assert "database, broker, cache, derivation" in response.json()["detail"]


@pytest.mark.django_db(transaction=True)
def test_healthz_and_readyz_are_503_without_the_database_and_say_no_more() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("SQLite's in-memory test database cannot be disconnected")
    settings_dict = connection.settings_dict
    saved = dict(settings_dict)
    port = free_port()
    connection.close()
    settings_dict["PORT"] = str(port)  # nothing listens there: the connection is refused
    try:
        healthz = Client().get("/healthz")
        readyz = Client().get("/readyz?component=database")
    finally:
        connection.close()
        settings_dict.update(saved)

    assert healthz.status_code == 503
    assert healthz.json()["status"] == "degraded"
    assert healthz.json()["database"] == "error"
    assert readyz.status_code == 503
    assert readyz.json() == {"status": "degraded", "components": {"database": "error"}}
    for response in (healthz, readyz):
        assert str(port) not in response.content.decode()


@pytest.mark.broker
def test_readyz_is_ok_with_a_reachable_broker(client: Client, settings) -> None:
    settings.CELERY_BROKER_URL = os.environ["CELERY_BROKER_URL"]

    response = client.get("/readyz?component=broker")
    healthz = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "components": {"broker": "ok"}}
    assert healthz.status_code == 200
