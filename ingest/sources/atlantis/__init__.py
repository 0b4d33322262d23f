"""Atlantis: apply and drift webhooks -> CONTRACT §1 automation_run events (no polling).

Webhook (webhook.py), mapper (mapper.py), registered as the provider of kind atlantis; its
configuration is the shared `stacks:` mapping (ingest.sources.stacks). The view imports Django
models, so it is imported when first called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest.sources.atlantis import mapper
from ingest.sources.registry import Provider, register
from ingest.sources.stacks import stack_source_config_problems

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


def _webhook(request: HttpRequest, source: str | None) -> HttpResponse:
    from ingest.sources.atlantis.webhook import atlantis_webhook

    return atlantis_webhook(request, source)


PROVIDER = register(
    Provider(
        kind="atlantis",
        label="Atlantis",
        mapper=mapper,
        webhook=_webhook,
        config_check=stack_source_config_problems,
    )
)
