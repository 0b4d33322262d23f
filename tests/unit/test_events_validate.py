"""Event validation (CONTRACT §1): every type accepted, every kind of bad input named clearly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dora.events import EventInvalid, commit_reverted_sha, event_validate

VALID = {
    "commit": {
        "type": "commit",
        "id": "c-1",
        "repo": "acme/shop",
        "sha": "8F2C1E0AB",
        "authored_at": "2026-03-05T10:00:00+01:00",
        "parents": ["abc1234"],
        "files": ["services/shop/app.py"],
        "message": "Fix checkout",
    },
    "change": {
        "type": "change",
        "id": "acme/shop#12",
        "repo": "acme/shop",
        "number": 12,
        "created_at": "2026-03-05T10:00:00Z",
        "merged_at": "2026-03-06T10:00:00Z",
        "commits": ["abc1234"],
        "labels": ["hotfix"],
    },
    "pipeline_run": {
        "type": "pipeline_run",
        "id": "run-1",
        "repo": "acme/shop",
        "sha": "abc1234",
        "status": "success",
        "started_at": "2026-03-05T10:00:00Z",
        "jobs": [
            {
                "name": "build",
                "started_at": "2026-03-05T10:00:00Z",
                "finished_at": "2026-03-05T10:05:00Z",
                "status": "success",
            }
        ],
    },
    "deployment": {
        "type": "deployment",
        "id": "d-1",
        "service": "shop",
        "environment": "production",
        "target": "eu-west-1",
        "version": "v1.4.2",
        "status": "success",
        "finished_at": "2026-03-05T10:00:00Z",
        "trigger": "automated",
    },
    "incident": {
        "type": "incident",
        "id": "inc-1",
        "service": "shop",
        "opened_at": "2026-03-05T10:00:00Z",
        "caused_by": {"change": "acme/shop#12"},
        "cause": "change",
    },
    "automation_run": {
        "type": "automation_run",
        "id": "tf-1",
        "service": "network",
        "environment": "staging",
        "action": "apply",
        "status": "failure",
        "finished_at": "2026-03-05T10:00:00Z",
        "trigger": "schedule",
        "drift_detected": True,
    },
}


@pytest.mark.parametrize("etype", sorted(VALID))
def test_event_validate_accepts_every_type(etype: str) -> None:
    event = event_validate(VALID[etype])
    assert (event.source, event.type) == ("api", etype)
    assert event.key == ("api", etype, VALID[etype]["id"])


def test_event_validate_normalizes_times_to_utc_and_shas_to_lowercase() -> None:
    event = event_validate(VALID["commit"])
    assert event.fields["authored_at"] == datetime(2026, 3, 5, 9, 0, tzinfo=UTC)
    assert event.fields["sha"] == "8f2c1e0ab"


def test_event_validate_keeps_source_in_the_key() -> None:
    event = event_validate({**VALID["deployment"], "source": "github"})
    assert event.key == ("github", "deployment", "d-1")


def _reason(obj: object) -> str:
    with pytest.raises(EventInvalid) as caught:
        event_validate(obj)
    return str(caught.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"authored_at": "2026-03-05T10:00:00"},
            "authored_at: '2026-03-05T10:00:00' has no time zone",
        ),
        ({"authored_at": "yesterday"}, "authored_at: 'yesterday' is not an ISO 8601 timestamp"),
        (
            {"authored_at": 1700000000},
            "authored_at: expected an ISO 8601 timestamp string, got a number",
        ),
        ({"sha": "not-a-sha"}, "sha: 'not-a-sha' is not a git sha"),
        ({"parents": "abc1234"}, "parents: expected a list, got a string"),
        ({"parents": ["abc1234", 7]}, "parents[1]: expected a git sha string, got a number"),
        ({"parents": ["abc1234", "abc1234\n"]}, "parents[1]: 'abc1234\\n' is not a git sha"),
        ({"sha": "abc1234\n"}, "sha: 'abc1234\\n' is not a git sha"),
        ({"files": ["ok.py", "  "]}, "files[1]: must not be empty"),
        ({"files": ["ok.py", "x" * 1001]}, "files[1]: longer than 1000 characters"),
        ({"repo": ["a"]}, "repo: expected a string, got a list"),
        ({"repo": None}, "repo: required for a commit event"),
        ({"repo": "  "}, "repo: must not be empty"),
        ({"message": 3}, "message: expected a string, got a number"),
    ],
)
def test_event_validate_names_the_bad_commit_field(change: dict, expected: str) -> None:
    assert _reason({**VALID["commit"], **change}).startswith(expected)


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        ([], "an event must be a JSON object, got a list"),
        ("x", "an event must be a JSON object, got a string"),
        ({"id": "1"}, "type: required"),
        ({"type": "deploy", "id": "1"}, "type: unknown type 'deploy'"),
        ({"type": "commit"}, "id: required"),
        ({"type": "commit", "id": True}, "id: expected a string, got a boolean"),
        ({**VALID["change"], "number": "twelve"}, "number: expected an integer, got a string"),
        ({**VALID["change"], "number": -1}, "number: must be zero or positive"),
        ({**VALID["change"], "labels": "bug"}, "labels: expected a list, got a string"),
        ({**VALID["pipeline_run"], "status": "ok"}, "status: 'ok' is not one of success"),
        ({**VALID["pipeline_run"], "jobs": [{"started_at": "x"}]}, "jobs[0].name: required"),
        (
            {**VALID["pipeline_run"], "jobs": [{"name": "b", "started_at": "2026-01-01T00:00"}]},
            "jobs[0].started_at: '2026-01-01T00:00' has no time zone",
        ),
        (
            {k: v for k, v in VALID["deployment"].items() if k != "version"},
            "sha or version: a deployment needs at least one of them",
        ),
        (
            {k: v for k, v in VALID["deployment"].items() if k != "finished_at"},
            "finished_at: required for a deployment with status success",
        ),
        ({**VALID["deployment"], "trigger": "schedule"}, "trigger: 'schedule' is not one of"),
        ({**VALID["automation_run"], "trigger": "automated"}, "trigger: 'automated' is not one of"),
        ({**VALID["automation_run"], "action": "destroy"}, "action: 'destroy' is not one of"),
        (
            {**VALID["automation_run"], "drift_detected": "yes"},
            "drift_detected: expected true or false",
        ),
        ({**VALID["incident"], "caused_by": "d-1"}, "caused_by: expected an object"),
        (
            {**VALID["incident"], "caused_by": {"deployment": "d", "sha": "abcd"}},
            "caused_by: give exactly one of",
        ),
        (
            {**VALID["incident"], "caused_by": {"change": "12"}},
            "caused_by.change: '12' should look",
        ),
        ({**VALID["incident"], "cause": "aliens"}, "cause: 'aliens' is not one of"),
        ({**VALID["incident"], "id": "x" * 501}, "id: longer than 500 characters"),
    ],
)
def test_event_validate_rejects_with_a_message_naming_the_field(obj: object, expected: str) -> None:
    assert _reason(obj).startswith(expected)


@pytest.mark.parametrize(
    ("etype", "name", "value", "expected"),
    [
        ("change", "issue_created_at", "2026-03-05T10:00:00", "has no time zone"),
        ("change", "issue_created_at", "yesterday", "is not an ISO 8601 timestamp"),
        ("change", "issue_created_at", 1772704800, "expected an ISO 8601 timestamp string"),
        ("change", "issue", ["SHOP-7"], "expected a string, got a list"),
        ("deployment", "approved_at", "2026-03-05 10:00", "has no time zone"),
        ("deployment", "approved_at", "2026-13-05T10:00:00Z", "is not an ISO 8601 timestamp"),
        ("deployment", "approved_by", {"name": "ann"}, "expected a string, got an object"),
    ],
)
def test_event_validate_rejects_bad_issue_and_approval_fields(
    etype: str, name: str, value: object, expected: str
) -> None:
    reason = _reason({**VALID[etype], name: value})
    assert reason.startswith(f"{name}: ") and expected in reason


def test_event_validate_reads_issue_and_approval_fields_in_utc() -> None:
    change = event_validate(
        {**VALID["change"], "issue": "SHOP-7", "issue_created_at": "2026-03-02T10:00:00+01:00"}
    )
    assert change.fields["issue"] == "SHOP-7"
    assert change.fields["issue_created_at"] == datetime(2026, 3, 2, 9, tzinfo=UTC)
    deployment = event_validate(
        {**VALID["deployment"], "approved_at": "2026-03-05T09:00:00Z", "approved_by": "ann"}
    )
    assert deployment.fields["approved_at"] == datetime(2026, 3, 5, 9, tzinfo=UTC)
    assert deployment.fields["approved_by"] == "ann"


def test_event_validate_allows_running_deployment_without_finish() -> None:
    running = {k: v for k, v in VALID["deployment"].items() if k != "finished_at"}
    assert event_validate({**running, "status": "running"}).fields["status"] == "running"


def test_event_validate_treats_empty_optional_strings_as_absent() -> None:
    event = event_validate({**VALID["deployment"], "config_version": "", "target": ""})
    assert "config_version" not in event.fields and "target" not in event.fields


def test_event_digest_ignores_key_order_but_not_values() -> None:
    a = event_validate(VALID["deployment"])
    b = event_validate(dict(reversed(list(VALID["deployment"].items()))))
    c = event_validate({**VALID["deployment"], "status": "failure"})
    assert a.digest == b.digest != c.digest


def test_commit_reverted_sha_reads_git_revert_message() -> None:
    message = 'Revert "Add cache"\n\nThis reverts commit 0123456789ABCDEF0123456789abcdef01234567.'
    assert commit_reverted_sha(message) == "0123456789abcdef0123456789abcdef01234567"
    assert commit_reverted_sha("Add cache") == ""
