"""docs/PIPELINES.md's AWS CodePipeline snippets: the CodeBuild gate step, the EventBridge Lambda.

The buildspec's command runs with bash and curl against a live server; the Lambda's handler runs
in-process with AWS's documented events (tests/fixtures/codepipeline/), pointed at the live server
and, for GetPipelineExecution, at a local replay of the API reference's sample answer.
"""

from __future__ import annotations

import json
import re
import shutil
import threading
import types
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from dora.models import Deployment, GateDecision
from tests.pipeline_snippets import (
    FIXTURES,
    OTHER_SHA,
    SHA,
    blocked,
    deployment,
    estate_with_tokens,
    ok,
    sh,
    snippet,
)

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("curl"), reason="needs curl"),
]


@pytest.fixture
def server(live_server: Any) -> dict[str, str]:
    return estate_with_tokens(live_server.url)


def test_eventbridge_rule_parses_and_matches_the_states_the_lambda_maps() -> None:
    rule = json.loads(snippet("codepipeline-rule"))
    assert rule["source"] == ["aws.codepipeline"]
    assert rule["detail-type"] == ["CodePipeline Pipeline Execution State Change"]
    assert set(rule["detail"]["state"]) == set(lambda_module().STATUS)


def test_codebuild_gate_step_passes_a_deployed_sha_and_fails_another(
    server: dict[str, str],
) -> None:
    buildspec = yaml.safe_load(snippet("codebuild-buildspec"))
    assert buildspec["version"] == 0.2
    assert set(buildspec["env"]["secrets-manager"]) == {"DORA_GATE_TOKEN"}
    (script,) = buildspec["phases"]["build"]["commands"]
    report = {
        "DORA_URL": server["url"],
        "DORA_INGEST_TOKEN": server["ingest"],
        "SERVICE": "checkout",
        "ENVIRONMENT": "staging",
        "TARGET": "s-a",
        "RUN_ID": "7",
        "VERSION": "v2.0.0",
        "GIT_SHA": SHA,
        "STATUS": "success",
        "RUN_URL": "https://ci.example.com/runs/7",
    }
    ok(sh(snippet("deployment-body"), report))
    env = {
        **buildspec["env"]["variables"],
        "DORA_URL": server["url"],
        "DORA_GATE_TOKEN": server["gate"],
        "CODEBUILD_BUILD_URL": "https://eu-west-1.console.aws.amazon.com/codesuite/codebuild/123456789012/projects/checkout-gate/build/checkout-gate%3A1",
    }
    shell = buildspec["env"]["shell"]
    allowed = ok(sh(script, {**env, "CODEBUILD_RESOLVED_SOURCE_VERSION": SHA}, shell))
    blocked(sh(script, {**env, "CODEBUILD_RESOLVED_SOURCE_VERSION": OTHER_SHA}, shell), OTHER_SHA)

    assert "pass  version_verified_in_source: live in staging on 1/1 targets" in allowed
    assert dict(GateDecision.objects.values_list("version", "allowed")) == {
        SHA: True,
        OTHER_SHA: False,
    }
    assert set(GateDecision.objects.values_list("pipeline_run", flat=True)) == {
        env["CODEBUILD_BUILD_URL"]
    }


def lambda_module() -> types.ModuleType:
    module = types.ModuleType("dora_codepipeline_lambda")
    exec(  # noqa: S102 - our own documentation's Lambda, in a test
        compile(snippet("codepipeline-lambda"), "PIPELINES.md#codepipeline-lambda", "exec"),
        module.__dict__,
    )  # noqa: S102
    return module


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


PIPELINES = {
    "BuildFromTag": {"service": "checkout", "environment": "production", "target": "p-a"},
    "myPipeline": {"service": "checkout", "environment": "staging", "target": "s-a"},
}


@pytest.fixture
def lambda_env(server: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.setenv("DORA_URL", server["url"] + "/")
    monkeypatch.setenv("DORA_INGEST_TOKEN", server["ingest"])
    monkeypatch.setenv("DORA_PIPELINES", json.dumps(PIPELINES))
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(name, raising=False)
    return server


def test_lambda_records_a_deployment_from_the_git_tag_trigger(lambda_env: dict[str, str]) -> None:
    answer = lambda_module().handler(fixture("pipeline-succeeded-git-tags.json"), None)

    assert answer["counts"] == {"created": 1, "updated": 0, "unchanged": 0, "rejected": 0}
    row = deployment("production")
    assert (row.service.name, row.target.name, row.status) == ("checkout", "p-a", "success")
    # The documented commit-id is a placeholder, not a sha: the tag is the version, no sha.
    assert (row.version, row.sha) == ("gitlab-v4.2.1", "")
    assert row.finished_at == datetime(2023, 10, 26, 13, 50, 53, tzinfo=UTC)
    assert row.started_at == datetime(2023, 10, 26, 13, 49, 39, 208000, tzinfo=UTC)
    assert (
        row.external_id
        == "deployment:codepipeline:BuildFromTag:e17b5773-cc0d-4db2-9ad7-594c73888de8"
    )
    assert row.pipeline_run == (
        "https://eu-central-1.console.aws.amazon.com/codesuite/codepipeline/pipelines/BuildFromTag"
        "/executions/e17b5773-cc0d-4db2-9ad7-594c73888de8/timeline"
    )


class GetPipelineExecution(BaseHTTPRequestHandler):
    """Replays the API reference's sample answer; keeps what it was asked."""

    asked: list[tuple[dict[str, str], dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).asked.append(({k.lower(): v for k, v in self.headers.items()}, body))
        answer = (FIXTURES / "get-pipeline-execution.json").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


def test_lambda_looks_the_revision_up_when_the_event_has_none(
    lambda_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    GetPipelineExecution.asked = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), GetPipelineExecution)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    monkeypatch.setenv("CODEPIPELINE_ENDPOINT", f"http://127.0.0.1:{httpd.server_port}/")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "session-token-example")
    try:
        lambda_module().handler(fixture("pipeline-failed.json"), None)
    finally:
        httpd.shutdown()
        httpd.server_close()

    ((headers, body),) = GetPipelineExecution.asked
    assert body == {
        "pipelineName": "myPipeline",
        "pipelineExecutionId": "12345678-1234-5678-abcd-12345678abcd",
    }
    assert headers["x-amz-target"] == "CodePipeline_20150709.GetPipelineExecution"
    assert headers["host"] == "codepipeline.us-west-2.amazonaws.com"
    assert headers["x-amz-security-token"] == "session-token-example"
    assert re.fullmatch(
        r"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/\d{8}/us-west-2/codepipeline/aws4_request, "
        r"SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, "
        r"Signature=[0-9a-f]{64}",
        headers["authorization"],
    )
    row = deployment("staging")
    assert (row.target.name, row.status, row.finished_at) == (
        "s-a",
        "failure",
        datetime(2020, 1, 31, 18, 55, 43, tzinfo=UTC),
    )
    # The sample's revisionId is not a hex sha, so it is sent as the version only.
    assert (row.version, row.sha) == ("7636d59f3c461cEXAMPLE8417dbc6371", "")


def test_lambda_skips_an_execution_that_has_not_ended(lambda_env: dict[str, str]) -> None:
    assert lambda_module().handler(fixture("pipeline-started.json"), None) == {"skipped": "STARTED"}
    assert not Deployment.objects.exists()
