"""Deployment hardening through the public entry points: the settings refuse the development
secret key in production, DORA_HTTPS=1 turns on what a site behind TLS needs, `check --deploy`
is clean with docker-compose's settings, every response carries the Content-Security-Policy and
security headers, and dashboard pages are private to their viewer."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.contrib.auth.models import Group, User
from django.test import Client

from dora.models import Service, Team
from dora.web.access import LEADERSHIP_GROUP

ROOT = Path(__file__).resolve().parent.parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
# Only what these tests set: no DATABASE_URL, broker, DEBUG or key from the calling shell.
INHERITED = ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")
# docker-compose.yml's database (never connected to: `check` reads no table).
COMPOSE_DATABASE_URL = "postgres://dora:dora@postgres:5432/dora"


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`python manage.py ARGS` with exactly the given environment (plus PATH and the like)."""
    environment = {k: os.environ[k] for k in INHERITED if k in os.environ}
    environment.update({"DJANGO_SETTINGS_MODULE": "dora.settings", **env})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


COMPOSE_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?::(?P<op>[-?])(?P<arg>[^}]*))?\}")


def compose_environment(**extra: str) -> dict[str, str]:
    """What docker-compose.yml gives the web service, as `docker compose up` resolves it with
    only DJANGO_SECRET_KEY set in the shell (a real-looking one); DJANGO_DEBUG is unset (off)."""
    shell = {"DJANGO_SECRET_KEY": secrets.token_urlsafe(50)}

    def resolve(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if name in shell:
            return shell[name]
        assert op == "-", f"docker-compose.yml needs {name} set: {arg}"
        return arg

    web = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["web"]
    environment = {k: COMPOSE_VARIABLE.sub(resolve, str(v)) for k, v in web["environment"].items()}
    assert "DJANGO_DEBUG" not in environment
    return {**environment, **extra}


# ---------------------------------------------------------------------------------------------
# The secret key
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    [None, "", "insecure-dev-key-set-DJANGO_SECRET_KEY-in-production"],
    ids=["unset", "empty", "development-default"],
)
def test_production_refuses_to_start_without_a_secret_key(key: str | None) -> None:
    env = {"DATABASE_URL": COMPOSE_DATABASE_URL}
    if key is not None:
        env["DJANGO_SECRET_KEY"] = key

    result = manage("check", **env)

    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "Set DJANGO_SECRET_KEY" in result.stderr  # what to set
    assert "secrets.token_urlsafe(50)" in result.stderr  # how to make one


def test_debug_and_a_real_key_start_without_complaint() -> None:
    demo = manage("check", DJANGO_DEBUG="1", DATABASE_URL=COMPOSE_DATABASE_URL)
    production = manage("check", **compose_environment())

    assert demo.returncode == 0, demo.stderr
    assert production.returncode == 0, production.stderr


def test_the_embedded_sqlite_database_checks_without_the_covering_index_warning(
    tmp_path: Path,
) -> None:
    # `migrate` runs the database checks: on SQLite the covering indexes' INCLUDE columns
    # (Commit.commit_sha_times_idx, Change.change_merged_idx, ChangeArrival.
    # arrival_change_env_idx) raised models.W040 on every run of the demo, once per index.
    database = f"sqlite:///{tmp_path / 'demo.sqlite3'}"

    result = manage("check", "--database", "default", DJANGO_DEBUG="1", DATABASE_URL=database)

    assert result.returncode == 0, result.stderr
    assert "W040" not in result.stdout + result.stderr
    assert "no issues (3 silenced)" in result.stdout


# ---------------------------------------------------------------------------------------------
# check --deploy with docker-compose's settings
# ---------------------------------------------------------------------------------------------


def test_check_deploy_is_clean_with_the_compose_settings() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING", **compose_environment())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_check_deploy_would_warn_without_https() -> None:
    """The check above can fail: without DORA_HTTPS the cookies and HSTS warnings are back."""
    result = manage("check", "--deploy", **compose_environment(DORA_HTTPS="0"))

    output = result.stdout + result.stderr
    for check in ("security.W004", "security.W008", "security.W012", "security.W016"):
        assert check in output, check


