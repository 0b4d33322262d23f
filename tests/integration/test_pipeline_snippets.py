"""docs/PIPELINES.md's Jenkins, GoCD and Concourse snippets, run as written against a live server.

Each snippet is read from the block after its `<!-- snippet: NAME -->` marker
(tests/pipeline_snippets.py). Its shell runs with `sh -e` (what Jenkins' `sh` step, a GoCD `exec`
of `sh -ec` and a Concourse task's `run` do) and curl, with the variables that server provides.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import textwrap
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from dora.models import AutomationRun, GateDecision
from tests.pipeline_snippets import (
    BODIES,
    OTHER_SHA,
    ROOT,
    SHA,
    blocked,
    body_of,
    deployment,
    estate_with_tokens,
    lines,
    ok,
    run,
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


def test_gate_body_is_the_readme_github_step() -> None:
    readme = (ROOT / "README.md").read_text()
    (block,) = [
        b
        for b in re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL)
        if "name: Promotion gate" in b
    ]
    (step,) = yaml.safe_load(block)
    assert BODIES["gate"] == lines(step["run"])
    assert "\\" not in "".join(BODIES.values())  # Groovy ''' strings would eat backslashes


def test_yaml_blocks_parse() -> None:
    for name in (
        "gocd",
        "concourse-pipeline",
        "concourse-gate-task",
        "concourse-deployment-task",
        "codebuild-buildspec",
    ):
        assert isinstance(yaml.safe_load(snippet(name)), dict), name


# -- Jenkins --------------------------------------------------------------------------------


def jenkins() -> tuple[dict[str, str], str, dict[str, tuple[list[str], str]]]:
    """The pipeline's environment {}, the gate's sh body, and the helpers' (parameters, sh body)."""
    pipeline = snippet("jenkins")
    scripts = [textwrap.dedent(s) for s in re.findall(r"sh '''\n(.*?)'''", pipeline, re.DOTALL)]
    (env_block,) = re.findall(
        r"pipeline \{\n  agent any\n  environment \{\n(.*?)\n  \}", pipeline, re.DOTALL
    )
    environment = dict(re.findall(r"(\w+) = '([^']*)'", env_block))
    helpers = {}
    for name, params in re.findall(r"def (\w+)\(([^)]*)\)", pipeline):
        (script,) = [
            s
            for s in scripts
            if body_of(s) == {"doraDeployment": "deployment"}.get(name, "automation")
        ]
        names = [p.split()[1] for p in params.split(", ")]
        for p in names:  # each parameter reaches the shell through withEnv, as its upper-case name
            assert f'"{p.upper()}=${{{p}}}"' in pipeline, p
        helpers[name] = (names, script)
    (gate,) = [s for s in scripts if body_of(s) == "gate"]
    return environment, gate, helpers


def jenkins_post(
    helpers: dict[str, tuple[list[str], str]], call: str
) -> tuple[str, dict[str, str]]:
    """A `post` step's call (doraDeployment('staging', 's-a', 'success')): its sh and withEnv."""
    name, args = re.fullmatch(r"(\w+)\((.*)\)", call).groups()  # type: ignore[union-attr]
    assert f"{{ {call} }}" in snippet("jenkins"), f"no post step calls {call}"
    params, script = helpers[name]
    values = re.findall(r"'([^']*)'", args)
    return script, {p.upper(): v for p, v in zip(params, values, strict=True)}


