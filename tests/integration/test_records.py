"""Record writing at intake (dora.intake.records through events._records_upsert): per-item statuses,
the raw payload, and the bookkeeping derivation relies on."""

from __future__ import annotations

import pytest
from django.db import transaction

from dora.intake.events import _records_upsert, events_record
from dora.intake.schema import event_validate
from dora.models import Change, ChangeCommit, Commit, Deployment, RawEvent, Rollout
from tests.builders import T0, change, commit, deployment, sha

pytestmark = pytest.mark.django_db


def statuses(events: list[dict]) -> list[str]:
    return [item.status for item in events_record(events).items]


def test_records_statuses_of_keys_repeated_in_one_batch() -> None:
    c1, c2 = commit("c1", message="v1"), commit("c2")
    c1_v2 = {**c1, "message": "v2"}
    # Each repeat reports against the one before it, as if sent one after another.
    assert statuses([c1, c1_v2, c2, c1_v2]) == ["created", "updated", "created", "unchanged"]
    assert Commit.objects.get(sha=sha("c1")).message == "v2"
    assert statuses([c1_v2, c1, c1, c2]) == ["unchanged", "updated", "unchanged", "unchanged"]
    assert Commit.objects.get(sha=sha("c1")).message == "v1"
    assert RawEvent.objects.count() == 2


def test_records_raw_payload_is_the_event_with_its_source() -> None:
    event = commit("c1", message="ünïcode", files=["a.py"])
    events_record([event])
    raw = RawEvent.objects.get()
    assert (raw.source, raw.type, raw.external_id) == ("api", "commit", "acme/shop@c1")
    assert raw.payload == {**event, "source": "api"}
    assert raw.digest == event_validate(event).digest


def test_records_change_update_replaces_its_links_and_touches_old_and_new_shas() -> None:
    events_record([change(1, ["a", "b"], created=0, merged=1, merge="m")])
    update = event_validate(change(1, ["a"], created=0, merged=1, squash="s", title="t"))
    with transaction.atomic():
        status, touched = _records_upsert([update], now=T0)
    stored = Change.objects.get()
    assert status == ["updated"] and stored.title == "t"
    assert sorted(ChangeCommit.objects.values_list("change_id", "sha", "role")) == sorted(
        [(stored.id, sha("a"), "commit"), (stored.id, sha("s"), "squash")]
    )
    assert touched.change_ids == {stored.id}
    assert touched.change_shas == {sha("a"), sha("b"), sha("m"), sha("s")}


def test_records_deployment_update_keeps_its_rollout() -> None:
    events_record([commit("c1"), deployment("d1", "c1", hours=1)])
    rollout_id = Deployment.objects.get().rollout_id
    assert rollout_id == Rollout.objects.get().id
    with transaction.atomic():
        status, touched = _records_upsert(
            [event_validate(deployment("d1", "c1", hours=2, status="failure"))], now=T0
        )
    stored = Deployment.objects.get()
    assert status == ["updated"]
    assert (stored.status, stored.rollout_id) == ("failure", rollout_id)
    # Both the old moment (1 h) and the new one (2 h) are places to walk again; the earlier wins.
    assert list(touched.walk.values()) == [T0.replace(hour=10)]


def test_records_store_issue_and_approval_and_clear_them_when_absent() -> None:
    issued = change(1, ["a"], created=0, merged=1, issue="SHOP-7")
    approved = deployment("d1", "a", hours=2, approved_by="ann")
    issued["issue_created_at"] = approved["approved_at"] = "2026-03-02T08:00:00Z"
    events_record([commit("a"), issued, approved])
    stored_change, stored_deployment = Change.objects.get(), Deployment.objects.get()
    assert (stored_change.issue, stored_change.issue_created_at.hour) == ("SHOP-7", 8)
    assert (stored_deployment.approved_by, stored_deployment.approved_at.hour) == ("ann", 8)
    # An update stores what an insert would: without the fields, they are empty again.
    events_record([change(1, ["a"], created=0, merged=1), deployment("d1", "a", hours=2)])
    stored_change, stored_deployment = Change.objects.get(), Deployment.objects.get()
    assert (stored_change.issue, stored_change.issue_created_at) == ("", None)
    assert (stored_deployment.approved_by, stored_deployment.approved_at) == ("", None)
