"""Redis down: the dashboards compute without their snapshot cache, and a page that cannot
queue its refresh computes itself; nothing answers 500 (dora.health, dora.web.snapshots)."""

from __future__ import annotations

import logging
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from dora.config import config_apply, config_load
from dora.intake.events import events_record
from tests.conftest import broker_url, snapshot_cache_url
from tests.servers import database_url_of as _database_url
from tests.servers import free_port, gunicorn_serving

NOW = datetime.now(UTC).replace(microsecond=0)
ESTATE = """\
teams:
  - name: payments
services:
  - name: checkout
    team: payments
environments:
  - name: production
    tier: production
"""
PAGE = "/dashboards/team?team=payments"


def deploy(ident: str, version: str, *, days: float) -> dict[str, Any]:
    moment = (NOW - timedelta(days=days)).isoformat().replace("+00:00", "Z")
    return {
        "type": "deployment",
        "id": ident,
        "service": "checkout",
        "environment": "production",
        "target": "eu",
        "version": version,
        "status": "success",
        "finished_at": moment,
    }


def estate() -> None:
    config_apply(config_load(ESTATE))
    events_record([deploy("c1", "v1.0.0", days=10)])


def closed_redis() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


@pytest.mark.snapshots
@pytest.mark.django_db
@pytest.mark.usefixtures("plain_static")
def test_a_page_computes_without_its_cache_and_the_failures_are_counted(
    settings, caplog: pytest.LogCaptureFixture
) -> None:
    estate()
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": closed_redis(),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1},
        }
    }
    staff = Client()
    staff.force_login(User.objects.create_user("op", is_staff=True))
    before = staff.get("/readyz").json()["failures_survived"]["cache"]

    with caplog.at_level(logging.WARNING, logger="dora.health"):
        pages = [staff.get(PAGE) for _ in range(3)]
    after = staff.get("/readyz").json()["failures_survived"]["cache"]

    assert [page.status_code for page in pages] == [200, 200, 200]
    assert all("v1.0.0" in page.content.decode() for page in pages)
    assert after - before >= 6  # each view: the snapshot read and its write
    warnings = [r for r in caplog.records if "cache unavailable" in r.getMessage()]
    assert len(warnings) <= 1  # rate-limited: not one line per failed call


@pytest.mark.django_db(transaction=True)
def test_a_page_answers_200_under_gunicorn_with_cache_and_broker_down(tmp_path: Path) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("gunicorn needs the test database on PostgreSQL")
    estate()
    env = {
        "DATABASE_URL": _database_url(connection.settings_dict),
        "DORA_CACHE_URL": closed_redis(),
        "CELERY_BROKER_URL": closed_redis(),
        "DORA_PUBLIC_DASHBOARDS": "1",
        "DORA_DASHBOARD_CACHE_SECONDS": "300",
    }
    with gunicorn_serving(env, tmp_path / "gunicorn.log") as server:
        status, body = get(server.url + PAGE)
        again, _ = get(server.url + PAGE)
        healthz, _ = get(server.url + "/healthz")
        broker, _ = get(server.url + "/readyz?component=broker")

    assert (status, again) == (200, 200), body[:500]
    assert "v1.0.0" in body
    assert healthz == 200  # the gate's liveness does not depend on Redis
    assert broker == 503


@pytest.mark.broker
@pytest.mark.django_db(transaction=True)
def test_a_stale_page_whose_refresh_cannot_be_queued_is_computed_at_once(
    tmp_path: Path,
) -> None:
    """With a worker configured, a page older than the facts is shown as it was while a refresh
    is queued; with the broker down it cannot be, so the page computes the new figures."""
    if connection.vendor != "postgresql":
        pytest.skip("gunicorn needs the test database on PostgreSQL")
    cache_url = snapshot_cache_url()  # a real Redis for the snapshots
    server_cache = redis.Redis.from_url(cache_url)
    for stale_key in server_cache.scan_iter("*dora:page:*"):  # a previous run's
        server_cache.delete(stale_key)
    estate()
    env = {
        "DATABASE_URL": _database_url(connection.settings_dict),
        "DORA_CACHE_URL": cache_url,
        "CELERY_BROKER_URL": closed_redis(),  # a worker configured, but the broker is down
        "DORA_PUBLIC_DASHBOARDS": "1",
        "DORA_DASHBOARD_CACHE_SECONDS": "300",
        "DORA_DASHBOARD_STALE_SECONDS": "900",
    }
    assert broker_url()  # the marker's condition: this test's Redis is the broker's server
    with gunicorn_serving(env, tmp_path / "gunicorn.log") as server:
        first, before = get(server.url + PAGE)
        events_record([deploy("c2", "v1.9.0", days=8)])  # committed: newer facts
        second, after = get(server.url + PAGE)

    assert (first, second) == (200, 200), after[:500]
    assert "v1.9.0" not in before
    assert "v1.9.0" in after and "snapshot-as-of" not in after  # computed, not shown stale
