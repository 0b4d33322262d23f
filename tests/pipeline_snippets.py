"""docs/PIPELINES.md's snippets by their markers, a shell to run them, the estate they assume."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from dora.config import config_apply, config_load
from dora.models import ApiToken, Deployment

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "PIPELINES.md"
FIXTURES = ROOT / "tests" / "fixtures" / "codepipeline"
SHA = "3f2c1e0a9b8d7c6e5f4a3b2c1d0e9f8a7b6c5d4e"
OTHER_SHA = "0123456789abcdef0123456789abcdef01234567"
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


def snippet(name: str) -> str:
    found = re.findall(
        rf"<!-- snippet: {re.escape(name)} -->\n```\w*\n(.*?)```", DOC.read_text(), re.DOTALL
    )
    assert len(found) == 1, f"expected one block marked {name!r} in docs/PIPELINES.md"
    return found[0]


def lines(text: str) -> str:
    return "\n".join(line.strip() for line in text.strip().splitlines() if line.strip())


BODIES = {
    "gate": lines(snippet("gate-body")),
    "deployment": lines(snippet("deployment-body")),
    "automation": lines(snippet("automation-run-body")),
}


def body_of(script: str) -> str:
    """Which shared body the script runs; it must hold that body verbatim."""
    kind = (
        "gate"
        if "gates/promotion" in script
        else "automation"
        if '"type":"automation_run"' in script
        else "deployment"
    )
    assert BODIES[kind] in lines(script), f"the script does not run the shared {kind} body"
    return kind


def run(
    argv: list[str], env: dict[str, str], cwd: Path | None = None, path: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own documentation's snippet, in a test
        argv,
        env={"PATH": path or os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )


def sh(script: str, env: dict[str, str], shell: str = "sh") -> subprocess.CompletedProcess[str]:
    return run([shell, "-e", "-c", script], env)


def estate_with_tokens(url: str) -> dict[str, str]:
    """The README's estate, declared, and an ingest and a gate token for the server at url."""
    config_apply(config_load(ESTATE))
    _, ingest = ApiToken.issue(name="pipeline", scope=ApiToken.Scope.INGEST)
    _, gate = ApiToken.issue(name="pipeline-gate", scope=ApiToken.Scope.GATE)
    return {"url": url, "ingest": ingest, "gate": gate}


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def blocked(result: subprocess.CompletedProcess[str], version: str) -> None:
    assert result.returncode == 22, result.stdout + result.stderr  # curl: HTTP 409
    assert f"{version} was never deployed successfully to staging" in result.stdout


def deployment(environment: str) -> Deployment:
    """The service's deployment there (an apply with a version is also one of its stack's)."""
    return Deployment.objects.select_related("service", "target").get(
        service__name="checkout", environment__name=environment
    )


# -- the shared bodies ----------------------------------------------------------------------
