"""PagerDuty: incidents (REST API v2 objects, webhook v3 events) -> CONTRACT §1 incident events.

Sync (sync.py, through client.py's reads), webhook (webhook.py), mapper (mapper.py), registered
as the provider of kind pagerduty. The sync and the webhook view import Django models, so they
are imported when first called: importing this package (or the pure mapper) imports no model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ingest.sources.pagerduty import mapper
from ingest.sources.registry import Provider, register

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

    from dora.config import SourceSpec


def _sync(source: Any, **options: Any) -> Any:
    from ingest.sources.pagerduty.sync import pagerduty_source_sync

    return pagerduty_source_sync(source, **options)


def _webhook(request: HttpRequest, source: str | None) -> HttpResponse:
    from ingest.sources.pagerduty.webhook import pagerduty_webhook

    return pagerduty_webhook(request, source) if source else pagerduty_webhook(request)


def _config_check(spec: SourceSpec) -> list[str]:
    from ingest.sources.pagerduty.config import pagerduty_config_problems

    return pagerduty_config_problems(spec)


PROVIDER = register(
    Provider(
        kind="pagerduty",
        label="PagerDuty",
        mapper=mapper,
        webhook=_webhook,
        sync=_sync,
        config_check=_config_check,
    )
)
