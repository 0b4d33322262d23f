"""Out-of-band changes end to end: intake (idempotent on id), which stay open (drifted) until a
successful apply or deployment after them, the gate's no_out_of_band_changes and no_drift, the
out_of_band_changes figure of GET /api/v1/metrics, and the estate matrix's drift counts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from dora.config import config_apply, config_load
from dora.intake.events import events_record
from dora.models import OutOfBandChange
from dora.out_of_band import out_of_band_open, service_out_of_band
from dora.reads.estate_matrix import drift_by_pair
from dora.reads.scope import Scope
from tests.integration.test_gate import (
    ESTATE,
    ago,
    apply_run,
    ask,
    checks,
    deploy,
    failed,
    promotion,
    record,
)
from tests.integration.test_gate import estate as estate  # noqa: F401 - the fixture
from tests.integration.test_metrics_report import api

pytestmark = pytest.mark.django_db
T = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)


def at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def by_hand(ident: str, service: str, moment: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "type": "out_of_band_change",
        "id": ident,
        "source": "cloudtrail:prod",
        "service": service,
        "environment": extra.pop("environment", "production"),
        "changed_at": at(moment),
        "actor": extra.pop("actor", "arn:aws:iam::111122223333:user/alice"),
        "what": extra.pop("what", "ec2:AuthorizeSecurityGroupIngress"),
        **extra,
    }


def run(ident: str, service: str, moment: datetime, **extra: Any) -> dict[str, Any]:
    return {
        "type": "automation_run",
        "id": ident,
        "service": service,
        "environment": "production",
        "action": extra.pop("action", "apply"),
        "status": extra.pop("status", "success"),
        "finished_at": at(moment),
        **extra,
    }


def deployed(ident: str, target: str, moment: datetime) -> dict[str, Any]:
    return {
        "type": "deployment",
        "id": ident,
        "service": "shop",
        "environment": "production",
        "target": target,
        "version": "v2",
        "status": "success",
        "finished_at": at(moment),
    }


def open_ids(now: datetime, **kwargs: Any) -> list[str]:
    return [c.id for c in out_of_band_open(now=now, **kwargs)]


def test_an_out_of_band_change_is_stored_once_per_id_and_updated_in_place() -> None:
    config_apply(config_load(ESTATE))
    first = events_record([by_hand("evt-1", "network", T - 5 * H)])
    again = events_record([by_hand("evt-1", "network", T - 5 * H)])
    changed = events_record([by_hand("evt-1", "network", T - 5 * H, what="ec2:DeleteRoute")])

    assert [i.status for i in (*first.items, *again.items, *changed.items)] == [
        "created",
        "unchanged",
        "updated",
    ]
    stored = OutOfBandChange.objects.get()
    assert (stored.external_id, stored.what, stored.target.name) == (
        "out_of_band_change:evt-1",
        "ec2:DeleteRoute",
        "",
    )
    assert stored.changed_at == T - 5 * H


def test_a_change_missing_who_is_rejected_naming_the_field() -> None:
    event = by_hand("evt-2", "network", T)
    del event["actor"]

    report = events_record([event, by_hand("evt-3", "network", T, what="  ")])

    assert [i.reason for i in report.items] == [
        "actor: required for a out_of_band_change event",
        "what: must not be empty (what was changed, e.g. 'PutBucketPolicy')",
    ]


def test_changes_stay_open_until_a_successful_apply_or_deployment_after_them() -> None:
    config_apply(config_load(ESTATE))
    record(
        [
            by_hand("a", "network", T - 5 * H),  # the whole environment
            by_hand("b", "shop", T - 3 * H, target="p-a"),
            by_hand("c", "shop", T - 2 * H, target="p-b"),
            run("plan", "network", T - 4 * H, action="plan"),  # a plan undoes nothing
            run("failed", "network", T - 3.5 * H, status="failure"),  # nor a failed apply
            run("before", "network", T - 6 * H),  # an apply before the change neither
            deployed("p-a-v2", "p-a", T - 1 * H),  # undoes b (p-a), not c (p-b)
        ]
    )

    assert open_ids(T) == ["a", "c"]
    # An hour and a half earlier the deployment had not happened yet.
    assert open_ids(T - 1.5 * H) == ["a", "b", "c"]
    # Before c was made, it is not there.
    assert open_ids(T - 2.5 * H) == ["a", "b"]

    record([run("apply", "network", T - 0.5 * H)])
    assert open_ids(T) == ["c"]
    assert open_ids(T, services=["network"]) == []


def test_open_changes_drift_the_instances_they_touched_on_the_estate_matrix() -> None:
    config_apply(config_load(ESTATE))
    record(
        [
            run("net-a", "network", T - 9 * H, target="p-a", drift_detected=False),
            run("net-b", "network", T - 9 * H, target="p-b", drift_detected=True),
            run("shop-a", "shop", T - 9 * H, target="p-a", action="deploy"),
            by_hand("net", "network", T - 5 * H),  # no target: both network instances
            by_hand("shop", "shop", T - 3 * H, target="p-b"),  # shop has no p-b instance
        ]
    )

    # network: p-b's drift check plus the change on every target = {p-a, p-b}; shop: p-b.
    assert drift_by_pair(Scope(), until=T) == {
        ("network", "production"): 2,
        ("shop", "production"): 1,
    }
    record([run("net-apply", "network", T - 1 * H, target="p-a")])
    # The apply on p-a undoes the environment-wide change; p-b's own drift check still stands.
    assert drift_by_pair(Scope(), until=T) == {
        ("network", "production"): 1,
        ("shop", "production"): 1,
    }


def test_the_service_page_list_says_who_what_when_and_which_are_open() -> None:
    config_apply(config_load(ESTATE))
    record(
        [
            by_hand("old", "shop", T - 30 * H, target="p-a", actor="bob", what="lambda:Update"),
            deployed("p-a-v2", "p-a", T - 20 * H),
            by_hand("new", "shop", T - 2 * H, target="p-a"),
            by_hand("net", "network", T - 2 * H),  # another service: not listed
        ]
    )

    rows = service_out_of_band("shop", since=T - 48 * H, until=T, now=T)

    assert [(r["changed_at"], r["actor"], r["what"], r["open"]) for r in rows] == [
        (
            T - 2 * H,
            "arn:aws:iam::111122223333:user/alice",
            "ec2:AuthorizeSecurityGroupIngress",
            True,
        ),
        (T - 30 * H, "bob", "lambda:Update", False),
    ]
    assert rows[0]["source"] == "cloudtrail:prod" and rows[0]["target"] == "p-a"


# --------------------------------------------------------------------------------------------
# The gate (POST /api/v1/gates/promotion), on test_gate's estate and the real clock
# --------------------------------------------------------------------------------------------


def recent(ident: str, service: str, hours: float, **extra: Any) -> dict[str, Any]:
    event = by_hand(ident, service, T, **extra)
    event["changed_at"] = ago(hours)
    return event


def test_gate_warns_on_an_out_of_band_change_in_to_and_names_it(estate: None) -> None:
    record([recent("console-1", "network", 2, actor="alice", what="ec2:DeleteRoute")])

    status, body = ask(promotion())

    assert status == 200  # warn by default
    assert failed(body) == ["no_drift", "no_out_of_band_changes"]
    check = checks(body)["no_out_of_band_changes"]
    assert check["severity"] == "warn"
    assert check["detail"] == (
        "1 change made outside the pipeline in production since the last successful apply or "
        f"deployment: ec2:DeleteRoute on network in production by alice at {ago(2)[:16]}Z"
    )


def test_gate_blocks_on_it_by_policy_and_passes_after_the_next_apply(estate: None) -> None:
    record([recent("console-1", "shop", 2, target="p-a")])
    config_apply(
        config_load(
            "gates:\n  rules:\n    - to: production\n"
            "      checks: {no_out_of_band_changes: {mode: block}}\n"
        )
    )

    status, body = ask(promotion())
    assert status == 409
    assert failed(body) == ["no_drift", "no_out_of_band_changes"]

    # A deployment to the other target undoes nothing; one to p-a after the change does.
    record([deploy("p2-p-b", "v1.4.1", "production", "p-b", hours=1)])
    assert ask(promotion())[0] == 409
    record([deploy("p2-p-a", "v1.4.1", "production", "p-a", hours=1)])
    status, body = ask(promotion())
    assert status == 200, body
    assert checks(body)["no_out_of_band_changes"]["passed"]


def test_gate_ignores_changes_in_from_and_an_apply_undoes_the_stacks(estate: None) -> None:
    record(
        [
            recent("console-s", "network", 2, environment="staging"),
            recent("console-p", "network", 3),
            apply_run("net-p2", "production", days=1 / 24),  # an hour ago: after console-p
        ]
    )

    status, body = ask(promotion())

    assert status == 200
    assert failed(body) == []


# --------------------------------------------------------------------------------------------
# The figure (GET /api/v1/metrics, CONTRACT §4 addition)
# --------------------------------------------------------------------------------------------


def test_metrics_count_out_of_band_changes_per_environment_per_week() -> None:
    config_apply(config_load(ESTATE))
    record(
        [
            # T is Tuesday 10 March 2026; weeks start on Monday 2 and 9 March.
            by_hand("w1-p", "shop", datetime(2026, 3, 3, 9, tzinfo=UTC)),
            by_hand("w2-p", "network", datetime(2026, 3, 9, 0, tzinfo=UTC)),
            by_hand("w2-s", "network", datetime(2026, 3, 10, 8, tzinfo=UTC), environment="staging"),
            by_hand("after", "shop", datetime(2026, 3, 16, 0, tzinfo=UTC)),  # the window's end
        ]
    )

    status, body = api(
        "metrics", {"since": "2026-03-02T00:00:00Z", "until": "2026-03-16T00:00:00Z"}
    )

    assert status == 200, body
    assert body["out_of_band_changes"] == {
        "count": 3,
        "weeks": ["2026-03-02", "2026-03-09"],
        "environments": [
            {
                "environment": "production",
                "count": 2,
                "weeks": [{"week": "2026-03-02", "count": 1}, {"week": "2026-03-09", "count": 1}],
            },
            {
                "environment": "staging",
                "count": 1,
                "weeks": [{"week": "2026-03-02", "count": 0}, {"week": "2026-03-09", "count": 1}],
            },
        ],
        "tier": "all",
    }
    status, body = api(
        "metrics",
        {"since": "2026-03-02T00:00:00Z", "until": "2026-03-16T00:00:00Z", "service": "shop"},
    )
    assert body["out_of_band_changes"]["count"] == 1

    status, items = api(
        "metrics/out_of_band_changes/items",
        {"since": "2026-03-02T00:00:00Z", "until": "2026-03-16T00:00:00Z"},
    )
    assert status == 200 and items["count"] == 3
    assert sorted((i["changed_at"], i["service"], i["environment"]) for i in items["results"]) == [
        ("2026-03-03T09:00:00Z", "shop", "production"),
        ("2026-03-09T00:00:00Z", "network", "production"),
        ("2026-03-10T08:00:00Z", "network", "staging"),
    ]
    assert {"actor", "what", "source", "target"} <= set(items["results"][0])