def test_jenkins_pipeline_reports_runs_and_deployments_and_calls_the_gate(
    server: dict[str, str],
) -> None:
    environment, gate, helpers = jenkins()
    assert set(environment) == {"DORA_URL", "SERVICE"}
    env = {**environment, "DORA_URL": server["url"]}
    provided = {  # what Jenkins gives a tag build of job checkout, build 11
        "GIT_COMMIT": SHA,
        "TAG_NAME": "v2.0.0",
        "BUILD_URL": "https://jenkins.example.com/job/checkout/job/v2.0.0/11/",
        "BUILD_TAG": "jenkins-checkout-v2.0.0-11",
        "JOB_NAME": "checkout/v2.0.0",
        "BUILD_NUMBER": "11",
    }
    ingest = {**env, **provided, "DORA_INGEST_TOKEN": server["ingest"]}

    script, with_env = jenkins_post(
        helpers, "doraAutomationRun('network', 'staging', 's-a', 'success')"
    )
    ok(sh(script, {**ingest, **with_env}))
    script, with_env = jenkins_post(helpers, "doraDeployment('staging', 's-a', 'success')")
    ok(sh(script, {**ingest, **with_env}))
    allowed = ok(sh(gate, {**env, **provided, "DORA_GATE_TOKEN": server["gate"]}))
    blocked(
        sh(gate, {**env, **provided, "TAG_NAME": "v9.9.9", "DORA_GATE_TOKEN": server["gate"]}),
        "v9.9.9",
    )
    script, with_env = jenkins_post(helpers, "doraDeployment('production', 'p-a', 'failure')")
    ok(sh(script, {**ingest, **with_env}))

    assert allowed.startswith("decision ") and ": allowed\n" in allowed
    run_row = AutomationRun.objects.select_related("service", "target").get()
    assert (run_row.service.name, run_row.target.name, run_row.action, run_row.status) == (
        "network",
        "s-a",
        "apply",
        "success",
    )
    assert (run_row.version, run_row.trigger, run_row.external_id) == (
        SHA,
        "change",
        "automation_run:network-staging-s-a-jenkins-checkout-v2.0.0-11",
    )
    staging = deployment("staging")
    assert (staging.service.name, staging.target.name, staging.version, staging.sha) == (
        "checkout",
        "s-a",
        "v2.0.0",
        SHA,
    )
    assert (staging.status, staging.pipeline_run) == ("success", provided["BUILD_URL"])
    assert staging.external_id == "deployment:checkout-staging-s-a-jenkins-checkout-v2.0.0-11"
    assert deployment("production").status == "failure"
    decisions = dict(GateDecision.objects.values_list("version", "allowed"))
    assert decisions == {"v2.0.0": True, "v9.9.9": False}
    assert set(GateDecision.objects.values_list("pipeline_run", flat=True)) == {
        provided["BUILD_URL"]
    }


def test_jenkins_branch_build_uses_the_commit_as_version(server: dict[str, str]) -> None:
    environment, gate, helpers = jenkins()
    provided = {
        "GIT_COMMIT": SHA,
        "BUILD_URL": "https://jenkins.example.com/job/checkout/job/main/3/",
        "BUILD_TAG": "jenkins-checkout-main-3",
    }
    env = {**environment, "DORA_URL": server["url"], **provided}
    script, with_env = jenkins_post(helpers, "doraDeployment('staging', 's-a', 'success')")
    ok(sh(script, {**env, **with_env, "DORA_INGEST_TOKEN": server["ingest"]}))
    ok(sh(gate, {**env, "DORA_GATE_TOKEN": server["gate"]}))

    assert deployment("staging").version == SHA
    assert GateDecision.objects.get().version == SHA


# -- GoCD -----------------------------------------------------------------------------------


def gocd_stage(stage: str) -> tuple[dict[str, Any], dict[str, Any]]:
    pipeline = yaml.safe_load(snippet("gocd"))["pipelines"]["checkout"]
    (found,) = [s[stage] for s in pipeline["stages"] if stage in s]
    return pipeline, found


def gocd_run(
    server: dict[str, str], stage: str, run_if: str, counter: int
) -> list[subprocess.CompletedProcess[str]]:
    """Run the stage's `sh` exec tasks that GoCD runs when the tasks before them passed/failed."""
    pipeline, found = gocd_stage(stage)
    secrets = {"DORA_INGEST_TOKEN": server["ingest"], "DORA_GATE_TOKEN": server["gate"]}
    env = dict(pipeline["environment_variables"])
    for name, value in secrets.items():
        assert re.fullmatch(r"\{\{SECRET:\[dora\]\[\w+\]\}\}", env[name]), env[name]
        env[name] = value
    env["DORA_URL"] = server["url"]
    results = []
    for job_name, job in found["jobs"].items():
        provided = {  # what GoCD gives every task (a material named `source`)
            "GO_SERVER_URL": "https://gocd.example.com/go/",
            "GO_PIPELINE_NAME": "checkout",
            "GO_PIPELINE_COUNTER": str(counter),
            "GO_PIPELINE_LABEL": pipeline["label_template"].replace("${COUNT}", str(counter)),
            "GO_STAGE_NAME": stage,
            "GO_STAGE_COUNTER": "1",
            "GO_JOB_NAME": job_name,
            "GO_TRIGGER_USER": "changes",
            "GO_REVISION_SOURCE": SHA,
        }
        for task in job["tasks"]:
            exec_ = task["exec"]
            if exec_["command"] != "sh" or exec_.get("run_if", "passed") != run_if:
                continue
            script = exec_["arguments"][-1]
            body_of(script)
            results.append(
                run(
                    ["sh", *exec_["arguments"]],
                    {**env, **job.get("environment_variables", {}), **provided},
                )
            )
    assert results, f"no sh task runs in {stage} when {run_if}"
    return results


