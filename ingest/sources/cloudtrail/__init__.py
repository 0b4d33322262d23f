"""AWS CloudTrail: write calls made outside the pipeline as `out_of_band_change` events.

Registered as the provider of kind cloudtrail: a `sources:` entry names the pipeline's roles,
the accounts (environment, service, region -> target) and the event sources left out
(`config.py`, kept on the Source row). A pure mapper (`mapper.py`); records come in through
`manage.py import_cloudtrail --source NAME` (log files, EventBridge events) or through `POST
/webhooks/cloudtrail[/<source>]` (`webhook.py`: an EventBridge API destination). Nothing is
polled (docs/INFRA-SOURCES.md, "Changes outside the pipeline"). The view imports Django
models, so it is imported when first called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ingest.sources.cloudtrail import mapper
from ingest.sources.cloudtrail.config import cloudtrail_source_config_problems
from ingest.sources.registry import Provider, register

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse


def _webhook(request: HttpRequest, source: str | None) -> HttpResponse:
    from ingest.sources.cloudtrail.webhook import cloudtrail_webhook

    return cloudtrail_webhook(request, source)


PROVIDER = register(
    Provider(
        kind="cloudtrail",
        label="AWS CloudTrail",
        mapper=mapper,
        webhook=_webhook,
        config_check=cloudtrail_source_config_problems,
    )
)
