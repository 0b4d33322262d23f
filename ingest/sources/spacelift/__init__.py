"""Spacelift: run state webhooks -> CONTRACT §1 automation_run events (no polling).

Webhook (webhook.py), mapper (mapper.py), registered as the provider of kind spacelift; its
configuration is the shared `stacks:` mapping (ingest.sources.stacks). The view imports Django
models, so it is imported when first called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest.sources.registry import Provider, register
from ingest.sources.spacelift import mapper
from ingest.sources.stacks import stack_source_config_problems

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


def _webhook(request: HttpRequest, source: str | None) -> HttpResponse:
    from ingest.sources.spacelift.webhook import spacelift_webhook

    return spacelift_webhook(request, source)


PROVIDER = register(
    Provider(
        kind="spacelift",
        label="Spacelift",
        mapper=mapper,
        webhook=_webhook,
        config_check=stack_source_config_problems,
    )
)
