"""No input breaks intake, and no bad fact stalls derivation (issue 13, findings 1 and 3).

Through the public doors: POST /api/v1/events, `manage.py import_events`, `manage.py derive`,
the promotion gate and the admin. Each hostile item is one rejected item naming its field; the
valid items beside it are stored and derived.
"""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from rest_framework.test import APIClient

from dora.models import (
    Change,
    Deployment,
    DerivePending,
    Environment,
    RawEvent,
    Rollout,
    Service,
    Target,
)
from tests.integration.test_gate import (
    ago,
    ask,
    checks,
    deploy,
    estate,  # noqa: F401  (a fixture: the gate tests' estate, used by name below)
    promotion,
)
from tests.integration.test_intake import client_with

pytestmark = pytest.mark.django_db
URL = "/api/v1/events"


def ingest_client() -> APIClient:
    return client_with("ingest")


def post_text(text: str, client: APIClient | None = None) -> tuple[int, dict[str, Any]]:
    response = (client or ingest_client()).generic(
        "POST", URL, text.encode("utf-8", "surrogatepass"), content_type="application/json"
    )
    assert response["Content-Type"].startswith("application/json")
    return response.status_code, response.json()


# ---------------------------------------------------------------------------------------------
# Finding 1: one event must not stop all processing
# ---------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("estate")
def test_a_time_far_outside_the_range_is_rejected_and_the_incident_beside_it_still_blocks() -> None:
    """The issue's reproduction: before, the request answered 500 after storing both events,
    the pair never derived, and the gate allowed a version an incident had marked failed."""
    bad = deploy("s3-s-a", "v1.4.3", "staging", "s-a", hours=1)
    bad["finished_at"] = "0001-01-01T00:00:00Z"
    incident = {
        "type": "incident",
        "id": "inc-77",
        "service": "shop",
        "environment": "staging",
        "opened_at": ago(2),
        "resolved_at": ago(1),
        "caused_by": {"version": "v1.4.2"},
        "cause": "change",
    }

    status, body = post_text(json.dumps([bad, incident]))

    assert status == 207
    rejected, created = body["items"]
    assert rejected["status"] == "rejected"
    assert rejected["reason"].startswith("finished_at: '0001-01-01T00:00:00Z' is outside")
    assert created["status"] == "created"
    assert not Deployment.objects.filter(external_id="deployment:s3-s-a").exists()
    assert not DerivePending.objects.exists()  # derived at once, nothing left behind
    status, decision = ask(promotion())
    assert status == 409
    verified = checks(decision)["version_verified_in_source"]
    assert not verified["passed"] and "marked failed" in verified["detail"]


def stored_unchecked(external_id: str, finished_at: datetime, **fields: Any) -> None:
    """A staging deployment of shop written around intake's validation, its pair marked for
    derivation from its time: what an older version (or a hand-made SQL fix) can leave."""
    service = Service.objects.get(name="shop")
    staging = Environment.objects.get(name="staging")
    Deployment.objects.create(
        source="api",
        external_id=external_id,
        service=service,
        environment=staging,
        target=Target.objects.get(environment=staging, name="s-a"),
        status="success",
        finished_at=finished_at,
        **fields,
    )
    DerivePending.objects.create(
        service=service, environment=staging, walk_since=finished_at, facts_since=finished_at
    )


def corrupt_deployment() -> None:
    """Explicit commits that are objects, not shas: derivation cannot walk it."""
    stored_unchecked(
        "deployment:corrupt",
        datetime.now(UTC),
        version="v0.0.0",
        commits=[{"sha": "abc1234"}],
    )


@pytest.mark.usefixtures("estate")
def test_times_before_1970_stored_by_an_older_version_no_longer_break_derivation() -> None:
    """The pair the old OverflowError came from (`since - ACTIVE_TARGET_WINDOW` at year 1):
    derivation starts at 1970 at the earliest."""
    stored_unchecked("deployment:year-one", datetime(1, 1, 1, tzinfo=UTC), version="v0.0.1")
    call_command("derive", stdout=io.StringIO(), stderr=io.StringIO())
    assert not DerivePending.objects.exists()
    assert Rollout.objects.filter(environment__name="staging", version="v1.4.2").exists()


