"""Flux: notification-controller events (generic-hmac provider) -> CONTRACT §1 deployment and
automation_run events. Webhook only (webhook.py), mapper (mapper.py); registered as the
provider of kind flux. The view imports Django models, so it is imported when first called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest.sources.flux import mapper
from ingest.sources.registry import Provider, register
from ingest.sources.stacks import stack_source_config_problems

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


def _webhook(request: HttpRequest, source: str | None) -> HttpResponse:
    from ingest.sources.flux.webhook import flux_webhook

    return flux_webhook(request, source) if source else flux_webhook(request)


PROVIDER = register(
    Provider(
        kind="flux",
        label="Flux",
        mapper=mapper,
        webhook=_webhook,
        config_check=stack_source_config_problems,
    )
)
