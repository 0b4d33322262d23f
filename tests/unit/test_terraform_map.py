"""The HCP Terraform mapper, field by field, on HashiCorp's documented payloads
(tests/fixtures/terraform/README.md); expected values read off the fixtures by hand."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from dora.intake.schema import event_validate as validate
from ingest.sources.stacks import StackRule
from ingest.sources.terraform.config import TerraformConfig
from ingest.sources.terraform.mapper import (
    RunCommit,
    delivery_key,
    notification_events,
    notification_trigger,
    run_facts,
    run_status,
    run_with_commit,
    with_ingress,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"
CONFIG = TerraformConfig(
    rules=(
        StackRule(match="other", service="wrong", environment="wrong"),
        StackRule(match="my-*", service="network", environment="production", target="{name}"),
    )
)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def errored() -> dict[str, Any]:
    return fixture("notification-run-errored.json")


def as_notification(trigger: str, status: str | None, updated_at: str) -> dict[str, Any]:
    body = copy.deepcopy(errored())
    body["notifications"][0].update(trigger=trigger, run_status=status, run_updated_at=updated_at)
    return body


def test_terraform_run_notification_maps_field_by_field() -> None:
    mapped = notification_events(errored(), CONFIG)
    assert mapped is not None and mapped.skipped == ()
    assert mapped.events == (
        {
            "type": "automation_run",
            "source": "terraform",
            "id": "run-FwnENkvDnrpyFC7M",
            "service": "network",
            "environment": "production",
            "target": "my-workspace",
            "action": "apply",
            "status": "cancelled",  # run_status "canceled"
            "started_at": "2019-01-25T18:34:00Z",  # run_created_at
            "finished_at": "2019-01-25T18:37:04Z",  # the notification's run_updated_at
            "updated_at": "2019-01-25T18:37:04Z",
        },
    )
    validate(mapped.events[0])  # a valid CONTRACT §1 event


@pytest.mark.parametrize(
    ("status", "trigger", "expected"),
    [
        ("applied", "run:completed", "success"),
        ("planned_and_finished", "run:completed", "success"),
        ("errored", "run:errored", "failure"),
        ("policy_soft_failed", "run:errored", "failure"),
        ("canceled", "run:errored", "cancelled"),
        ("force_canceled", "run:errored", "cancelled"),
        ("discarded", "run:errored", "cancelled"),
        ("applying", "run:applying", "running"),
        ("planning", "run:planning", "running"),
        ("pending", "run:created", "running"),
        ("planned", "run:needs_attention", "running"),
        (None, "run:completed", "success"),
        (None, "run:errored", "failure"),
    ],
)
def test_terraform_run_status_maps(status: str | None, trigger: str, expected: str) -> None:
    assert run_status(status, trigger) == expected


def test_terraform_notifications_of_one_run_are_one_event_and_keep_its_filled_fields() -> None:
    applying = as_notification("run:applying", "applying", "2019-01-25T18:36:00.000Z")
    first = notification_events(applying, CONFIG)
    assert first is not None
    (running,) = first.events
    assert (running["id"], running["status"], running["finished_at"]) == (
        "run-FwnENkvDnrpyFC7M",
        "running",
        "2019-01-25T18:36:00Z",
    )
    stored = {**running, "version": "1e1c1018", "sha": "1e1c1018", "action": "plan"}
    completed = as_notification("run:completed", "applied", "2019-01-25T18:40:00.000Z")
    second = notification_events(completed, CONFIG, lambda run_id: dict(stored))
    assert second is not None
    (done,) = second.events
    assert done["id"] == "run-FwnENkvDnrpyFC7M"
    assert (done["status"], done["finished_at"], done["updated_at"]) == (
        "success",
        "2019-01-25T18:40:00Z",
        "2019-01-25T18:40:00Z",
    )
    # What the API filled stays: version, sha, and the plan-only run's action.
    assert (done["version"], done["sha"], done["action"]) == ("1e1c1018", "1e1c1018", "plan")


def test_terraform_run_of_an_unplaced_workspace_is_skipped_with_the_reason() -> None:
    body = errored()
    body["workspace_name"] = "billing-prod"
    mapped = notification_events(body, CONFIG)
    assert mapped is not None and mapped.events == ()
    (skip,) = mapped.skipped
    assert skip.incident == "run-FwnENkvDnrpyFC7M"
    assert "'billing-prod' matches no rule" in skip.reason


def test_terraform_drift_assessment_maps_to_a_drift_check() -> None:
    mapped = notification_events(fixture("notification-assessment-drifted.json"), CONFIG)
    assert mapped is not None
    assert mapped.events == (
        {
            "type": "automation_run",
            "source": "terraform",
            "id": "asmtres-vRVQxpqq64EA9V5a",
            "service": "network",
            "environment": "production",
            "target": "my-workspace",
            "action": "plan",
            "status": "success",
            "trigger": "schedule",
            "finished_at": "2022-06-09T05:23:10Z",
            "updated_at": "2022-06-09T05:23:10Z",
            "drift_detected": True,
        },
    )
    validate(mapped.events[0])


def test_terraform_check_failure_without_drift_says_no_drift() -> None:
    body = fixture("notification-assessment-drifted.json")
    body["trigger"] = "assessment:check_failure"
    body["details"]["new_assessment_result"].update(drifted=False, checks_failed=2)
    mapped = notification_events(body, CONFIG)
    assert mapped is not None
    assert mapped.events[0]["drift_detected"] is False
    assert mapped.events[0]["status"] == "success"


def test_terraform_failed_assessment_is_a_failure_that_checked_no_drift() -> None:
    body = fixture("notification-assessment-drifted.json")
    body["trigger"] = "assessment:failed"
    body["details"]["new_assessment_result"].update(succeeded=False)
    mapped = notification_events(body, CONFIG)
    assert mapped is not None
    (event,) = mapped.events
    assert event["status"] == "failure"
    assert "drift_detected" not in event


@pytest.mark.parametrize(
    ("name", "trigger"),
    [
        ("notification-verification.json", "verification"),
        ("notification-auto-destroy-reminder.json", "workspace:auto_destroy_reminder"),
    ],
)
def test_terraform_other_triggers_map_to_nothing(name: str, trigger: str) -> None:
    body = fixture(name)
    assert notification_trigger(body) == trigger
    assert notification_events(body, CONFIG) is None


def test_terraform_delivery_keys() -> None:
    assert delivery_key(errored()) == "run-FwnENkvDnrpyFC7M:run:errored:2019-01-25T18:37:04.000Z"
    drifted = fixture("notification-assessment-drifted.json")
    assert delivery_key(drifted) == "asmtres-vRVQxpqq64EA9V5a:assessment:drifted"
    assert delivery_key(fixture("notification-verification.json")) is None


def test_terraform_run_facts_from_the_documented_api_answers() -> None:
    facts = run_facts(fixture("api-run.json"))
    # plan-only false; source tfe-api says no trigger; the configuration version's id.
    assert facts == RunCommit(
        plan_only=False, trigger=None, configuration_version="cv-ntv3HbhJqvFzamy7"
    )
    full = with_ingress(facts, fixture("api-ingress-attributes.json"))
    assert (full.sha, full.repo, full.branch) == (
        "1e1c1018d1bbc0b8517d072718e0d87c1a0eda95",
        "hashicorp/foobar",
        "add-cool-stuff",
    )
    assert with_ingress(facts, {"data": None}) == facts


def test_terraform_run_with_commit_sets_version_sha_trigger_and_plan() -> None:
    (event,) = notification_events(errored(), CONFIG).events  # type: ignore[union-attr]
    facts = RunCommit(plan_only=True, trigger="change", sha="ab" * 20, repo="acme/net")
    filled = run_with_commit(event, facts)
    assert filled == {
        **event,
        "version": "ab" * 20,
        "sha": "ab" * 20,
        "repo": "acme/net",
        "trigger": "change",
        "action": "plan",
    }
    validate(filled)
    assert run_with_commit(event, RunCommit()) == event