@pytest.mark.usefixtures("estate")
def test_a_pair_that_fails_to_derive_is_set_aside_and_the_others_go_on(plain_static: None) -> None:
    corrupt_deployment()
    # Declared beside the estate's shop: once apply_config has declared services, events naming
    # an undeclared one are rejected (DORA_UNKNOWN_SERVICES).
    Service.objects.create(name="web", configured=True)
    others = [
        deploy("w1-s-a", "v7", "staging", "s-a", hours=2, service="web"),
        deploy("w1-p-a", "v7", "production", "p-a", hours=1, service="web"),
        deploy("p2-p-a", "v1.4.2", "production", "p-a", hours=0.5),
    ]

    status, body = post_text(json.dumps(others))

    assert status == 200, body
    assert body["counts"]["created"] == 3
    # The other pairs are derived: web in both environments, shop in production.
    assert Rollout.objects.filter(service__name="web").count() == 2
    assert Rollout.objects.filter(
        service__name="shop", environment__name="production", version="v1.4.2"
    ).exists()
    (pending,) = DerivePending.objects.all()
    assert (pending.service.name, pending.environment.name) == ("shop", "staging")
    assert pending.error.startswith("TypeError") and pending.failed_at is not None

    # The gate will not decide on the facts of the failed pair.
    status, decision = ask(promotion())
    assert status == 409
    derived = checks(decision)["facts_derived"]
    assert not derived["passed"] and derived["severity"] == "block"
    assert "could not be derived in staging" in derived["detail"]
    assert "TypeError" in derived["detail"]

    # `derive` and the beat task go on (nothing raises), and say what failed.
    err = io.StringIO()
    call_command("derive", stdout=io.StringIO(), stderr=err)
    assert "FAILED shop in staging" in err.getvalue()
    from dora.tasks import derive_pending_task

    assert derive_pending_task.apply().get() == 0

    # The admin and /readyz show why (/readyz's detail to operators only).
    admin = User.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(admin)
    page = client.get("/admin/dora/derivepending/")
    assert page.status_code == 200 and b"TypeError" in page.content
    ready = client.get("/readyz?component=derivation")
    assert ready.status_code == 503
    assert "shop in staging: TypeError" in ready.json()["detail"]["derivation"]
    anonymous = Client().get("/readyz?component=derivation")
    assert anonymous.json()["components"] == {"derivation": "error"}
    assert "TypeError" not in anonymous.content.decode()

    # Deleting the bad fact and retrying clears it; the gate decides on the facts again.
    Deployment.objects.filter(external_id="deployment:corrupt").delete()
    call_command("derive", "--retry-failed", stdout=io.StringIO(), stderr=io.StringIO())
    assert not DerivePending.objects.exists()
    status, decision = ask(promotion())
    assert checks(decision)["facts_derived"]["passed"]


@pytest.mark.usefixtures("estate")
def test_new_events_on_a_failed_pair_try_it_again() -> None:
    corrupt_deployment()
    call_command("derive", stdout=io.StringIO(), stderr=io.StringIO())
    assert DerivePending.objects.get().failed_at is not None
    Deployment.objects.filter(external_id="deployment:corrupt").delete()

    status, _ = post_text(json.dumps([deploy("s3-s-a", "v1.4.3", "staging", "s-a", hours=1)]))

    assert status == 200
    assert not DerivePending.objects.exists()  # touched again, derived again: it succeeded
    assert Rollout.objects.filter(environment__name="staging", version="v1.4.3").exists()


@pytest.mark.usefixtures("estate")
def test_the_gate_derives_a_pending_pair_before_deciding() -> None:
    """Events stored but not yet derived (a sync derives when it is done) are derived first:
    the gate never answers from facts it knows are behind."""
    from dora.intake.events import events_record

    incident = {
        "type": "incident",
        "id": "inc-9",
        "service": "shop",
        "environment": "staging",
        "opened_at": ago(2),
        "resolved_at": ago(1),
        "caused_by": {"version": "v1.4.2"},
    }
    events_record([incident], defer_derivation=True)
    assert DerivePending.objects.exists()

    status, decision = ask(promotion())

    assert status == 409
    assert not checks(decision)["version_verified_in_source"]["passed"]
    assert checks(decision)["facts_derived"]["passed"]
    assert not DerivePending.objects.exists()


