"""Atlantis mapper, field by field on the documented apply and drift bodies
(tests/fixtures/atlantis: project example-project in terraform/example, workspace default, pull
2137 of octocat/Hello-World at 7fd1a60b...; drift 550e8400-... over vpc (drifted) and ec2)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from ingest.sources.atlantis.mapper import APPLY, DRIFT, event_kind, webhook_events
from ingest.sources.mapping import Skipped
from ingest.sources.stacks import StackRule
from tests.infra_fixtures import infra_fixture

RECEIVED = datetime(2026, 12, 7, 9, 30, 15, 250000, tzinfo=UTC)
RULES = (
    StackRule(match="example-*", workspace="default", service="example", environment="staging"),
    StackRule(match="vpc", service="network", environment="production", target="eu-1"),
)


def test_the_shape_says_which_event_it_is() -> None:
    assert event_kind(infra_fixture("atlantis", "apply.json")) == APPLY
    assert event_kind(infra_fixture("atlantis", "drift.json")) == DRIFT
    assert event_kind({"hello": "world"}) is None
    assert webhook_events({"hello": 1}, RULES, received_at=RECEIVED, source="a") is None


def test_apply_result() -> None:
    mapped = webhook_events(
        infra_fixture("atlantis", "apply.json"), RULES, received_at=RECEIVED, source="atl"
    )
    assert mapped is not None and mapped.skipped == ()
    assert mapped.events == (
        {
            "type": "automation_run",
            "source": "atl",
            "id": "apply:octocat/Hello-World#2137:example-project:default"
            "@2026-12-07T09:30:15.250000Z",
            "service": "example",
            "environment": "staging",
            "action": "apply",
            "status": "success",
            "finished_at": "2026-12-07T09:30:15.250000Z",
            "trigger": "change",
            "version": "7fd1a60b01f91b314f59955a4e4d4e80d8edf11d",
        },
    )


def test_a_failed_apply_and_the_directory_when_there_is_no_project_name() -> None:
    body = copy.deepcopy(infra_fixture("atlantis", "apply.json"))
    body.update(Success=False, ProjectName="")
    rules = (StackRule(match="terraform/*", service="ex", environment="dev"),)
    mapped = webhook_events(body, rules, received_at=RECEIVED, source="atl")
    assert mapped is not None
    (event,) = mapped.events
    assert event["status"] == "failure" and event["service"] == "ex"
    assert event["id"].startswith("apply:octocat/Hello-World#2137:terraform/example:default@")


def test_an_apply_no_rule_matches_is_skipped_with_the_reason() -> None:
    body = infra_fixture("atlantis", "apply.json")
    rules = (StackRule(match="example-*", workspace="prod", service="x", environment="p"),)
    mapped = webhook_events(body, rules, received_at=RECEIVED, source="atl")
    assert mapped is not None and mapped.events == ()
    (skip,) = mapped.skipped
    assert isinstance(skip, Skipped)
    assert "'example-project' / 'terraform/example' in workspace 'default'" in skip.reason


def test_drift_result_one_run_per_mapped_project() -> None:
    rules = (*RULES, StackRule(match="modules/ec2", service="compute", environment="production"))
    mapped = webhook_events(
        infra_fixture("atlantis", "drift.json"), rules, received_at=RECEIVED, source="atl"
    )
    assert mapped is not None and mapped.skipped == ()
    assert mapped.events == (
        {
            "type": "automation_run",
            "source": "atl",
            "id": "drift:550e8400-e29b-41d4-a716-446655440000:vpc:production",
            "service": "network",
            "environment": "production",
            "target": "eu-1",
            "action": "plan",
            "status": "success",
            "finished_at": "2026-12-07T09:30:15.250000Z",
            "drift_detected": True,
        },
        {
            "type": "automation_run",
            "source": "atl",
            "id": "drift:550e8400-e29b-41d4-a716-446655440000:ec2:production",
            "service": "compute",
            "environment": "production",
            "action": "plan",
            "status": "success",
            "finished_at": "2026-12-07T09:30:15.250000Z",
            "drift_detected": False,
        },
    )


def test_a_drift_project_with_an_error_failed_and_says_nothing_of_drift() -> None:
    body = copy.deepcopy(infra_fixture("atlantis", "drift.json"))
    body["projects"][0]["error"] = "plan failed"
    mapped = webhook_events(body, RULES, received_at=RECEIVED, source="atl")
    assert mapped is not None
    (event,) = mapped.events  # ec2 is mapped by no rule here
    assert event["status"] == "failure" and "drift_detected" not in event
    (skip,) = mapped.skipped
    assert skip.incident == "drift:550e8400-e29b-41d4-a716-446655440000:ec2:production"