# ---------------------------------------------------------------------------------------------
# DORA_HTTPS=1 behind a TLS-terminating proxy (requests through the whole middleware stack)
# ---------------------------------------------------------------------------------------------

HTTPS_PROBE = """
import json, django
django.setup()
from django.conf import settings
from django.test import Client

def seen(response):
    return {
        "status": response.status_code,
        "location": response.get("Location", ""),
        "hsts": response.get("Strict-Transport-Security", ""),
        "cookies": {name: dict(morsel.items()) for name, morsel in response.cookies.items()},
    }

client = Client(HTTP_HOST="localhost", raise_request_exception=False)
print(json.dumps({
    "via_proxy": seen(client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")),
    "plain_page": seen(client.get("/dashboards/?team=x")),
    "plain_healthz": seen(client.get("/healthz")),
    "plain_readyz": seen(client.get("/readyz")),
    "plain_gate": seen(client.post("/api/v1/gates/promotion", {}, content_type="application/json")),
    "plain_webhook": seen(client.post("/webhooks/github", {}, content_type="application/json")),
    "settings": {
        "SESSION_COOKIE_SECURE": settings.SESSION_COOKIE_SECURE,
        "CSRF_COOKIE_SECURE": settings.CSRF_COOKIE_SECURE,
        "SESSION_COOKIE_HTTPONLY": settings.SESSION_COOKIE_HTTPONLY,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": settings.SECURE_HSTS_INCLUDE_SUBDOMAINS,
    },
}))
"""


