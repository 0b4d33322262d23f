"""The version fill: a notified run's commit read from the HCP Terraform API (replayed with
`responses` from HashiCorp's documented answers, tests/fixtures/terraform) and recorded on the
stored run; queued by the webhook when the source has an API token."""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import responses

from dora.models import AutomationRun, Deployment, RawEvent
from ingest.http import SourceRejected
from ingest.models import Source
from ingest.sources.terraform.versions import terraform_run_version_fill
from ingest.tasks import terraform_run_version_task
from tests.integration.test_terraform_webhook import STACKS, deliver, raw, run_body

pytestmark = pytest.mark.django_db
API = "https://tfe.example.com/api/v2"
RUN = "run-FwnENkvDnrpyFC7M"
CV = "cv-ntv3HbhJqvFzamy7"
SHA = "1e1c1018d1bbc0b8517d072718e0d87c1a0eda95"  # api-ingress-attributes.json's commit-sha
TOKEN = "test-terraform-api-token"


@pytest.fixture(autouse=True)
def webhook_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DORA_TERRAFORM_WEBHOOK_SECRET", "test-terraform-notification-token")
    monkeypatch.setenv("DORA_TERRAFORM_TOKEN", TOKEN)
    Source.objects.create(
        name="terraform",
        kind="terraform",
        token_env="DORA_TERRAFORM_TOKEN",
        base_url="https://tfe.example.com",
        stacks=STACKS,
    )


FIXTURES_DIR = Path(__file__).resolve().parents[1] / "fixtures" / "terraform"


def api_json(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES_DIR / name).read_text())


def fills(callbacks: list[Any]) -> list[list[str]]:
    """The version fills among the on-commit callbacks (intake queues others of its own)."""
    return [
        list(c.keywords["args"])
        for c in callbacks
        if isinstance(c, partial) and c.args == (terraform_run_version_task,)
    ]


def replay(run: dict[str, Any] | None = None, version: dict[str, Any] | None = None) -> None:
    responses.get(f"{API}/runs/{RUN}", json=run or api_json("api-run.json"))
    responses.get(
        f"{API}/configuration-versions/{CV}",
        json=version or api_json("api-configuration-version.json"),
    )
    responses.get(
        f"{API}/configuration-versions/{CV}/ingress-attributes",
        json=api_json("api-ingress-attributes.json"),
    )


@responses.activate
def test_terraform_version_fill_records_the_commit(django_capture_on_commit_callbacks) -> None:
    with django_capture_on_commit_callbacks(execute=False) as queued:
        status, answer = deliver(raw("notification-run-errored.json"))
    assert status == 200, answer
    # The token is set and the run has no version: its fill is queued.
    assert fills(queued) == [["terraform", RUN]]
    replay()
    result = terraform_run_version_task.apply(args=["terraform", RUN]).get()
    assert (result["outcome"], result["version"]) == ("filled", SHA)
    assert result["counts"]["updated"] == 1
    calls = [(c.request.method, c.request.url) for c in responses.calls]
    assert calls == [
        ("GET", f"{API}/runs/{RUN}"),
        ("GET", f"{API}/configuration-versions/{CV}"),
        ("GET", f"{API}/configuration-versions/{CV}/ingress-attributes"),
    ]
    assert responses.calls[0].request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert responses.calls[0].request.headers["Accept"] == "application/vnd.api+json"
    run = AutomationRun.objects.get()
    assert (run.version, run.action, run.status, run.trigger) == (SHA, "apply", "cancelled", "")
    payload = RawEvent.objects.get(type="automation_run").payload
    # CONTRACT §1 automation_run fields only: the branch is not one of them.
    assert (payload["sha"], payload["repo"], "branch" in payload) == (
        SHA,
        "hashicorp/foobar",
        False,
    )
    # An apply naming its commit is also the stack's deployment of it (CONTRACT §1).
    deployment = Deployment.objects.select_related("service", "target").get()
    assert (
        deployment.service.name,
        deployment.target.name,
        deployment.sha,
        deployment.version,
        deployment.repo,
        deployment.status,
    ) == ("network", "my-workspace", SHA, SHA, "hashicorp/foobar", "cancelled")
    # Again: the stored run already says all of it; nothing is recorded.
    replay()
    assert terraform_run_version_fill("terraform", RUN).outcome == "unchanged"


@responses.activate
def test_terraform_later_notification_keeps_the_filled_version(
    django_capture_on_commit_callbacks,
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        deliver(run_body("run:applying", "applying", "2019-01-25T18:36:00.000Z"))
    replay()
    assert terraform_run_version_fill("terraform", RUN).outcome == "filled"
    with django_capture_on_commit_callbacks(execute=False) as queued:
        status, answer = deliver(run_body("run:completed", "applied", "2019-01-25T18:41:00.000Z"))
    assert status == 200 and answer["counts"]["updated"] == 1, answer
    assert fills(queued) == []  # it has its version: nothing to fill
    run = AutomationRun.objects.get()
    assert (run.status, run.version) == ("success", SHA)


@responses.activate
def test_terraform_plan_only_run_from_a_vcs_source_without_ingress() -> None:
    deliver(raw("notification-run-errored.json"))
    run_doc = api_json("api-run.json")
    run_doc["data"]["attributes"].update({"plan-only": True, "source": "tfe-configuration-version"})
    version = api_json("api-configuration-version.json")
    version["data"]["relationships"]["ingress-attributes"]["data"] = None
    responses.get(f"{API}/runs/{RUN}", json=run_doc)
    responses.get(f"{API}/configuration-versions/{CV}", json=version)
    fill = terraform_run_version_fill("terraform", RUN)
    assert (fill.outcome, fill.version) == ("filled", None)
    assert len(responses.calls) == 2  # no ingress attributes to ask for
    run = AutomationRun.objects.get()
    assert (run.action, run.trigger, run.version) == ("plan", "change", "")


@responses.activate
def test_terraform_version_fill_without_token_or_event(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks
) -> None:
    assert terraform_run_version_fill("terraform", RUN).outcome == "no_event"
    monkeypatch.delenv("DORA_TERRAFORM_TOKEN")
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert deliver(raw("notification-run-errored.json"))[0] == 200
    assert fills(queued) == []  # no token: nothing to ask the API
    assert terraform_run_version_fill("terraform", RUN).outcome == "no_token"
    assert len(responses.calls) == 0


@responses.activate
def test_terraform_version_fill_with_a_refused_token_stops() -> None:
    deliver(raw("notification-run-errored.json"))
    responses.get(f"{API}/runs/{RUN}", status=401, json={"errors": [{"status": "401"}]})
    with pytest.raises(SourceRejected, match="HTTP 401"):
        terraform_run_version_fill("terraform", RUN)
    assert AutomationRun.objects.get().version == ""
