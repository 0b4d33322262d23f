"""The paths of the infrastructure and GitOps sources (tests/history/paths.py has the others):
each renders part of the history in its provider's shape, posts it to the provider's receiver
and feeds the rest as the events path's events. `INFRA_PATHS` joins `PATHS` in
tests/integration/test_one_history.py; each names the cases it runs (`cases`)."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import responses
from django.test import Client

from ingest.sources.terraform.versions import terraform_run_version_fill
from ingest.sources.terraform.webhook import terraform_signature
from tests.history.argocd import argocd_bodies, argocd_read_back
from tests.history.events import history_events
from tests.history.flux import flux_bodies, flux_read_back, without_deploy_time
from tests.history.paths import (
    ARGOCD_SECRET_ENV,
    ARGOCD_SOURCE,
    FLUX_SECRET_ENV,
    FLUX_SOURCE,
    SECRET,
    SPACELIFT_SECRET_ENV,
    SPACELIFT_SOURCE,
    TERRAFORM_SECRET_ENV,
    TERRAFORM_SOURCE,
    TERRAFORM_TOKEN_ENV,
    TERRAFORM_URL,
    HistoryPath,
    Outcome,
    environ,
    events_import,
)
from tests.history.scenario import History
from tests.history.spacelift import spacelift_bodies, spacelift_read_back
from tests.history.terraform import terraform_runs


class TerraformNotificationsPath:
    """(g) The automation runs as HCP Terraform's run notifications (tests/history/terraform.py),
    signed, posted to /webhooks/terraform/terraform, each then filled by the version fill
    (`terraform_run_version_fill`, what `terraform_run_version_task` runs) against the HCP
    Terraform API replayed with `responses`; everything else as the events path's events.

    A notification carries no commit: without the API fill these runs would have no sha,
    version or repository (and so no deployments of the stack, no rollouts). With it the path
    carries every fact of the runs and is compared whole (the full case: the other cases have
    no runs)."""

    name = "hcp-terraform"
    feeds_automation = True
    cases = ("full",)

    def feed(self, history: History, workdir: Path) -> None:
        events_import(history_events(history), workdir / "history.jsonl")
        client = Client()
        with environ(**{TERRAFORM_SECRET_ENV: SECRET, TERRAFORM_TOKEN_ENV: "t0ken"}):
            for run in terraform_runs(history):
                body = json.dumps(run.notification).encode()
                response = client.generic(
                    "POST",
                    f"/webhooks/terraform/{TERRAFORM_SOURCE}",
                    body,
                    content_type="application/json",
                    HTTP_X_TFE_NOTIFICATION_SIGNATURE=terraform_signature(SECRET.encode(), body),
                )
                answer = response.json()
                assert response.status_code == 200, answer
                assert answer["counts"]["created"] == 1, answer
                # The webhook queues the fill on commit (never, inside this test): run it here.
                with responses.RequestsMock() as api:
                    for path, document in run.api.items():
                        api.get(f"{TERRAFORM_URL}/api/v2/{path}", json=document)
                    fill = terraform_run_version_fill(TERRAFORM_SOURCE, run.run_id)
                assert fill.outcome == "filled", fill


class ArgoCdNotificationsPath:
    """(h) The deployments as Argo CD's notifications (docs/argocd's template body, rendered by
    tests/history/argocd.py) posted to /webhooks/argocd with the shared secret; everything else
    as the events path's events.

    What Argo CD cannot carry (tests/history/argocd.py): a deployment naming no target (an
    Application always has a destination cluster: the history's staging deployments land on the
    in-cluster target), and the GitHub adapter's ids. `outcome_read` maps exactly those back,
    the deployments' source and ids and staging's cluster target, and nothing else; every other
    fact and figure is compared as it is."""

    name = "argocd"
    cases = ("merge", "full")

    def feed(self, history: History, workdir: Path) -> None:
        events = [e for e in history_events(history) if e["type"] != "deployment"]
        events_import(events, workdir / "history.jsonl")
        client = Client()
        with environ(**{ARGOCD_SECRET_ENV: SECRET}):
            for body in argocd_bodies(history):
                response = client.generic(
                    "POST",
                    f"/webhooks/argocd/{ARGOCD_SOURCE}",
                    body,
                    content_type="application/json",
                    HTTP_AUTHORIZATION=f"Bearer {SECRET}",
                )
                answer = response.json()
                assert response.status_code == 200, answer
                assert answer["counts"]["created"] == 1, answer

    def outcome_read(self, outcome: Outcome, history: History) -> Outcome:
        return Outcome(*argocd_read_back(outcome.facts, outcome.metrics, history))


class SpaceliftWebhooksPath:
    """(i) The automation runs as Spacelift's run-state webhooks (tests/history/spacelift.py),
    signed (X-Signature-256), posted to /webhooks/spacelift/spacelift; everything else as
    events. Spacelift records the commit's hash as a `version`, not a `sha`: what follows from
    that (the stack's rollouts' sha and change-set columns, its missing commits) is left out
    of both sides, named in spacelift_read_back; the records' source `spacelift` is read as
    the events path's `terraform` (the ids are the history's). The rest is compared whole."""

    name = "spacelift"
    feeds_automation = True
    cases = ("full",)
    sources_as = {SPACELIFT_SOURCE: TERRAFORM_SOURCE}

    def feed(self, history: History, workdir: Path) -> None:
        events_import(history_events(history), workdir / "history.jsonl")
        client = Client()
        with environ(**{SPACELIFT_SECRET_ENV: SECRET}):
            for body in spacelift_bodies(history):
                mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                response = client.generic(
                    "POST",
                    f"/webhooks/spacelift/{SPACELIFT_SOURCE}",
                    body,
                    content_type="application/json",
                    HTTP_X_SIGNATURE_256=f"sha256={mac}",
                )
                answer = response.json()
                assert response.status_code == 200, answer
                assert answer["counts"]["created"] == 1, answer

    def outcome_read(self, outcome: Outcome, history: History) -> Outcome:
        return Outcome(*spacelift_read_back(outcome.facts, outcome.metrics))

    def expected_read(self, outcome: Outcome, history: History) -> Outcome:
        return Outcome(*spacelift_read_back(outcome.facts, outcome.metrics))


class FluxEventsPath:
    """(j) The deployments as Flux's notification-controller events (tests/history/flux.py),
    signed (X-Signature, generic-hmac), posted to /webhooks/flux/flux; everything else as
    events. The full case's rollback (production back to an earlier sha) is a deployment of
    its own. What Flux records differently is read back (`outcome_read`, flux_read_back): the
    deployments' source and ids. What it cannot carry, a deployment's start, is left out of
    both sides: the value stream's flow-efficiency ratios (deploys count as process time),
    nothing else; every other fact and figure is compared as it is."""

    name = "flux"
    cases = ("merge", "full")

    def feed(self, history: History, workdir: Path) -> None:
        events = [e for e in history_events(history) if e["type"] != "deployment"]
        events_import(events, workdir / "history.jsonl")
        client = Client()
        with environ(**{FLUX_SECRET_ENV: SECRET}):
            for body in flux_bodies(history):
                mac = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
                response = client.generic(
                    "POST",
                    f"/webhooks/flux/{FLUX_SOURCE}",
                    body,
                    content_type="application/json",
                    HTTP_X_SIGNATURE=f"sha256={mac}",
                )
                answer = response.json()
                assert response.status_code == 200, answer
                assert answer["counts"]["created"] == 1, answer

    def outcome_read(self, outcome: Outcome, history: History) -> Outcome:
        return Outcome(flux_read_back(outcome.facts, history), without_deploy_time(outcome.metrics))

    def expected_read(self, outcome: Outcome, history: History) -> Outcome:
        return Outcome(outcome.facts, without_deploy_time(outcome.metrics))


INFRA_PATHS: tuple[HistoryPath, ...] = (
    TerraformNotificationsPath(),
    ArgoCdNotificationsPath(),
    SpaceliftWebhooksPath(),
    FluxEventsPath(),
)
