"""HCP Terraform / Terraform Enterprise: run and assessment notifications -> CONTRACT §1
`automation_run` events, registered as the provider of kind terraform.

Webhook only (views.py, behind `POST /webhooks/terraform[/<source>]`), mapper (mapper.py),
signature (webhook.py), options (config.py; read from the `sources:` entry by sources.py),
and the version fill from the API (client.py, versions.py,
ingest.tasks.terraform_run_version_task). The view imports Django models, so it is imported
when first called: importing this package (or the pure mapper) imports no model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest.sources.registry import Provider, register
from ingest.sources.stacks import stack_source_config_problems
from ingest.sources.terraform import mapper

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


def _webhook(request: HttpRequest, source: str | None) -> HttpResponse:
    from ingest.sources.terraform.views import terraform_webhook

    return terraform_webhook(request, source)


PROVIDER = register(
    Provider(
        kind="terraform",
        label="HCP Terraform",
        mapper=mapper,
        webhook=_webhook,
        config_check=stack_source_config_problems,
    )
)