# ---------------------------------------------------------------------------------------------
# Finding 3: one bad item must not fail the request
# ---------------------------------------------------------------------------------------------

VALID = {
    "type": "deployment",
    "service": "checkout",
    "environment": "production",
    "version": "v1",
    "status": "success",
    "finished_at": "2026-03-05T10:00:00Z",
}
# Each: (the item as JSON text, the field its rejection must name). Written as text because
# JSON can say what Python's json.dumps will not (NaN, a lone surrogate, 10,000 levels).
HOSTILE = [
    (json.dumps({**VALID, "id": "long-service", "service": "s" * 201}), "service: "),
    (json.dumps({**VALID, "id": "long-target", "target": "t" * 201}), "target: "),
    (json.dumps({**VALID, "id": "long-version", "version": "v" * 201}), "version: "),
    (json.dumps({**VALID, "id": "x" * 481}), "id: "),
    (
        json.dumps(
            {
                "type": "incident",
                "id": "sev",
                "service": "a",
                "opened_at": VALID["finished_at"],
                "severity": "s" * 41,
            }
        ),
        "severity: ",
    ),
    (
        json.dumps(
            {
                "type": "change",
                "id": "big",
                "repo": "a/b",
                "number": 2**31,
                "created_at": VALID["finished_at"],
            }
        ),
        "number: ",
    ),
    (
        json.dumps(
            {
                "type": "change",
                "id": "sup",
                "repo": "a/b",
                "number": "²",
                "created_at": VALID["finished_at"],
            }
        ),
        "number: ",
    ),
    (json.dumps({**VALID, "id": "nul", "version": "v\u0000"}), "version: "),
    (json.dumps({**VALID, "id": "nul-extra", "note": ["\u0000"]}), "note[0]: "),
    (json.dumps({**VALID, "id": "surrogate"})[:-1] + ', "target": "eu-\\ud800"}', "target: "),
    (json.dumps({**VALID, "id": "nan"})[:-1] + ', "note": NaN}', "note: "),
    (json.dumps({**VALID, "id": "inf"})[:-1] + ', "note": -Infinity}', "note: "),
    (json.dumps({**VALID, "id": "huge-float"})[:-1] + ', "note": 1e999}', "note: "),
    (json.dumps({**VALID, "id": "huge-int"})[:-1] + ', "note": ' + "7" * 5000 + "}", "note: "),
    (
        json.dumps({**VALID, "id": "deep"})[:-1] + ', "n": ' + "[" * 10_000 + "]" * 10_000 + "}",
        "nested deeper",
    ),
    (
        json.dumps({**VALID, "id": "year-one", "finished_at": "0001-01-01T00:00:00Z"}),
        "finished_at: ",
    ),
    (json.dumps({**VALID, "id": "far", "finished_at": "9999-12-31T23:59:59Z"}), "finished_at: "),
]


def test_every_hostile_item_is_rejected_naming_its_field_and_the_valid_ones_are_stored() -> None:
    goods = [json.dumps({**VALID, "id": f"good-{n}", "version": f"v{n}"}) for n in range(3)]
    parts = [goods[0], *(text for text, _ in HOSTILE[:8]), goods[1], *(t for t, _ in HOSTILE[8:])]
    parts.append(goods[2])

    status, body = post_text("[" + ",\n".join(parts) + "]")

    assert status == 207, body
    items = body["items"]
    assert len(items) == len(HOSTILE) + 3
    hostile_items = items[1:9] + items[10:-1]
    for (_, field), item in zip(HOSTILE, hostile_items, strict=True):
        assert item["status"] == "rejected", item
        assert item["reason"].startswith(field) or field in item["reason"], item
    assert [items[i]["status"] for i in (0, 9, len(items) - 1)] == ["created"] * 3
    assert sorted(Deployment.objects.values_list("version", flat=True)) == ["v0", "v1", "v2"]
    assert RawEvent.objects.count() == 3


