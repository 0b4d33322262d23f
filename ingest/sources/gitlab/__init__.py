"""GitLab: sync (sync.py, through the python-gitlab collector's reads), webhooks (webhook.py,
views.py), mapper (mapper.py), registered.

The sync and the webhook view import Django models, so they are imported when first called:
importing this package (or the pure mapper) imports no model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ingest.sources.gitlab import mapper
from ingest.sources.registry import Provider, register

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

    from dora.config import SourceSpec


def _sync(source: Any, **options: Any) -> Any:
    from ingest.sources.gitlab.sync import gitlab_source_sync

    return gitlab_source_sync(source, **options)


def _webhook(request: HttpRequest, source: str | None) -> HttpResponse:
    from ingest.sources.gitlab.views import gitlab_webhook

    return gitlab_webhook(request, source) if source else gitlab_webhook(request)


def _config_check(spec: SourceSpec) -> list[str]:
    from ingest.sources.gitlab.config import gitlab_config_problems

    return gitlab_config_problems(spec)


PROVIDER = register(
    Provider(
        kind="gitlab",
        label="GitLab",
        mapper=mapper,
        webhook=_webhook,
        sync=_sync,
        config_check=_config_check,
    )
)
