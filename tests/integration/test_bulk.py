"""dora.bulk: plain-row upserts and inserts, on whichever database the run uses (PostgreSQL or
SQLite), checked through the ORM so both backends store what the ORM would."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dora import bulk
from dora.models import Change, ChangeCommit, Commit, RawEvent
from tests.builders import T0, sha

pytestmark = pytest.mark.django_db
COMMIT_COLUMNS = [
    "source",
    "external_id",
    "repo",
    "sha",
    "authored_at",
    "parents",
    "author",
    "message",
    "files",
    "reverts_sha",
]


def commit_row(name: str, *, message: str = "", hours: int = 0) -> tuple:
    at = T0 + timedelta(hours=hours)
    return ("api", f"commit:{name}", "acme/shop", sha(name), at, [sha("p")], "", message, [], "")


def test_bulk_upsert_inserts_updates_and_returns_every_row() -> None:
    bulk.upsert(Commit, COMMIT_COLUMNS, [commit_row("a", message="one")], unique=["repo", "sha"])
    first_id = Commit.objects.get().id
    returned = bulk.upsert(
        Commit,
        COMMIT_COLUMNS,
        [commit_row("a", message="two", hours=1), commit_row("b", message="new")],
        unique=["repo", "sha"],
        returning=["id", "sha"],
    )
    # Every row comes back, the updated one under its old id (ids of new rows are the sequence's).
    assert sorted(returned, key=lambda r: r[1]) == sorted(
        [(first_id, sha("a")), (Commit.objects.get(sha=sha("b")).id, sha("b"))], key=lambda r: r[1]
    )
    a = Commit.objects.get(sha=sha("a"))
    assert (a.id, a.message, a.authored_at, a.parents) == (
        first_id,
        "two",
        T0 + timedelta(hours=1),
        [sha("p")],
    )
    # Stored as the ORM stores datetimes: an exact lookup finds it (on SQLite, the text must match).
    assert Commit.objects.filter(authored_at=T0 + timedelta(hours=1)).count() == 1
    assert Commit.objects.filter(parents__0=sha("p")).count() == 2  # a JSON list, not a string


def test_bulk_upsert_leaves_columns_outside_update_alone() -> None:
    bulk.upsert(Commit, COMMIT_COLUMNS, [commit_row("a", message="kept")], unique=["repo", "sha"])
    bulk.upsert(
        Commit,
        COMMIT_COLUMNS,
        [commit_row("a", message="ignored", hours=5)],
        unique=["repo", "sha"],
        update=["authored_at"],
    )
    a = Commit.objects.get()
    assert (a.message, a.authored_at) == ("kept", T0 + timedelta(hours=5))


def raw_row(ident: str, payload: str, digest: str, hours: int) -> tuple:
    at = T0 + timedelta(hours=hours)
    return ("api", "commit", ident, bulk.JsonText(payload), digest, at, at)


RAW = ["source", "type", "external_id", "payload", "digest", "received_at", "updated_at"]
RAW_KEY = ["source", "type", "external_id"]


def test_bulk_upsert_applied_says_inserted_or_updated_and_skips_rows_it_does_not_apply() -> None:
    digest_differs = "{t}.digest <> EXCLUDED.digest"
    first = bulk.upsert_applied(
        RawEvent,
        RAW,
        [raw_row("x", '{"v":1}', "d1", 0), raw_row("y", '{"v":1}', "d1", 0)],
        unique=RAW_KEY,
        update=["payload", "digest", "updated_at"],
        applies=digest_differs,
    )
    assert first == {("api", "commit", "x"): True, ("api", "commit", "y"): True}
    second = bulk.upsert_applied(
        RawEvent,
        RAW,
        [
            raw_row("x", '{"v":1}', "d1", 1),  # same digest: left alone
            raw_row("y", '{"v":2}', "d2", 1),  # changed
            raw_row("z", '{"v":3}', "d3", 1),  # new
        ],
        unique=RAW_KEY,
        update=["payload", "digest", "updated_at"],
        applies=digest_differs,
    )
    assert second == {("api", "commit", "y"): False, ("api", "commit", "z"): True}
    stored = {
        r.external_id: (r.payload, r.digest, r.received_at, r.updated_at)
        for r in RawEvent.objects.all()
    }
    assert stored == {
        "x": ({"v": 1}, "d1", T0, T0),
        "y": ({"v": 2}, "d2", T0, T0 + timedelta(hours=1)),
        "z": ({"v": 3}, "d3", T0 + timedelta(hours=1), T0 + timedelta(hours=1)),
    }


def test_bulk_json_values_are_encoded_once() -> None:
    # A Python string is a JSON string; JsonText is JSON already.
    bulk.upsert(
        RawEvent,
        RAW,
        [raw_row("x", '{"a":[1]}', "d", 0), ("api", "commit", "y", '{"a":[1]}', "d", T0, T0)],
        unique=RAW_KEY,
    )
    payloads = dict(RawEvent.objects.values_list("external_id", "payload"))
    assert payloads == {"x": {"a": [1]}, "y": '{"a":[1]}'}


def test_bulk_copy_insert_and_update_by_id() -> None:
    change = Change.objects.create(
        source="api", external_id="change:1", repo="acme/shop", number=1, created_at=T0
    )
    bulk.copy_insert(
        ChangeCommit,
        ["change_id", "sha", "role"],
        [(change.id, sha("a"), "commit"), (change.id, sha("m"), "merge")],
    )
    assert sorted(ChangeCommit.objects.values_list("sha", "role")) == sorted(
        [(sha("a"), "commit"), (sha("m"), "merge")]
    )
    bulk.update_by_id(Change, ["started_at"], [(change.id, T0 - timedelta(hours=2))])
    assert Change.objects.filter(started_at=T0 - timedelta(hours=2)).count() == 1
