"""dora.db_router: reads go to the replica only inside a read scope, and only for the facts."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.contrib.sessions.models import Session

from dora.db_router import ReplicaRouter, read_alias, reads_from
from dora.models import Deployment, Service


def test_outside_a_read_scope_nothing_is_routed() -> None:
    router = ReplicaRouter()

    assert router.db_for_read(Deployment) is None  # Django's default: "default"
    assert read_alias() == "default"


def test_inside_a_read_scope_the_facts_are_read_there_and_auth_stays_on_default() -> None:
    router = ReplicaRouter()

    with reads_from("replica"):
        assert [router.db_for_read(model) for model in (Deployment, Service)] == [
            "replica",
            "replica",
        ]
        assert router.db_for_read(User) is None
        assert router.db_for_read(Session) is None
        assert read_alias() == "replica"
    assert router.db_for_read(Deployment) is None


def test_writes_and_migrations_only_on_default() -> None:
    router = ReplicaRouter()

    with reads_from("replica"):
        assert router.db_for_write(Deployment) == "default"
    assert router.allow_migrate("default", "dora") is True
    assert router.allow_migrate("replica", "dora") is False
