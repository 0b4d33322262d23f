"""The `sources:` entry of kind github: what it must say beyond what the file reader checks.

The file reader (dora.config) checks the keys every source shares and, for github, org/repos;
this is the provider's own check of a spec, run again by apply_config (ingest.config) so a spec
built another way cannot reach the sync without the repositories it needs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ingest.sources.github.auth import AppSettings, app_problems

if TYPE_CHECKING:
    from dora.config import SourceSpec

REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


def github_config_problems(spec: SourceSpec) -> list[str]:
    """What is wrong with a github source spec (empty when nothing is).

    A GitHub App's key is read here too (its variable set, its file readable, a PEM key that
    can sign), so a missing secret shows when the file is applied, not at the first sync.
    """
    where = f"sources.{spec.name}"
    if spec.app_id is not None:
        if spec.token_env:
            return [f"{where}: give token_env (a token) or app_id (a GitHub App), not both"]
        if not spec.private_key_env and not spec.private_key_file:
            return [f"{where}: a GitHub App needs private_key_env or private_key_file"]
        settings = AppSettings(
            app_id=spec.app_id,
            installation_id=spec.installation_id,
            private_key_env=spec.private_key_env or "",
            private_key_file=spec.private_key_file or "",
        )
        if problems := app_problems(settings):
            return [f"{where}: GitHub App {spec.app_id}: {problem}" for problem in problems]
    if spec.org and spec.repos:
        return [f"{where}: give org or repos, not both (org reads every repository of it)"]
    if not spec.org and not spec.repos:
        return [f"{where}: give org (every repository of it) or repos: [owner/name]"]
    return [
        f"{where}.repos[{i}]: {repo!r} is not owner/name"
        for i, repo in enumerate(spec.repos)
        if not REPO_NAME.match(repo)
    ]
