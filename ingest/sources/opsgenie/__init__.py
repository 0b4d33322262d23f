"""Opsgenie: incidents (Incident API v1) and alerts tagged as incidents (Alert API v2, webhook
alert activity) -> CONTRACT §1 incident events.

Sync (sync.py, through client.py's reads), webhook (webhook.py), mapper (mapper.py), registered
as the provider of kind opsgenie. The sync and the webhook view import Django models, so they
are imported when first called: importing this package (or the pure mapper) imports no model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ingest.sources.opsgenie import mapper
from ingest.sources.registry import Provider, register

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

    from dora.config import SourceSpec


def _sync(source: Any, **options: Any) -> Any:
    from ingest.sources.opsgenie.sync import opsgenie_source_sync

    return opsgenie_source_sync(source, **options)


def _webhook(request: HttpRequest, source: str | None) -> HttpResponse:
    from ingest.sources.opsgenie.webhook import opsgenie_webhook

    return opsgenie_webhook(request, source) if source else opsgenie_webhook(request)


def _config_check(spec: SourceSpec) -> list[str]:
    from ingest.sources.opsgenie.config import opsgenie_config_problems

    return opsgenie_config_problems(spec)


PROVIDER = register(
    Provider(
        kind="opsgenie",
        label="Opsgenie",
        mapper=mapper,
        webhook=_webhook,
        sync=_sync,
        config_check=_config_check,
    )
)
