"""GitHub: REST sync (sync.py), webhooks (webhook.py, views.py), mapper (mapper.py), registered.

The sync and the webhook view import Django models, so they are imported when first called:
importing this package (or the pure mapper) imports no model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ingest.sources.github import mapper
from ingest.sources.registry import Provider, register

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

    from dora.config import SourceSpec


def _sync(source: Any, **options: Any) -> Any:
    from ingest.sources.github.sync import github_source_sync

    return github_source_sync(source, **options)


def _webhook(request: HttpRequest, source: str | None) -> HttpResponse:
    from ingest.sources.github.views import github_webhook

    return github_webhook(request, source) if source else github_webhook(request)


def _config_check(spec: SourceSpec) -> list[str]:
    from ingest.sources.github.config import github_config_problems

    return github_config_problems(spec)


PROVIDER = register(
    Provider(
        kind="github",
        label="GitHub",
        mapper=mapper,
        webhook=_webhook,
        sync=_sync,
        config_check=_config_check,
    )
)
