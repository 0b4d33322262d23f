"""The `sources:` entry of kind github: what it must say beyond what the file reader checks.

The file reader (dora.config) checks the keys every source shares and, for github, org/repos;
this is the provider's own check of a spec, run again by apply_config (ingest.config) so a spec
built another way cannot reach the sync without the repositories it needs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dora.config import SourceSpec

REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def github_config_problems(spec: SourceSpec) -> list[str]:
    """What is wrong with a github source spec (empty when nothing is)."""
    where = f"sources.{spec.name}"
    if spec.org and spec.repos:
        return [f"{where}: give org or repos, not both (org reads every repository of it)"]
    if not spec.org and not spec.repos:
        return [f"{where}: give org (every repository of it) or repos: [owner/name]"]
    return [
        f"{where}.repos[{i}]: {repo!r} is not owner/name"
        for i, repo in enumerate(spec.repos)
        if not REPO_NAME.match(repo)
    ]
