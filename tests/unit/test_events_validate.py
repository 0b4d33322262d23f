"""Event validation (CONTRACT §1): every type accepted, every kind of bad input named clearly."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

import pytest

from dora.intake.events import commit_reverted_sha
from dora.intake.schema import (
    MAX_ID_LENGTH,
    MAX_INT,
    MAX_SOURCE_LENGTH,
    STR_LIMITS,
    EventInvalid,
    event_validate,
    json_items,
)
from dora.json_checks import NotJson, json_loads

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
        # One match over the list joined with commas: a comma inside an item is still refused.
        ({"parents": ["abc1234,def5678"]}, "parents[0]: 'abc1234,def5678' is not a git sha"),
        ({"parents": ["abc1234", ""]}, "parents[1]: must not be empty"),
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
        ({**VALID["incident"], "id": "x" * 481}, "id: longer than 480 characters"),
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


@pytest.mark.parametrize(
    "extra",
    [
        {},  # no source: the default one is added
        {"source": "github"},
        {"source": 7},  # a number stands for its text
        {"message": "café ☕ 😀"},  # escaped, astral characters as surrogate pairs
        {"message": "C:\\udir \\u0000"},  # text that looks like an escape is only text
    ],
)
def test_event_canonical_is_the_sorted_payload_with_its_source(extra: dict) -> None:
    obj = {**VALID["commit"], **extra}
    event = event_validate(obj)
    expected = json.dumps({**obj, "source": event.source}, sort_keys=True, separators=(",", ":"))
    assert event.canonical == expected
    assert event.digest == hashlib.sha256(expected.encode()).hexdigest()


def test_commit_reverted_sha_reads_git_revert_message() -> None:
    message = 'Revert "Add cache"\n\nThis reverts commit 0123456789ABCDEF0123456789abcdef01234567.'
    assert commit_reverted_sha(message) == "0123456789abcdef0123456789abcdef01234567"
    assert commit_reverted_sha("Add cache") == ""


# ---------------------------------------------------------------------------------------------
# Hostile input (issue 13): each is one rejected item naming the field, never a failed batch
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        # Finding 1: a placeholder time far outside the range broke every later derivation.
        ({**VALID["deployment"], "finished_at": "0001-01-01T00:00:00Z"}, "finished_at: "),
        ({**VALID["deployment"], "finished_at": "0001-01-01T00:00:00+01:00"}, "finished_at: "),
        ({**VALID["deployment"], "finished_at": "1969-12-31T23:59:59Z"}, "finished_at: "),
        ({**VALID["deployment"], "finished_at": "9999-12-31T23:59:59Z"}, "finished_at: "),
        ({**VALID["change"], "merged_at": "2262-04-12T00:00:00Z"}, "merged_at: "),
        (
            {**VALID["pipeline_run"], "jobs": [{"name": "b", "started_at": "0001-01-01T00:00Z"}]},
            "jobs[0].started_at: ",
        ),
        # Finding 3: longer than the column.
        ({**VALID["deployment"], "service": "s" * 201}, "service: longer than 200 characters"),
        ({**VALID["deployment"], "target": "t" * 201}, "target: longer than 200 characters"),
        ({**VALID["incident"], "severity": "v" * 41}, "severity: longer than 40 characters"),
        ({**VALID["pipeline_run"], "trigger": "p" * 41}, "trigger: longer than 40 characters"),
        ({**VALID["commit"], "repo": "r" * 301}, "repo: longer than 300 characters"),
        ({**VALID["deployment"], "source": "s" * 101}, "source: longer than 100 characters"),
        ({**VALID["change"], "number": 2**31}, "number: 2147483648 is out of range"),
        ({**VALID["change"], "number": "2147483648"}, "number: 2147483648 is out of range"),
        ({**VALID["change"], "number": "1" * 5000}, "number: "),
        ({**VALID["change"], "number": "²"}, "number: expected an integer, got a string"),
        ({**VALID["change"], "number": "١٢"}, "number: expected an integer, got a string"),
        ({**VALID["deployment"], "service": 10**30}, "service: expected a string"),
        ({**VALID["commit"], "message": "a\x00b"}, "message: a NUL character"),
        ({**VALID["commit"], "extra": {"k": ["\x00"]}}, "extra.k[0]: a NUL character"),
        ({**VALID["commit"], "a\x00": 1}, "the event: a key holds a NUL character"),
        ({**VALID["commit"], "extra": {"\ud800": 1}}, "extra: a key holds a lone surrogate"),
        ({**VALID["deployment"], "version": "v\ud800"}, "version: a lone surrogate"),
        ({**VALID["deployment"], "note": float("nan")}, "note: a number that is not finite"),
        ({**VALID["deployment"], "note": float("inf")}, "note: a number that is not finite"),
        ({**VALID["deployment"], "type": ["deployment"]}, "type: unknown type"),
    ],
)
def test_event_validate_rejects_hostile_values_naming_the_field(obj: object, expected: str) -> None:
    assert _reason(obj).startswith(expected)


def test_event_validate_refuses_deep_nesting_but_not_ordinary_depth() -> None:
    deep: object = "leaf"
    for _ in range(40):
        deep = {"x": deep}
    assert _reason({**VALID["commit"], "extra": deep}).startswith("extra.x.x.x")
    shallow: object = "leaf"
    for _ in range(10):
        shallow = [shallow]
    assert event_validate({**VALID["commit"], "extra": shallow}).raw["extra"] == shallow


def test_event_validate_accepts_the_edges_of_the_ranges() -> None:
    edge = event_validate({**VALID["deployment"], "finished_at": "1970-01-01T00:00:00Z"})
    assert edge.fields["finished_at"] == datetime(1970, 1, 1, tzinfo=UTC)
    later = event_validate(
        {**VALID["deployment"], "finished_at": "2120-06-01T00:00:00Z"},
        now=datetime(2026, 12, 7, tzinfo=UTC),
    )
    assert later.fields["finished_at"].year == 2120
    assert event_validate({**VALID["change"], "number": 2**31 - 1}).fields["number"] == 2**31 - 1
    assert event_validate({**VALID["deployment"], "service": "s" * 200}).fields["service"]
    titled = event_validate({**VALID["change"], "title": "t" * 900})
    assert titled.fields["title"] == "t" * 500  # free text is cut to its column, not refused


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"a": NaN}', "NaN"),
        ('{"a": -Infinity}', "-Infinity"),
        ('{"a": 1e999}', "1e999"),
        ('{"a": ' + "9" * 5000 + "}", "99999"),
    ],
)
def test_json_loads_keeps_unstorable_numbers_for_the_item_to_be_rejected(
    body: str, expected: str
) -> None:
    value = json_loads(body)["a"]
    assert isinstance(value, NotJson) and value.literal.startswith(expected)
    assert _reason({**VALID["commit"], "a": value}).startswith("a: a number that cannot be stored")


def test_json_items_splits_an_array_around_an_item_too_deep_to_parse() -> None:
    deep = "[" * 10_000 + "]" * 10_000
    good = json.dumps(VALID["commit"])
    text = f' [ {good}, {{"type": "commit", "x": {deep}}}, "a,]}}[{{", {good} ] '
    items = json_items(text)
    assert len(items) == 4
    assert items[0] == VALID["commit"] == items[3]
    assert isinstance(items[1], EventInvalid) and "nested deeper" in str(items[1])
    assert items[2] == "a,]}[{"
    single = json_items('{"type": "commit", "x": ' + deep + "}")
    assert len(single) == 1 and isinstance(single[0], EventInvalid)
    with pytest.raises(json.JSONDecodeError):
        json_items("[" + good + ", " + deep)


def test_str_limits_fit_their_record_columns() -> None:
    """Each limit is at most its column's length, so a valid value can always be stored."""
    from dora import models

    columns = {
        ("commit", "repo"): models.Commit.repo,
        ("commit", "author"): models.Commit.author,
        ("change", "repo"): models.Change.repo,
        ("change", "author"): models.Change.author,
        ("change", "base"): models.Change.base,
        ("change", "head"): models.Change.head,
        ("change", "issue"): models.Change.issue,
        ("pipeline_run", "repo"): models.PipelineRun.repo,
        ("pipeline_run", "name"): models.PipelineRun.name,
        ("pipeline_run", "branch"): models.PipelineRun.branch,
        ("pipeline_run", "trigger"): models.PipelineRun.trigger,
        ("deployment", "service"): models.Service.name,
        ("deployment", "environment"): models.Environment.name,
        ("deployment", "target"): models.Target.name,
        ("deployment", "version"): models.Deployment.version,
        ("deployment", "repo"): models.Deployment.repo,
        ("deployment", "config_version"): models.Deployment.config_version,
        ("deployment", "remediates"): models.Deployment.remediates,
        ("deployment", "pipeline_run"): models.Deployment.pipeline_run,
        ("deployment", "approved_by"): models.Deployment.approved_by,
        ("incident", "service"): models.Service.name,
        ("incident", "environment"): models.Environment.name,
        ("incident", "severity"): models.Incident.severity,
        ("automation_run", "service"): models.Service.name,
        ("automation_run", "environment"): models.Environment.name,
        ("automation_run", "target"): models.Target.name,
        ("automation_run", "version"): models.AutomationRun.version,
        ("automation_run", "repo"): models.Deployment.repo,  # kept on an apply's deployment
        ("out_of_band_change", "service"): models.Service.name,
        ("out_of_band_change", "environment"): models.Environment.name,
        ("out_of_band_change", "target"): models.Target.name,
        ("out_of_band_change", "actor"): models.OutOfBandChange.actor,
    }
    limits = {(t, f): n for t, fields in STR_LIMITS.items() for f, n in fields.items()}
    assert set(limits) == set(columns)
    for key, column in columns.items():
        assert limits[key] <= column.field.max_length, key
    longest_type = max(len(t) for t in STR_LIMITS)
    assert MAX_ID_LENGTH + longest_type + 1 <= models.Deployment.external_id.field.max_length
    assert models.RawEvent.source.field.max_length >= MAX_SOURCE_LENGTH
    assert MAX_INT == 2**31 - 1  # Change.number is an IntegerField


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("action", "x" * 500),
        ("finished_at", "9" * 500),
        ("finished_at", "2026-03-05T10:00" + " " * 480),
    ],
)
def test_a_rejection_quotes_at_most_80_characters_of_the_value(field: str, value: str) -> None:
    # A 500-character value is allowed in a string field; quoting it whole made a reason of
    # 1,000 characters (found by test_intake_properties' Hypothesis search).
    reason = _reason({**VALID["automation_run"], field: value})
    assert reason.startswith(f"{field}: {value[:20]!r}"[:-1])
    assert f"({len(value) + 2} characters in all)" in reason and len(reason) < 300
