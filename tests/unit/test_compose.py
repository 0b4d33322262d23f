"""docker-compose.yml: the production shape (postgres, redis, web, worker, beat) stays wired up."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

COMPOSE_FILE = Path(__file__).resolve().parents[2] / "docker-compose.yml"
APP_SERVICES = ("web", "worker", "beat")


@pytest.fixture(scope="module")
def services() -> dict[str, dict[str, Any]]:
    return yaml.safe_load(COMPOSE_FILE.read_text())["services"]


def command_args(service: dict[str, Any]) -> list[str]:
    command = service.get("command")
    assert command, "the service has no command"
    return shlex.split(command) if isinstance(command, str) else [str(arg) for arg in command]


def test_compose_defines_the_five_services(services: dict[str, dict[str, Any]]) -> None:
    assert {"postgres", "redis", "web", "worker", "beat"} <= set(services)


def test_compose_app_services_share_one_build_and_image(
    services: dict[str, dict[str, Any]],
) -> None:
    builds = {repr(services[name].get("build")) for name in APP_SERVICES}
    images = {services[name].get("image") for name in APP_SERVICES}

    assert len(builds) == 1 and builds != {"None"}
    assert len(images) == 1 and images != {None}


def test_compose_app_services_run_the_right_commands(
    services: dict[str, dict[str, Any]],
) -> None:
    web, worker, beat = (command_args(services[name]) for name in APP_SERVICES)

    assert web[:2] == ["gunicorn", "dora.wsgi:application"]
    assert worker[:4] == ["celery", "-A", "dora", "worker"]
    assert beat[:4] == ["celery", "-A", "dora", "beat"]
    assert beat[beat.index("-S") + 1] == "django_celery_beat.schedulers:DatabaseScheduler"


def test_compose_app_services_get_their_settings_from_the_environment(
    services: dict[str, dict[str, Any]],
) -> None:
    for name in APP_SERVICES:
        environment = services[name].get("environment") or {}
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        for key in ("DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SECRET_KEY"):
            assert environment.get(key), f"{name}: {key} is not set"
        assert "@postgres:" in environment["DATABASE_URL"], name
        assert environment["CELERY_BROKER_URL"].startswith("redis://redis:"), name


def test_compose_migrates_before_the_app_starts(services: dict[str, dict[str, Any]]) -> None:
    migrate_args = command_args(services["migrate"])
    assert migrate_args[-3:] == ["manage.py", "migrate", "--noinput"]
    for name in APP_SERVICES:
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"]["condition"] == "service_completed_successfully", name
        assert depends_on["postgres"]["condition"] == "service_healthy", name


def test_compose_has_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    for name in ("postgres", "redis", "web", "worker"):
        assert services[name]["healthcheck"]["test"], f"{name} has no healthcheck"
    assert "/healthz" in " ".join(services["web"]["healthcheck"]["test"])


def test_compose_replica_is_an_optional_profile(services: dict[str, dict[str, Any]]) -> None:
    replica = services["postgres-replica"]
    script = "\n".join(replica["command"])

    assert replica["profiles"] == ["replica"]  # a plain `docker compose up` does not start it
    assert "pg_basebackup -h postgres" in script and " -R " in script
    assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in APP_SERVICES:  # no replica unless DATABASE_REPLICA_URL is given
        assert services[name]["environment"]["DATABASE_REPLICA_URL"] == "${DATABASE_REPLICA_URL:-}"
    for name, service in services.items():
        if name != "postgres-replica":
            assert "profiles" not in service, name
