"""env0 mapper, field by field on the documented `com.env0.deploy.succeeded` envelope
(tests/fixtures/env0: deployment log c8bcfa77-... of environment "acme-demo simple-ec2-instance
dev" (workspace dev-ec2-0730) in project "NonProd - 244172364962", deploy SUCCESS, started
18:25:07.000Z, finished 18:26:27.280Z, updated 18:26:27.482Z, triggerName user, not scheduled,
driftDetected null, gitRevision bc7cdada...)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ingest.sources.env0.mapper import deployment_events, is_deployment_event
from ingest.sources.stacks import StackRule
from tests.infra_fixtures import infra_fixture

RULES = (
    StackRule(match="acme-demo *", workspace="dev-*", service="ec2", environment="development"),
)


def envelope(event_type: str | None = None, **log: Any) -> dict[str, Any]:
    body = copy.deepcopy(infra_fixture("env0", "deploy_succeeded.json"))
    if event_type is not None:
        body["type"] = event_type
    body["data"]["deploymentLog"].update(log)
    return body


def test_only_envelopes_with_a_deployment_are_read() -> None:
    assert is_deployment_event(envelope())
    assert not is_deployment_event(infra_fixture("env0", "webhook_test.json"))


def test_deploy_succeeded() -> None:
    mapped = deployment_events(envelope(), RULES, source="e0")
    assert mapped.skipped == ()
    assert mapped.events == (
        {
            "type": "automation_run",
            "source": "e0",
            "id": "c8bcfa77-48ea-4550-afa0-644119744dbe",
            "service": "ec2",
            "environment": "development",
            "action": "apply",
            "status": "success",
            "finished_at": "2024-08-02T18:26:27.280000Z",
            "started_at": "2024-08-02T18:25:07Z",
            "updated_at": "2024-08-02T18:26:27.482000Z",
            "trigger": "manual",
            "version": "bc7cdada039b75c0da4b3d8194eb3670ffdfc516",
        },
    )


@pytest.mark.parametrize(
    ("status", "ours"),
    [
        ("FAILURE", "failure"),
        ("TIMEOUT", "failure"),
        ("INTERNAL_FAILURE", "failure"),
        ("CANCELLED", "cancelled"),
        ("ABORTED", "cancelled"),
    ],
)
def test_final_statuses(status: str, ours: str) -> None:
    (event,) = deployment_events(envelope(status=status), RULES, source="e0").events
    assert event["status"] == ours


def test_a_status_that_is_not_final_and_a_destroy_are_skipped() -> None:
    running = deployment_events(envelope(status="IN_PROGRESS"), RULES, source="e0")
    assert running.events == () and "status 'IN_PROGRESS' is not final" in running.skipped[0].reason
    destroy = deployment_events(envelope(type="destroy"), RULES, source="e0")
    assert destroy.events == () and "destroy" in destroy.skipped[0].reason


def test_drift_from_the_log_else_from_the_event_type() -> None:
    (from_log,) = deployment_events(
        envelope(type="driftDetection", driftDetected=True), RULES, source="e0"
    ).events
    assert from_log["action"] == "plan" and from_log["drift_detected"] is True
    (detected,) = deployment_events(
        envelope("com.env-zero.drift.detected", type="driftDetection"), RULES, source="e0"
    ).events
    assert detected["drift_detected"] is True
    (undetected,) = deployment_events(
        envelope("com.env0.drift.undetected", type="driftDetection"), RULES, source="e0"
    ).events
    assert undetected["drift_detected"] is False


def test_scheduled_runs_and_the_envelope_time_without_finished_at() -> None:
    (event,) = deployment_events(
        envelope(isScheduledRun=True, finishedAt=None), RULES, source="e0"
    ).events
    assert event["trigger"] == "schedule"
    assert event["finished_at"] == "2024-08-02T18:26:27.905000Z"  # the envelope's `time`


def test_project_name_is_tried_after_the_environment_name() -> None:
    rules = (StackRule(match="NonProd - *", service="np", environment="dev"),)
    (event,) = deployment_events(envelope(), rules, source="e0").events
    assert event["service"] == "np"
    unmatched = deployment_events(envelope(), (StackRule("x", "y", "z"),), source="e0")
    assert unmatched.events == ()
    assert "in workspace 'dev-ec2-0730'" in unmatched.skipped[0].reason