def test_a_body_that_is_only_a_too_deep_object_is_a_rejected_item_not_a_500() -> None:
    status, body = post_text('{"type": "commit", "x": ' + "[" * 50_000 + "]" * 50_000 + "}")
    assert status == 400
    assert body["items"][0]["status"] == "rejected"
    assert "nested deeper" in body["items"][0]["reason"]


def test_import_events_rejects_hostile_lines_and_stores_the_rest(tmp_path: Path) -> None:
    lines = [json.dumps({**VALID, "id": "line-1"})]
    lines += [text for text, _ in HOSTILE]
    lines.append(json.dumps({**VALID, "id": "line-last"}))
    path = tmp_path / "events.jsonl"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + b"\n\xff\xfe{bad utf8}\n")
    err = io.StringIO()

    with pytest.raises(CommandError, match=f"{len(HOSTILE) + 1} line"):
        call_command("import_events", str(path), "--quiet", stdout=io.StringIO(), stderr=err)

    assert sorted(Deployment.objects.values_list("external_id", flat=True)) == [
        "deployment:line-1",
        "deployment:line-last",
    ]
    report = err.getvalue()
    for number, (_, field) in enumerate(HOSTILE, start=2):
        assert f"line {number}: " in report and field.split(":")[0] in report
    assert f"line {len(HOSTILE) + 3}: " in report  # the bytes that are not UTF-8


def test_later_intake_works_after_hostile_items() -> None:
    client = ingest_client()
    post_text(json.dumps([{**VALID, "id": "a", "finished_at": "0001-01-01T00:00:00Z"}]), client)
    status, body = post_text(json.dumps([{**VALID, "id": "b"}]), client)
    assert status == 200 and body["counts"]["created"] == 1
    assert Rollout.objects.filter(service__name="checkout").count() == 1


# ---------------------------------------------------------------------------------------------
# Finding 6: the later source time wins, whatever the order of arrival
# ---------------------------------------------------------------------------------------------


def test_an_older_version_sent_later_is_not_stored_and_says_so() -> None:
    client = ingest_client()
    base = {
        "type": "change",
        "id": "acme/shop#5",
        "repo": "acme/shop",
        "number": 5,
        "created_at": "2026-03-01T09:00:00Z",
    }
    closed = {**base, "closed_at": "2026-03-02T09:00:00Z", "updated_at": "2026-03-02T09:00:00Z"}
    reopened = {**base, "updated_at": "2026-03-03T09:00:00Z"}
    assert post_text(json.dumps(reopened), client)[1]["items"][0]["status"] == "created"

    status, body = post_text(json.dumps(closed), client)  # older, arriving later

    assert status == 200
    (item,) = body["items"]
    assert item["status"] == "unchanged" and "later updated_at" in item["warning"]
    assert Change.objects.get(number=5).closed_at is None
    raw = RawEvent.objects.get()
    assert raw.source_updated_at == datetime(2026, 3, 3, 9, tzinfo=UTC)
    assert raw.sent_by.startswith("token:test-ingest (dora_ingest_")  # client_with's token

    newer = {**closed, "updated_at": "2026-03-04T09:00:00Z"}
    assert post_text(json.dumps(newer), client)[1]["items"][0]["status"] == "updated"
    assert Change.objects.get(number=5).closed_at == datetime(2026, 3, 2, 9, tzinfo=UTC)


def test_versions_of_one_event_in_one_batch_apply_in_source_time_order() -> None:
    base = {**VALID, "id": "d-1"}
    batch = [
        {**base, "version": "v3", "updated_at": "2026-03-05T12:00:00Z"},
        {**base, "version": "v1", "updated_at": "2026-03-05T10:00:00Z"},
        {**base, "version": "v3", "updated_at": "2026-03-05T12:00:00Z"},
    ]
    status, body = post_text(json.dumps(batch))
    assert status == 200
    assert [i["status"] for i in body["items"]] == ["created", "unchanged", "unchanged"]
    assert "later updated_at" in body["items"][1]["warning"]
    assert Deployment.objects.get().version == "v3"
