"""Login throttling (django-axes, dora.web.login) through the real login pages: after the limit
of wrong passwords for a username from an address, even the right password is refused with the
lockout page until the cool-off has passed; other addresses and the test client's own logins
are not affected."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("plain_static")]

LOGIN = "/accounts/login/"
PASSWORD = "the-right-password"
LOCKED_OUT = "Too many failed logins"


@pytest.fixture
def alice() -> User:
    return User.objects.create_user("alice", password=PASSWORD)


def post_login(client: Client, password: str, *, path: str = LOGIN, **extra: str):
    return client.post(path, {"username": "alice", "password": password}, **extra)


def logged_in(client: Client) -> bool:
    return client.get("/dashboards/").status_code == 200


def fail(client: Client, times: int, *, limit: int, path: str = LOGIN, **extra: str) -> None:
    """`times` wrong passwords: the form again with its error, and at the limit the lockout."""
    for attempt in range(1, times + 1):
        response = post_login(client, "wrong", path=path, **extra)
        if attempt < limit:
            assert response.status_code == 200, attempt
            html = response.content.decode()  # ours, or the admin's wording
            assert "did not match" in html or "correct username and password" in html
        else:
            assert response.status_code == 429, attempt
            assert LOCKED_OUT in response.content.decode()


def test_login_is_refused_after_the_limit_then_allowed_after_the_cool_off(
    alice: User, settings
) -> None:
    settings.AXES_COOLOFF_TIME = timedelta(seconds=2)  # 15 minutes by default
    client = Client()
    fail(client, settings.AXES_FAILURE_LIMIT, limit=settings.AXES_FAILURE_LIMIT)

    refused = post_login(client, PASSWORD)

    assert refused.status_code == 429
    html = refused.content.decode()
    assert LOCKED_OUT in html and "alice" in html
    assert f"after {settings.AXES_FAILURE_LIMIT} wrong passwords" in html
    assert "ask an administrator" in html
    assert not logged_in(client)

    time.sleep(2.5)  # the cool-off, set above
    allowed = post_login(client, PASSWORD)

    # LOGIN_REDIRECT_URL is "/", which sends each viewer to their landing page (h-nav).
    assert allowed.status_code == 302 and allowed["Location"] == "/"
    assert logged_in(client)


def test_one_failure_short_of_the_limit_still_logs_in_and_starts_again(
    alice: User, settings
) -> None:
    client = Client()
    fail(client, settings.AXES_FAILURE_LIMIT - 1, limit=settings.AXES_FAILURE_LIMIT)
    assert post_login(client, PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    # A success starts the count again: the limit of wrong passwords is available once more.
    fail(client, settings.AXES_FAILURE_LIMIT - 1, limit=settings.AXES_FAILURE_LIMIT)
    assert post_login(client, PASSWORD).status_code == 302


def test_the_lockout_is_per_username_and_address(alice: User, settings) -> None:
    fail(Client(), settings.AXES_FAILURE_LIMIT, limit=settings.AXES_FAILURE_LIMIT)  # 127.0.0.1

    elsewhere = Client(REMOTE_ADDR="192.0.2.44")
    assert post_login(elsewhere, PASSWORD).status_code == 302
    assert logged_in(elsewhere)
    User.objects.create_user("bob", password="bobs-password")
    bob = Client()
    assert bob.post(LOGIN, {"username": "bob", "password": "bobs-password"}).status_code == 302


def test_behind_a_trusted_proxy_the_forwarded_address_counts(alice: User, settings) -> None:
    settings.DORA_TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.5"}
    attacker = {**proxy, "HTTP_X_FORWARDED_FOR": "203.0.113.9"}
    fail(Client(), settings.AXES_FAILURE_LIMIT, limit=settings.AXES_FAILURE_LIMIT, **attacker)
    assert post_login(Client(), PASSWORD, **attacker).status_code == 429
    # A forged left-most address does not escape the lockout: the proxy's entry is used.
    forged = {**proxy, "HTTP_X_FORWARDED_FOR": "198.51.100.1, 203.0.113.9"}
    assert post_login(Client(), PASSWORD, **forged).status_code == 429
    # Someone else behind the same proxy is not locked out.
    colleague = {**proxy, "HTTP_X_FORWARDED_FOR": "203.0.113.77"}
    assert post_login(Client(), PASSWORD, **colleague).status_code == 302


def test_the_admin_login_is_throttled_too(settings) -> None:
    User.objects.create_superuser("alice", password=PASSWORD)
    client = Client()
    limit = settings.AXES_FAILURE_LIMIT
    fail(client, limit, limit=limit, path="/admin/login/")

    refused = post_login(client, PASSWORD, path="/admin/login/")

    assert refused.status_code == 429 and LOCKED_OUT in refused.content.decode()
    assert client.get("/admin/").status_code == 302  # still not logged in


def test_the_test_clients_own_logins_still_work(alice: User) -> None:
    client = Client()
    assert client.login(username="alice", password=PASSWORD)
    assert logged_in(client)
    assert not Client().login(username="alice", password="wrong")
