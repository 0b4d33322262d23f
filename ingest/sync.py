"""`source_sync`: read one source now, through its provider's sync (found by `kind`).

Each provider's own sync lives in its package (GitHub's: ingest.sources.github.sync, whose
module doc explains the page loop and the cursor protocol). The GitHub names once defined
here are re-exported for the callers that import them from here (tests, bench).
"""

from __future__ import annotations

from typing import Any

from ingest.http import SourceRejected
from ingest.models import Source
from ingest.sources.base import Progress, SyncResult
from ingest.sources.github.sync import OVERLAP, STREAMS, TAGS_REFRESH, GitHubSync
from ingest.sources.registry import UnknownProvider, provider_for

__all__ = [
    "OVERLAP",
    "STREAMS",
    "TAGS_REFRESH",
    "GitHubSync",
    "Progress",
    "SyncResult",
    "source_sync",
]


def source_sync(source: Source | str, **options: Any) -> Any:
    """Sync the source with its provider's sync (options: progress, clock, now, client).

    A kind with no registered provider, or whose provider does not poll, is a SourceRejected
    (a human must fix the configuration), kept on the source as `last_error` like the others.
    """
    if isinstance(source, str):
        source = Source.objects.get(name=source)
    try:
        sync = provider_for(source.kind).sync
    except UnknownProvider as exc:
        problem = str(exc)
    else:
        if sync is not None:
            return sync(source, **options)
        problem = f"Sources of kind {source.kind!r} are not polled; they arrive by webhook."
    Source.objects.filter(pk=source.pk).update(last_error=problem)
    raise SourceRejected(problem)
