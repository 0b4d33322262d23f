"""`manage.py import_cloudtrail --source NAME`: AWS's documented CloudTrail records in, mapped by
that cloudtrail source's row, out-of-band changes stored once each (sending the files again
changes nothing), the pipeline's own calls left out."""

from __future__ import annotations

import gzip
import io
import json
import shutil
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from dora.models import OutOfBandChange
from ingest.models import Source

pytestmark = pytest.mark.django_db
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cloudtrail"
MAPPING = {
    "pipeline_roles": ["arn:aws:iam::123456789012:role/RoleToBeAssumed"],
    "accounts": {
        "123456789012": {
            "environment": "production",
            "service": "network",
            "regions": {"us-east-2": "use2"},
        }
    },
}


@pytest.fixture(autouse=True)
def source() -> Source:
    return Source.objects.create(name="cloudtrail-prod", kind="cloudtrail", cloudtrail=MAPPING)


def run(tmp_path: Path, *args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_cloudtrail", "--source", "cloudtrail-prod", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_import_stores_the_writes_once_and_skips_the_rest(tmp_path: Path) -> None:
    packed = tmp_path / "123456789012_CloudTrail_us-east-2_20140306T2125Z_x.json.gz"
    with gzip.open(packed, "wt") as handle:  # as CloudTrail delivers it
        handle.write((FIXTURES / "log_file_examples.json").read_text())
    files = [
        str(packed),
        str(FIXTURES / "derived_assumed_role_stop_instances.json"),  # the pipeline's role
        str(FIXTURES / "iam_get_user_policy.json"),  # a read
    ]

    out, err = run(tmp_path, "--verbosity", "2", *files)
    again, _ = run(tmp_path, *files)

    # 4 + 1 + 1 records: StartInstances, StopInstances, CreateUser by Alice are changes.
    assert out.strip() == (
        "6 records: 3 changes outside the pipeline (3 created, 0 updated, 0 unchanged, "
        "0 rejected), 3 skipped"
    )
    assert again.strip() == (
        "6 records: 3 changes outside the pipeline (0 created, 0 updated, 3 unchanged, "
        "0 rejected), 3 skipped"
    )
    assert "made by the pipeline" in err and "read-only call" in err
    stored = OutOfBandChange.objects.order_by("changed_at")
    assert [(c.what, c.actor, c.target.name, c.source) for c in stored] == [
        ("ec2:StopInstances", "arn:aws:iam::123456789012:user/Alice", "use2", "cloudtrail-prod"),
        ("ec2:StartInstances", "arn:aws:iam::123456789012:user/Alice", "use2", "cloudtrail-prod"),
        ("iam:CreateUser", "arn:aws:iam::123456789012:user/Alice", "use2", "cloudtrail-prod"),
    ]
    assert {c.service.name for c in stored} == {"network"}
    assert {c.environment.name for c in stored} == {"production"}


def test_print_writes_json_lines_and_stores_nothing(tmp_path: Path) -> None:
    plain = tmp_path / "log.json"
    shutil.copy(FIXTURES / "log_file_examples.json", plain)

    out, _ = run(tmp_path, "--print", str(plain))

    lines = [json.loads(line) for line in out.splitlines()]
    assert [e["what"] for e in lines] == [
        "ec2:StartInstances",
        "ec2:StopInstances",
        "iam:CreateUser",
    ]
    assert OutOfBandChange.objects.count() == 0


def test_an_unknown_source_or_a_wrong_stored_mapping_is_refused(source: Source) -> None:
    record = str(FIXTURES / "iam_get_user_policy.json")
    with pytest.raises(CommandError, match="no cloudtrail source named 'elsewhere'"):
        call_command("import_cloudtrail", "--source", "elsewhere", record)
    Source.objects.create(name="github-acme", kind="github", org="acme")
    with pytest.raises(CommandError, match="no cloudtrail source named 'github-acme'"):
        call_command("import_cloudtrail", "--source", "github-acme", record)
    Source.objects.filter(pk=source.pk).update(cloudtrail={"accounts": {}})  # hand-edited

    with pytest.raises(CommandError, match="its mapping is wrong: accounts: required"):
        call_command("import_cloudtrail", "--source", "cloudtrail-prod", record)
    assert OutOfBandChange.objects.count() == 0
