"""Spacelift mapper, field by field on the documented finished tracked run
(tests/fixtures/spacelift: run 01EF9PFP... of stack spacelift-demo, FINISHED at 1596979684 =
2020-08-09T13:28:04Z, created 1596979665 = 13:27:45Z, commit 0ee3a3b7..., empty delta)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ingest.sources.spacelift.mapper import is_run_event, run_events, state_version, unix_time
from ingest.sources.stacks import StackRule
from tests.infra_fixtures import infra_fixture

RULES = (StackRule(match="spacelift-*", service="demo", environment="production", target="eu"),)


def run(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(infra_fixture("spacelift", "run_tracked_finished.json"))
    for key, value in changes.items():
        if key.startswith("run_"):
            body["run"][key.removeprefix("run_")] = value
        else:
            body[key] = value
    return body


def test_unix_times() -> None:
    assert unix_time(1596979684) == "2020-08-09T13:28:04Z"
    assert unix_time(None) is None and unix_time("1596979684") is None and unix_time(True) is None


def test_only_run_state_changes_are_run_events() -> None:
    assert is_run_event(run()) and state_version(run()) == 4
    assert not is_run_event(infra_fixture("spacelift", "internal_error.json"))
    assert not is_run_event(run(stateVersion="4")) and state_version(run(stateVersion=True)) is None
    assert (
        state_version(run(stateVersion=-1)) is None
        and state_version(run(stateVersion=2**63)) is None
    )
    assert state_version(run(stateVersion=2**63 - 1)) == 2**63 - 1


def test_finished_tracked_run_is_a_successful_apply() -> None:
    mapped = run_events(run(), RULES, source="sl")
    assert mapped.skipped == ()
    assert mapped.events == (
        {
            "type": "automation_run",
            "source": "sl",
            "id": "01EF9PFPNFFM2MQXTJKHK1B869",
            "service": "demo",
            "environment": "production",
            "target": "eu",
            "action": "apply",
            "status": "success",
            "finished_at": "2020-08-09T13:28:04Z",
            "started_at": "2020-08-09T13:27:45Z",
            "updated_at": "2020-08-09T13:28:04Z",
            "version": "0ee3a3b7266daf5a1d44a193a0f48ce995fa75eb",
        },
    )


@pytest.mark.parametrize(
    ("state", "status"),
    [
        ("FAILED", "failure"),
        ("CANCELED", "cancelled"),
        ("DISCARDED", "cancelled"),
        ("STOPPED", "cancelled"),
    ],
)
def test_final_states(state: str, status: str) -> None:
    (event,) = run_events(run(state=state), RULES, source="sl").events
    assert event["status"] == status


def test_a_state_that_is_not_final_is_skipped() -> None:
    mapped = run_events(run(state="APPLYING"), RULES, source="sl")
    assert mapped.events == ()
    assert "state 'APPLYING' is not final" in mapped.skipped[0].reason


def test_proposed_runs_are_plans_and_drift_detection_sets_drift() -> None:
    (plan,) = run_events(run(run_type="PROPOSED"), RULES, source="sl").events
    assert plan["action"] == "plan" and "drift_detected" not in plan and "trigger" not in plan
    quiet = run(run_type="PROPOSED", run_driftDetection=True)
    (checked,) = run_events(quiet, RULES, source="sl").events
    assert checked["drift_detected"] is False and checked["trigger"] == "schedule"
    drifted = run(
        run_type="PROPOSED",
        run_driftDetection=True,
        run_delta={"added": 0, "changed": 1, "deleted": 0, "resources": 1},
    )
    (found,) = run_events(drifted, RULES, source="sl").events
    assert found["drift_detected"] is True and found["action"] == "plan"


def test_stack_name_is_tried_after_its_id_and_unmapped_stacks_are_skipped() -> None:
    by_name = (StackRule(match="Spacelift demo", service="d", environment="dev"),)
    (event,) = run_events(run(), by_name, source="sl").events
    assert event["service"] == "d"
    with_workspace = (StackRule(match="*", workspace="*", service="d", environment="dev"),)
    mapped = run_events(run(), with_workspace, source="sl")
    assert mapped.events == ()
    assert "'spacelift-demo' / 'Spacelift demo'" in mapped.skipped[0].reason


def test_another_run_type_is_skipped() -> None:
    mapped = run_events(run(run_type="TASK"), RULES, source="sl")
    assert mapped.events == () and "run type 'TASK'" in mapped.skipped[0].reason
