"""The README's pipeline snippets, run as written against a live server.

GitHub Actions' `run:`, GitLab CI's `script:` and the Jenkins stage's `sh '''...'''` are taken from
README.md and run with bash and curl (jq when the machine has it), with the variables each CI
system would provide. So are the snippets that report a deployment and an infrastructure run.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from dora.config import config_apply, config_load
from dora.models import ApiToken, AutomationRun, Deployment, GateDecision

README = Path(__file__).resolve().parents[2] / "README.md"
ESTATE = """\
services:
  - name: checkout
    kind: app
  - name: network
    kind: infra
environments:
  - name: staging
    tier: staging
    targets: [s-a]
  - name: production
    tier: production
    targets: [p-a]
gates:
  defaults: {min_soak: 0s}
"""

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not shutil.which("curl"), reason="needs curl"),
]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.DOTALL)


def one_block(language: str, marker: str) -> str:
    found = [b for b in blocks(language) if marker in b]
    assert len(found) == 1, f"expected one ```{language} block with {marker!r} in README.md"
    return found[0]


def github_step() -> tuple[str, list[str]]:
    (step,) = yaml.safe_load(one_block("yaml", "name: Promotion gate"))
    return step["run"], list(step["env"])


def gitlab_script() -> str:
    job = yaml.safe_load(one_block("yaml", "promotion-gate:"))["promotion-gate"]
    # Installing curl and jq is the job image's business; this machine has them.
    return "\n".join(line for line in job["script"] if not line.startswith("apk add"))


def jenkins_script() -> str:
    stage = one_block("groovy", "stage('Promotion gate')")
    (script,) = re.findall(r"sh '''\n(.*?)'''", stage, flags=re.DOTALL)
    # Groovy processes backslash escapes inside ''' strings; the snippet must not rely on them.
    assert "\\" not in script
    return script


def run(script: str, env: dict[str, str], shell: str = "bash") -> subprocess.CompletedProcess[str]:
    """GitHub Actions runs `bash -e`; Jenkins' sh step and GitLab's alpine image a POSIX sh."""
    return subprocess.run(  # noqa: S603 - our own README's snippet, in a test
        [shell, "-e", "-c", script],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture
def server(live_server: Any) -> dict[str, str]:
    config_apply(config_load(ESTATE))
    _, ingest = ApiToken.issue(name="pipeline", scope=ApiToken.Scope.INGEST)
    _, gate = ApiToken.issue(name="ci-gate", scope=ApiToken.Scope.GATE)
    return {"DORA_URL": live_server.url, "DORA_INGEST_TOKEN": ingest, "DORA_GATE_TOKEN": gate}


def report_deployment(server: dict[str, str], version: str) -> None:
    script = one_block("sh", '"type":"deployment"')
    result = run(
        script,
        {
            **server,
            "SERVICE": "checkout",
            "ENVIRONMENT": "staging",
            "TARGET": "s-a",
            "RUN_ID": "812",
            "VERSION": version,
            "GIT_SHA": "3f2c1e0a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e",
            "STATUS": "success",
            "RUN_URL": "https://ci.example.com/runs/812",
        },
    )
    assert result.returncode == 0, result.stdout + result.stderr


def ci_variables(version: str) -> dict[str, str]:
    """What each CI system provides, under the names the snippets read."""
    return {
        "SERVICE": "checkout",
        "VERSION": version,  # GitHub (step env) and Jenkins (stage environment)
        "RUN_URL": "https://github.example.com/acme/checkout/actions/runs/7",
        "CI_COMMIT_TAG": version,  # GitLab
        "CI_COMMIT_SHA": "3f2c1e0a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e",
        "CI_PIPELINE_URL": "https://gitlab.example.com/acme/checkout/-/pipelines/9",
        "BUILD_URL": "https://jenkins.example.com/job/checkout/11/",  # Jenkins
    }


def test_readme_deployment_and_infra_run_snippets_record_events(server: dict[str, str]) -> None:
    report_deployment(server, "v2.0.0")
    infra = run(
        one_block("sh", '"type":"automation_run"'),
        {
            **server,
            "STACK": "network",
            "ENVIRONMENT": "staging",
            "TARGET": "s-a",
            "RUN_ID": "44",
            "STATUS": "success",
            "STACK_VERSION": "1.9.0",
            "TRIGGER": "schedule",
        },
    )

    assert infra.returncode == 0, infra.stdout + infra.stderr
    deployment = Deployment.objects.get(service__name="checkout")  # the apply is also network's
    assert (deployment.service.name, deployment.target.name, deployment.version) == (
        "checkout",
        "s-a",
        "v2.0.0",
    )
    assert deployment.pipeline_run == "https://ci.example.com/runs/812"
    run_row = AutomationRun.objects.get()
    assert (run_row.service.name, run_row.action, run_row.version) == ("network", "apply", "1.9.0")


@pytest.mark.parametrize("system", ["github", "gitlab", "jenkins"])
def test_readme_gate_snippet_passes_an_allowed_promotion_and_fails_a_blocked_one(
    server: dict[str, str], system: str
) -> None:
    report_deployment(server, "v2.0.0")
    if system == "github":
        script, env_keys = github_step()
        assert {"DORA_URL", "DORA_GATE_TOKEN", "VERSION", "RUN_URL"} <= set(env_keys)
    else:
        script = gitlab_script() if system == "gitlab" else jenkins_script()

    shell = "bash" if system == "github" else "sh"
    allowed = run(script, {**server, **ci_variables("v2.0.0")}, shell)
    blocked = run(script, {**server, **ci_variables("v9.9.9")}, shell)

    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert blocked.returncode == 22, blocked.stdout + blocked.stderr  # curl: HTTP error >= 400
    if shutil.which("jq"):
        assert "pass  version_verified_in_source: live in staging on 1/1 targets" in allowed.stdout
        assert allowed.stdout.startswith("decision ")
        assert ": blocked\n" in blocked.stdout
        assert (
            "FAIL  version_verified_in_source: v9.9.9 was never deployed successfully to staging"
            in blocked.stdout
        )
    else:
        assert "v9.9.9 was never deployed successfully to staging" in blocked.stdout
    runs = set(GateDecision.objects.values_list("pipeline_run", flat=True))
    expected = ci_variables("")[
        {"github": "RUN_URL", "gitlab": "CI_PIPELINE_URL", "jenkins": "BUILD_URL"}[system]
    ]
    assert runs == {expected}
