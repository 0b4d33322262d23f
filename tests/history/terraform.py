"""A History's automation runs as HCP Terraform sends and answers them.

Each run of `history.automation` becomes one run notification (HashiCorp's documented
tests/fixtures/terraform/notification-run-errored.json with its run id, workspace, times and
final state changed: `run:completed` / `applied` for a success, `run:errored` / `errored` for a
failure) and the three API answers the version fill reads (api-run.json,
api-configuration-version.json, api-ingress-attributes.json with the run id, configuration
version id, run source, repository and commit changed).

What a notification carries: the run id, the workspace (`<stack>-<environment>`, mapped back by
the source's `stacks:` rules), the run's creation (`started_at`) and its last state change
(`finished_at`) and the final status. What it does not: the commit, the repository and what
queued the run; the fill reads them from the API (replayed here), so the path carries every
field of the events path's runs but `updated_at`, which is the notification's state change
(the events path sends none; no fact or figure reads it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.history.scenario import History

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"
_TFE_STATUS = {"success": ("run:completed", "applied"), "failure": ("run:errored", "errored")}


def _fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def _tfe_time(text: str) -> str:
    """`2026-09-07T08:00:00Z` as HCP Terraform writes it (`2026-09-07T08:00:00.000Z`)."""
    return text.replace("Z", ".000Z")


def workspace_of(run: dict[str, Any]) -> str:
    return f"{run['service']}-{run['environment']}"


@dataclass(frozen=True)
class TerraformRun:
    """One run: its notification body and the API's answers about it (path -> document)."""

    run_id: str
    notification: dict[str, Any]
    api: dict[str, dict[str, Any]]


def terraform_runs(history: History) -> list[TerraformRun]:
    rendered = []
    for n, run in enumerate(history.automation, start=1):
        assert run["action"] == "apply" and run["trigger"] == "change", run  # what HCP sends
        run_id, cv = run["id"], f"cv-history{n:08d}"
        workspace = workspace_of(run)
        body = _fixture("notification-run-errored.json")
        body.update(
            run_id=run_id,
            run_url=f"https://app.terraform.io/app/acme-org/{workspace}/runs/{run_id}",
            run_message=f"apply {run['sha'][:7]}",
            run_created_at=_tfe_time(run["started_at"]),
            workspace_name=workspace,
        )
        trigger, status = _TFE_STATUS[run["status"]]
        body["notifications"][0].update(
            trigger=trigger, run_status=status, run_updated_at=_tfe_time(run["finished_at"])
        )
        api_run = _fixture("api-run.json")
        api_run["data"]["id"] = run_id
        # A run queued by a VCS push: its source is the configuration version (trigger change).
        api_run["data"]["attributes"]["source"] = "tfe-configuration-version"
        api_run["data"]["relationships"]["configuration-version"]["data"]["id"] = cv
        version = _fixture("api-configuration-version.json")
        version["data"]["id"] = cv
        ingress = _fixture("api-ingress-attributes.json")
        attributes = ingress["data"]["attributes"]
        owner_name = run["repo"]
        attributes.update(
            {
                "commit-sha": run["sha"],
                "identifier": owner_name,
                "clone-url": f"https://github.com/{owner_name}.git",
                "commit-url": f"https://github.com/{owner_name}/commit/{run['sha']}",
            }
        )
        api = {
            f"runs/{run_id}": api_run,
            f"configuration-versions/{cv}": version,
            f"configuration-versions/{cv}/ingress-attributes": ingress,
        }
        rendered.append(TerraformRun(run_id, body, api))
    return rendered