def test_gocd_pipeline_reports_runs_and_deployments_and_calls_the_gate(
    server: dict[str, str],
) -> None:
    for result in gocd_run(server, "infra-staging", "passed", 12):
        ok(result)
    for result in gocd_run(server, "deploy-staging", "passed", 12):
        ok(result)
    (allowed,) = gocd_run(server, "promotion-gate", "passed", 12)
    (refused,) = gocd_run(server, "promotion-gate", "passed", 13)
    for result in gocd_run(server, "deploy-production", "failed", 12):
        ok(result)

    assert ": allowed\n" in ok(allowed)
    blocked(refused, "1.4.13")
    run_row = AutomationRun.objects.select_related("service").get()
    assert (run_row.service.name, run_row.status, run_row.version, run_row.external_id) == (
        "network",
        "success",
        SHA,
        "automation_run:network-staging-s-a-12.1",
    )
    staging = deployment("staging")
    assert (staging.target.name, staging.version, staging.sha, staging.status) == (
        "s-a",
        "1.4.12",
        SHA,
        "success",
    )
    assert (
        staging.pipeline_run == "https://gocd.example.com/go/pipelines/checkout/12/deploy-staging/1"
    )
    production = deployment("production")
    assert (production.target.name, production.status, production.version) == (
        "p-a",
        "failure",
        "1.4.12",
    )
    decision = GateDecision.objects.get(allowed=True)
    assert decision.version == "1.4.12"
    assert (
        decision.pipeline_run
        == "https://gocd.example.com/go/pipelines/checkout/12/promotion-gate/1"
    )
    assert GateDecision.objects.get(allowed=False).version == "1.4.13"


# -- Concourse ------------------------------------------------------------------------------

TASK_FILES = {
    "source/ci/dora-gate.yml": "concourse-gate-task",
    "source/ci/dora-deployment.yml": "concourse-deployment-task",
}


def concourse_bin(tmp_path: Path) -> str:
    """The curl image's tools: curl and busybox's sh, cat and date; no jq."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "curl", "cat", "date"):
        (bin_dir / tool).symlink_to(shutil.which(tool))  # type: ignore[arg-type]
    return str(bin_dir)


def concourse_task(
    server: dict[str, str], step: dict[str, Any], workdir: Path, path: str
) -> subprocess.CompletedProcess[str]:
    config = yaml.safe_load(snippet(TASK_FILES[step["file"]]))
    assert config["platform"] == "linux"
    assert config["image_resource"]["source"]["repository"] == "curlimages/curl"
    assert [i["name"] for i in config["inputs"]] == ["source"]
    params = {
        k: v for k, v in {**config["params"], **step.get("params", {})}.items() if v is not None
    }
    tokens = {"((dora-ingest-token))": server["ingest"], "((dora-gate-token))": server["gate"]}
    params = {k: tokens.get(v, v) for k, v in params.items()}
    params["DORA_URL"] = server["url"]
    body_of(config["run"]["args"][-1])
    return run([config["run"]["path"], *config["run"]["args"]], params, cwd=workdir, path=path)


def concourse_step(job: str, name: str) -> dict[str, Any]:
    jobs = {j["name"]: j for j in yaml.safe_load(snippet("concourse-pipeline"))["jobs"]}
    (step,) = [s for s in jobs[job]["plan"] if s.get("task") == name]
    return step


def source_at(tmp_path: Path, name: str, ref: str) -> Path:
    """A git resource's input as a task sees it: source/.git/ref holds the commit."""
    (tmp_path / name / "source" / ".git").mkdir(parents=True)
    (tmp_path / name / "source" / ".git" / "ref").write_text(ref + "\n")
    return tmp_path / name


