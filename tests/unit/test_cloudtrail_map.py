"""ingest.sources.cloudtrail: AWS's documented CloudTrail records as out_of_band_change events
(tests/fixtures/cloudtrail/README.md says where each record comes from)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from dora.config import CloudTrailAccountSpec, SourceSpec
from dora.intake.schema import event_validate
from ingest.sources.cloudtrail.config import (
    CloudTrailConfigError,
    cloudtrail_mapping,
    cloudtrail_problems,
    spec_cloudtrail,
)
from ingest.sources.cloudtrail.mapper import record_key, record_map, records_map, records_of

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cloudtrail"
CONFIG = {
    "pipeline_roles": ["arn:aws:iam::123456789012:role/deploy-*"],
    "accounts": {
        "123456789012": {
            "environment": "production",
            "service": "network",
            "regions": {"us-east-2": "use2"},
        },
        "111122223333": {"environment": "staging", "service": "identity"},
    },
}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def mapping(**changes: Any):
    return cloudtrail_mapping({**CONFIG, **changes}, "cloudtrail-prod")


def test_log_file_examples_map_alices_writes_and_skip_the_failed_call() -> None:
    records = records_of(load("log_file_examples.json"))

    mapped = records_map(records, mapping())

    assert [(e["what"], e["changed_at"]) for e in mapped.events] == [
        ("ec2:StartInstances", "2014-03-06T21:22:54Z"),
        ("ec2:StopInstances", "2014-03-06T21:01:59Z"),
        ("iam:CreateUser", "2014-03-24T21:11:59Z"),
    ]
    first = mapped.events[0]
    assert {k: v for k, v in first.items() if k != "id"} == {
        "type": "out_of_band_change",
        "source": "cloudtrail-prod",
        "service": "network",
        "environment": "production",
        "target": "use2",  # us-east-2 through the account's regions
        "actor": "arn:aws:iam::123456789012:user/Alice",
        "what": "ec2:StartInstances",
        "changed_at": "2014-03-06T21:22:54Z",
    }
    assert [s.reason for s in mapped.skipped] == [
        "the call failed (TrailNotFoundException): it changed nothing"
    ]
    assert mapped.skipped[0].incident == "UpdateTrail b7d4398e-b2f0-4faa-9c76-e2d316a8d67f"
    for event in mapped.events:  # each one is a valid CONTRACT §1 event
        assert event_validate(event).type == "out_of_band_change"


def test_records_without_an_event_id_get_a_stable_id_of_their_own() -> None:
    record = records_of(load("log_file_examples.json"))[0]

    first, again = record_key(record), record_key(copy.deepcopy(record))
    other = record_key(records_of(load("log_file_examples.json"))[1])

    assert first == again and first.startswith("sha256:") and len(first) == 7 + 32
    assert first != other


def test_a_read_without_read_only_is_told_by_its_verb() -> None:
    # GetUserPolicy (event version 1.05, no readOnly field); its account is not mapped either,
    # but the read is what skips it.
    mapped = record_map(load("iam_get_user_policy.json"), mapping())

    assert mapped.events == ()
    assert [s.reason for s in mapped.skipped] == ["read-only call: it changed nothing"]


def test_read_only_true_is_skipped_and_false_is_a_write_whatever_the_verb() -> None:
    record = load("derived_assumed_role_stop_instances.json")
    reading = {**record, "readOnly": True}
    getter = {**record, "eventName": "GetObjectLockConfiguration", "readOnly": False}

    assert record_map(reading, mapping()).skipped[0].reason == "read-only call: it changed nothing"
    assert record_map(getter, mapping()).events[0]["what"] == "ec2:GetObjectLockConfiguration"


def test_assumed_role_session_is_named_by_its_session_arn_unless_it_is_the_pipeline() -> None:
    record = load("derived_assumed_role_stop_instances.json")

    by_hand = record_map(record, mapping())
    pipeline = record_map(
        record, mapping(pipeline_roles=["arn:aws:iam::123456789012:role/RoleToBe*"])
    )
    by_session = record_map(
        record,
        mapping(pipeline_roles=["arn:aws:sts::123456789012:assumed-role/RoleToBeAssumed/*"]),
    )

    assert by_hand.events[0]["actor"] == (
        "arn:aws:sts::123456789012:assumed-role/RoleToBeAssumed/MySessionName"
    )
    assert by_hand.events[0]["id"] == "derived-0000-4000-8000-assumedrole01"
    assert pipeline.events == () and pipeline.skipped[0].reason == (
        "made by the pipeline (principal matches 'arn:aws:iam::123456789012:role/RoleToBe*')"
    )
    assert by_session.events == ()


def test_pipeline_patterns_are_case_sensitive_and_whole() -> None:
    record = load("derived_assumed_role_stop_instances.json")

    assert record_map(record, mapping(pipeline_roles=["*roletobeassumed*"])).events
    assert record_map(record, mapping(pipeline_roles=["arn:aws:iam::123456789012:role"])).events


def test_sts_calls_are_ignored_and_resources_are_kept_when_they_are_not() -> None:
    record = load("sts_assume_role_cross_account.json")

    ignored = record_map(record, mapping())
    kept = record_map(record, mapping(ignored_sources=[]))

    assert ignored.skipped[0].reason == "sts.amazonaws.com calls are ignored (ignored_sources)"
    # recipientAccountId 111122223333 (staging), not the caller's 777788889999; no regions there.
    assert kept.events[0] == {
        "type": "out_of_band_change",
        "id": "dEXAMPLE-ac7f-466c-a608-4ac8dEXAMPLE",
        "source": "cloudtrail-prod",
        "service": "identity",
        "environment": "staging",
        "changed_at": "2014-07-18T15:07:39Z",
        "actor": "arn:aws:iam::777788889999:user/JohnDoe",
        "what": "sts:AssumeRole",
        "resources": ["arn:aws:iam::111122223333:role/EC2-dev"],
    }


def test_unmapped_accounts_service_events_and_aws_services_are_skipped() -> None:
    record = load("derived_assumed_role_stop_instances.json")
    elsewhere = {**record, "recipientAccountId": "999999999999"}
    service_event = {**record, "eventType": "AwsServiceEvent"}
    by_aws = {**record, "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}}

    assert [
        record_map(r, mapping()).skipped[0].reason for r in (elsewhere, service_event, by_aws)
    ] == [
        "account 999999999999 is not mapped to an environment (accounts)",
        "eventType AwsServiceEvent is not an API call",
        "made by an AWS service, not by a person or a pipeline",
    ]


def test_records_of_reads_log_files_eventbridge_events_and_lists() -> None:
    record = load("derived_assumed_role_stop_instances.json")
    eventbridge = {
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "detail": record,
    }

    assert records_of(eventbridge) == [record]
    assert records_of([record, {"Records": [record, record]}]) == [record, record, record]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"accounts": {}}, "accounts: required"),
        ({**CONFIG, "roles": []}, "roles: unknown key"),
        ({**CONFIG, "accounts": {"12345": {"environment": "p", "service": "s"}}}, "12 digits"),
        ({**CONFIG, "accounts": {"123456789012": {"service": "s"}}}, "environment: expected"),
        ({**CONFIG, "pipeline_roles": "arn:*"}, "pipeline_roles: expected a list"),
    ],
)
def test_config_mistakes_name_the_key(config: dict[str, Any], message: str) -> None:
    with pytest.raises(CloudTrailConfigError, match=message):
        cloudtrail_mapping(config, "cloudtrail-prod")


def test_problems_name_the_key_under_where_and_spec_values_round_trip() -> None:
    assert cloudtrail_problems(CONFIG) == []
    assert cloudtrail_problems({**CONFIG, "source": "x"}, "sources.ct") == [
        "sources.ct.source: unknown key (allowed: pipeline_roles, accounts, ignored_sources)"
    ]
    spec = SourceSpec(
        name="ct",
        kind="cloudtrail",
        pipeline_roles=("arn:aws:iam::123456789012:role/deploy-*",),
        accounts=(
            CloudTrailAccountSpec(
                "123456789012", "production", "network", (("us-east-2", "use2"),)
            ),
            CloudTrailAccountSpec("111122223333", "staging", "identity"),
        ),
    )
    # ignored_sources left out of the file: not stored, the mapper's default applies
    assert spec_cloudtrail(spec) == CONFIG
    assert cloudtrail_mapping(spec_cloudtrail(spec), "ct").ignored_sources == (
        "sts.amazonaws.com",
        "signin.amazonaws.com",
    )
    given = SourceSpec(name="ct", kind="cloudtrail", ignored_sources=())
    assert spec_cloudtrail(given) == {"pipeline_roles": [], "accounts": {}, "ignored_sources": []}
