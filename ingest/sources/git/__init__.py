"""Git repositories: history read with the `git` command, mapped to CONTRACT §1 events.

`manage.py ingest_git` (a path, once) and the provider of kind git (a configured path or clone
URL, synced on the source's schedule: sync.py) share one code path, history.py. The sync imports
Django models, so it is imported when first called: importing this package imports no model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ingest.sources.git import mapper
from ingest.sources.registry import Provider, register

if TYPE_CHECKING:
    from dora.config import SourceSpec


def _sync(source: Any, **options: Any) -> Any:
    from ingest.sources.git.sync import git_source_sync

    return git_source_sync(source, **options)


def _config_check(spec: SourceSpec) -> list[str]:
    from ingest.sources.git.config import git_config_problems

    return git_config_problems(spec)


PROVIDER = register(
    Provider(
        kind="git", label="Git repository", mapper=mapper, sync=_sync, config_check=_config_check
    )
)