def https_probe(**extra: str) -> dict:
    env = compose_environment(
        # An empty SQLite file: the probes may find no tables; they must not be redirected.
        DATABASE_URL="sqlite:////tmp/dora-https-probe-does-not-exist.sqlite3",
        CELERY_BROKER_URL="",
        DORA_CACHE_URL="",
        # The image's collectstatic writes the manifest; a checkout has none (and a stale one
        # from an earlier demo may lack new files): plain static names, as the tests use.
        DORA_STATICFILES_BACKEND="django.contrib.staticfiles.storage.StaticFilesStorage",
        **extra,
    )
    result = manage("shell", "-c", HTTPS_PROBE, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_https_behind_a_proxy_sets_secure_cookies_hsts_and_redirects_pages_only() -> None:
    seen = https_probe()

    proxied = seen["via_proxy"]
    assert proxied["status"] == 200
    assert proxied["hsts"] == "max-age=31536000"  # one year, this host only, no preload
    assert proxied["cookies"]["csrftoken"]["secure"] is True
    assert seen["settings"] == {
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
    }
    # A page asked for over plain HTTP goes to HTTPS ...
    assert seen["plain_page"]["status"] == 301
    assert seen["plain_page"]["location"] == "https://localhost/dashboards/?team=x"
    # ... probes and machine callers inside the cluster are answered where they asked.
    for name in ("plain_healthz", "plain_readyz", "plain_gate", "plain_webhook"):
        assert seen[name]["status"] != 301, (name, seen[name])


def test_https_settings_are_the_operators_to_change() -> None:
    seen = https_probe(
        DORA_SSL_REDIRECT="0", DORA_HSTS_SECONDS="3600", DORA_HSTS_INCLUDE_SUBDOMAINS="1"
    )

    assert seen["plain_page"]["status"] != 301
    assert seen["via_proxy"]["hsts"] == "max-age=3600; includeSubDomains"


def test_without_https_cookies_are_not_secure_and_nothing_redirects() -> None:
    seen = https_probe(DORA_HTTPS="0")

    assert seen["plain_page"]["status"] != 301
    assert seen["via_proxy"]["hsts"] == ""
    assert seen["settings"]["SESSION_COOKIE_SECURE"] is False


# ---------------------------------------------------------------------------------------------
# Headers on every page: CSP, framing, sniffing, referrer; dashboard pages private
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def member() -> Client:
    team = Team.objects.create(name="payments", members=["alice"])
    Service.objects.create(name="checkout", team=team, kind="app")
    client = Client()
    client.force_login(User.objects.create_user("alice"))
    return client


@pytest.fixture
def leader() -> Client:
    user = User.objects.create_user("lead", is_staff=True, is_superuser=True)
    user.groups.add(Group.objects.get_or_create(name=LEADERSHIP_GROUP)[0])
    client = Client()
    client.force_login(user)
    return client


DASHBOARD_PAGES = [
    "/dashboards/estate/configuration",
    "/dashboards/",
    "/dashboards/team?team=payments",
    "/dashboards/service?service=checkout",
    "/dashboards/explain/lead_time?team=payments",
    "/dashboards/estate",
    "/dashboards/gate",
]
LEADERSHIP_PAGES = ["/dashboards/report", "/dashboards/report.csv", "/dashboards/report.pdf"]


def directives(policy: str) -> dict[str, list[str]]:
    parsed = {}
    for part in policy.split(";"):
        name, *sources = part.split()
        parsed[name] = sources
    return parsed


@pytest.mark.django_db
@pytest.mark.usefixtures("plain_static")
def test_every_page_has_the_security_headers_and_a_strict_policy(
    member: Client, leader: Client
) -> None:
    pages = [(member, path) for path in DASHBOARD_PAGES]
    pages += [(leader, path) for path in LEADERSHIP_PAGES]
    pages += [
        (Client(), "/accounts/login/"),
        (leader, "/admin/"),
        (leader, "/admin/dora/team/"),
        (member, "/api/docs/"),
        (member, "/api/v1/metrics?team=payments"),
    ]
    for client, path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        policy = directives(response["Content-Security-Policy"])
        assert policy["default-src"] == ["'self'"], path
        assert policy["script-src"] == ["'self'"], path  # no inline script, no eval
        assert policy["style-src"][0] == "'self'", path
        assert "'unsafe-inline'" not in response["Content-Security-Policy"], path
        assert "'unsafe-eval'" not in response["Content-Security-Policy"], path
        assert policy["frame-ancestors"] == ["'none'"] and policy["object-src"] == ["'none'"]
        assert response["X-Frame-Options"] == "DENY", path
        assert response["X-Content-Type-Options"] == "nosniff", path
        assert response["Referrer-Policy"] == "same-origin", path


# What the policy would refuse in a page: inline scripts (data blocks are not scripts), event
# handler attributes, style attributes and <style> elements.
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+=", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<[^>]+\sstyle=|<style", re.IGNORECASE)


@pytest.mark.django_db
@pytest.mark.usefixtures("plain_static")
def test_our_pages_have_no_inline_script_or_style(member: Client, leader: Client) -> None:
    pages = [(member, path) for path in DASHBOARD_PAGES]
    pages += [(leader, "/dashboards/report"), (Client(), "/accounts/login/")]
    pages += [(member, "/api/docs/"), (member, "/dashboards/team?team=not-mine")]
    for client, path in pages:
        html = client.get(path).content.decode()
        assert not INLINE_SCRIPT.search(html), (path, INLINE_SCRIPT.search(html))
        assert not INLINE_HANDLER.search(html), (path, INLINE_HANDLER.search(html))
        assert not INLINE_STYLE.search(html), (path, INLINE_STYLE.search(html))


@pytest.mark.django_db
@pytest.mark.usefixtures("plain_static")
def test_dashboard_pages_are_private_to_their_viewer(member: Client, leader: Client) -> None:
    pages = [(member, path) for path in DASHBOARD_PAGES]
    pages += [(leader, path) for path in LEADERSHIP_PAGES]
    for client, path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        cache_control = {v.strip() for v in response["Cache-Control"].split(",")}
        assert {"private", "no-store"} <= cache_control, (path, cache_control)
        assert "public" not in cache_control and "Cookie" in response["Vary"], path
