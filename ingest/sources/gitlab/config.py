"""The `sources:` entry of kind gitlab: what it must say beyond what the file reader checks.

The file reader (dora.config) reads `projects:` / `group:` into the spec; this is the
provider's own check, run again by apply_config (ingest.config) so a spec built another way
cannot reach the sync without the projects it needs.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dora.config import SourceSpec

# group/project, subgroups allowed: group/sub/project.
PROJECT_PATH = re.compile(r"^[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)+$")
DEFAULT_BASE_URL = "https://gitlab.com"


def gitlab_config_problems(spec: SourceSpec) -> list[str]:
    """What is wrong with a gitlab source spec (empty when nothing is)."""
    where = f"sources.{spec.name}"
    if spec.org or spec.repos:
        return [f"{where}: a gitlab source names group or projects, not org or repos"]
    if spec.group and spec.projects:
        return [f"{where}: give group or projects, not both (group reads every project of it)"]
    if not spec.group and not spec.projects:
        return [f"{where}: give group (every project of it) or projects: [group/project]"]
    return [
        f"{where}.projects[{i}]: {path!r} is not group/project"
        for i, path in enumerate(spec.projects)
        if not PROJECT_PATH.match(path)
    ]
