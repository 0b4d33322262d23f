"""Which of an organisation's repositories a source reads: archived, forks, include/exclude globs.

Pure: takes the REST repository objects (GET /orgs/{org}/repos, or GET /installation/repositories'
`repositories`), returns the full names to read and, for the others, why not. A pattern with a
slash is matched against `owner/name`, one without against the name alone (fnmatch, case
sensitive, as GitHub names are case-preserving): `svc-*`, `acme/web-?`. With `include`, only
matching repositories are read; `exclude` then removes matches.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any


def _matches(patterns: Iterable[str], full_name: str) -> str | None:
    name = full_name.split("/", 1)[-1]
    for pattern in patterns:
        if fnmatchcase(full_name if "/" in pattern else name, pattern):
            return pattern
    return None


def repositories_select(
    repositories: Iterable[Mapping[str, Any]], *, org: str, rules: Mapping[str, Any]
) -> tuple[list[str], dict[str, str]]:
    """(full names to read, in the listed order; {full name: why it is left out})."""
    include = list(rules.get("include") or ())
    exclude = list(rules.get("exclude") or ())
    selected: list[str] = []
    skipped: dict[str, str] = {}
    for repo in repositories:
        full_name = repo["full_name"]
        owner = full_name.split("/", 1)[0]
        if owner.lower() != org.lower():
            # An App installed on a user account or another org lists those too.
            skipped[full_name] = f"not in {org}"
        elif repo.get("archived") and not rules.get("include_archived"):
            skipped[full_name] = "archived"
        elif repo.get("fork") and not rules.get("include_forks"):
            skipped[full_name] = "fork"
        elif include and _matches(include, full_name) is None:
            skipped[full_name] = "matches no include pattern"
        elif (pattern := _matches(exclude, full_name)) is not None:
            skipped[full_name] = f"excluded by {pattern}"
        elif full_name not in selected:
            selected.append(full_name)
    return selected, skipped
