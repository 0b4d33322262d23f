"""Argo CD: notifications (docs/argocd's template, or Application objects) -> CONTRACT §1
deployment events. Webhook only (webhook.py), mapper (mapper.py); registered as the provider of
kind argocd, configured by the shared `stacks:` rules (ingest.sources.stacks). The view
imports Django models, so it is imported when first called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest.sources.argocd import mapper
from ingest.sources.registry import Provider, register
from ingest.sources.stacks import stack_source_config_problems

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


def _webhook(request: HttpRequest, source: str | None) -> HttpResponse:
    from ingest.sources.argocd.webhook import argocd_webhook

    return argocd_webhook(request, source) if source else argocd_webhook(request)


PROVIDER = register(
    Provider(
        kind="argocd",
        label="Argo CD",
        mapper=mapper,
        webhook=_webhook,
        config_check=stack_source_config_problems,
    )
)