def test_concourse_tasks_report_deployments_and_call_the_gate(
    server: dict[str, str], tmp_path: Path
) -> None:
    path = concourse_bin(tmp_path)
    checked_out = source_at(tmp_path, "a", SHA)
    ok(
        concourse_task(
            server, concourse_step("deploy-staging", "deploy")["on_success"], checked_out, path
        )
    )
    allowed = concourse_task(
        server, concourse_step("deploy-production", "promotion-gate"), checked_out, path
    )
    refused = concourse_task(
        server,
        concourse_step("deploy-production", "promotion-gate"),
        source_at(tmp_path, "b", OTHER_SHA),
        path,
    )
    ok(
        concourse_task(
            server, concourse_step("deploy-production", "deploy")["on_failure"], checked_out, path
        )
    )

    assert json.loads(ok(allowed))["allowed"] is True  # no jq in the image: the raw answer
    blocked(refused, OTHER_SHA)
    assert json.loads(refused.stdout)["allowed"] is False
    staging = deployment("staging")
    assert (staging.target.name, staging.version, staging.sha, staging.status) == (
        "s-a",
        SHA,
        SHA,
        "success",
    )
    assert staging.external_id == f"deployment:checkout-staging-s-a-{SHA}"
    assert (
        staging.pipeline_run
        == "https://concourse.example.com/teams/main/pipelines/checkout/jobs/deploy-staging"
    )
    assert (deployment("production").target.name, deployment("production").status) == (
        "p-a",
        "failure",
    )
    assert GateDecision.objects.get(allowed=True).pipeline_run.endswith("/jobs/deploy-production")


# -- failing closed -------------------------------------------------------------------------


def gate_scripts() -> dict[str, tuple[str, str]]:
    """Every gate snippet: (script, shell)."""
    _, jenkins_gate, _ = jenkins()
    _, gate_stage = gocd_stage("promotion-gate")
    (gocd_gate,) = [t["exec"]["arguments"][-1] for t in gate_stage["jobs"]["gate"]["tasks"]]
    concourse = yaml.safe_load(snippet("concourse-gate-task"))["run"]["args"][-1]
    (codebuild,) = yaml.safe_load(snippet("codebuild-buildspec"))["phases"]["build"]["commands"]
    return {
        "jenkins": (jenkins_gate, "sh"),
        "gocd": (gocd_gate, "sh"),
        "concourse": (concourse, "sh"),
        "codebuild": (codebuild, "bash"),
    }


class Unavailable(BaseHTTPRequestHandler):
    """The gate's answer when it cannot decide (CONTRACT §5): 503, allowed false."""

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"allowed": false, "detail": "the database did not answer in time"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Retry-After", "5")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("system", ["jenkins", "gocd", "concourse", "codebuild"])
def test_gate_snippets_fail_closed_on_503_and_on_timeout(system: str, tmp_path: Path) -> None:
    script, shell = gate_scripts()[system]
    env = {
        "DORA_GATE_TOKEN": "t",
        "SERVICE": "checkout",
        "GIT_COMMIT": SHA,
        "GO_PIPELINE_LABEL": "1.4.12",
        "CODEBUILD_RESOLVED_SOURCE_VERSION": SHA,
    }
    workdir = source_at(tmp_path, "src", SHA)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Unavailable)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    # A listener that never answers: curl connects, sends, and waits until --max-time.
    silent = socket.create_server(("127.0.0.1", 0))
    try:
        unavailable = run(
            [shell, "-e", "-c", script],
            {**env, "DORA_URL": f"http://127.0.0.1:{httpd.server_port}"},
            cwd=workdir,
        )
        timed_out = run(
            [shell, "-e", "-c", script.replace("--max-time 30", "--max-time 1")],
            {**env, "DORA_URL": f"http://127.0.0.1:{silent.getsockname()[1]}"},
            cwd=workdir,
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
        silent.close()

    assert unavailable.returncode == 22, unavailable.stdout + unavailable.stderr
    assert "the database did not answer in time" in unavailable.stdout
    assert timed_out.returncode == 28, timed_out.stdout + timed_out.stderr
