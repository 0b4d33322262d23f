"""HCP Terraform API reads: a notified run's mode and commit (runs, configuration versions,
ingress attributes), through ingest.http's policy (timeouts, retries on 429/5xx, backoff).

Three documented calls, each answering one JSON:API document:
`GET /api/v2/runs/:id` (plan-only, source, the configuration version), `GET
/api/v2/configuration-versions/:id` (whether it has ingress attributes: a configuration
uploaded by the CLI or API has none) and `GET
/api/v2/configuration-versions/:id/ingress-attributes` (the commit).
developer.hashicorp.com/terraform/cloud-docs/api-docs/run#get-run-details
developer.hashicorp.com/terraform/cloud-docs/api-docs/configuration-versions
"""

from __future__ import annotations

from urllib.parse import quote

from ingest.http import Clock, RestClient, SystemClock
from ingest.sources.terraform.mapper import RunCommit, run_facts, with_ingress

JSON_API = "application/vnd.api+json"


def terraform_client(base_url: str, token: str, *, clock: Clock | None = None) -> RestClient:
    """A RestClient speaking HCP Terraform's headers (the GitHub ones it sets are replaced)."""
    client = RestClient(base_url, token=token, clock=clock or SystemClock())
    client.session.headers.pop("X-GitHub-Api-Version", None)
    client.session.headers["Accept"] = JSON_API
    return client


def run_commit(client: RestClient, run_id: str) -> RunCommit:
    """The run's plan-only flag, trigger and commit (sha, repository, branch when it has one).

    SourceUnavailable on a transient failure (retried by the task), SourceRejected on a
    401/403/404 (a token to fix, or a run it cannot see)."""
    run = client.get(f"/api/v2/runs/{quote(run_id, safe='')}").data or {}
    facts = run_facts(run)
    if not facts.configuration_version:
        return facts
    cv_path = f"/api/v2/configuration-versions/{quote(facts.configuration_version, safe='')}"
    version = client.get(cv_path).data or {}
    relation = ((version.get("data") or {}).get("relationships") or {}).get(
        "ingress-attributes"
    ) or {}
    if not relation.get("data"):
        return facts
    return with_ingress(facts, client.get(f"{cv_path}/ingress-attributes").data)
