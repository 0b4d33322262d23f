"""The `sources:` entry of kind git: where the repository is, and what the file reader cannot
check (a URL's protocol, an absolute path, revision names that git could read as options).

Only these transports are used: file, https, ssh (also as `user@host:path`) and git; the clone
and fetch pass them to git as `protocol.<name>.allow` (ingest.sources.git.sync), so a remote
helper such as `ext::` can never run a command.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from dora.config import SourceSpec

PROTOCOLS = ("file", "https", "ssh", "git")
# scp-like ssh syntax, git's own rule: no "://", a colon before any slash (user@host:path).
_SCP = re.compile(r"^(?:[A-Za-z0-9._~-]+@)?[A-Za-z0-9.-]+:(?!/)")
_BAD_TEXT = re.compile(r"[\x00-\x1f\x7f]")


def location_is_url(location: str) -> bool:
    """A clone URL (`scheme://...` or `user@host:path`) rather than a path read in place."""
    return "://" in location or bool(_SCP.match(location))


def git_url_problem(url: str) -> str | None:
    """Why the worker will not clone from `url`, or None."""
    if url.startswith("-"):
        return f"url {url!r} starts with '-' (git would read it as an option)"
    if _BAD_TEXT.search(url):
        return "url holds a control character"
    if "::" in url.split("/", 1)[0]:
        return f"url {url!r}: remote helpers (<transport>::<address>) are not used"
    if "://" not in url:
        if _SCP.match(url):
            return None  # ssh, scp-like
        return (
            f"url {url!r} is not a clone URL (file://, https://, ssh://, git:// or user@host:path)"
        )
    parts = urlsplit(url)
    if parts.password:  # checked first: the other messages quote the URL
        return (
            f"url of {parts.hostname}: a password in the URL; secrets are never in the file "
            "(use an ssh key, or a git credential helper on the worker)"
        )
    if parts.scheme not in PROTOCOLS:
        return (
            f"url {url!r}: the {parts.scheme or 'empty'} protocol is not used; give a file://, "
            "https://, ssh:// or git:// URL (or user@host:path)"
        )
    if parts.scheme != "file" and not parts.hostname:
        return f"url {url!r} names no host"
    return None


def git_path_problem(path: str) -> str | None:
    """Why `path` cannot be a repository the worker reads in place, or None."""
    if _BAD_TEXT.search(path):
        return "path holds a control character"
    if not path.startswith("/"):
        return f"path {path!r} is not absolute (the worker's directory is not the file's)"
    return None


def git_location_problem(location: str) -> str | None:
    """The Source row's `location`: a clone URL or an absolute path."""
    if not location:
        return "Give a path the worker reads, or a clone URL."
    if location_is_url(location):
        return git_url_problem(location)
    return git_path_problem(location)


def git_revision_problem(rev: str) -> str | None:
    if not rev or rev.startswith("-") or _BAD_TEXT.search(rev) or " " in rev:
        return f"{rev!r} is not a branch or revision name (no spaces, not starting with '-')"
    return None


def git_config_problems(spec: SourceSpec) -> list[str]:
    """What is wrong with a git source spec (empty when nothing is)."""
    where = f"sources.{spec.name}"
    problems: list[str] = []
    if spec.path and spec.url:
        problems.append(f"{where}: give path or url, not both")
    elif not spec.path and not spec.url:
        problems.append(
            f"{where}: give path: (a repository the worker reads in place) or url: (one it clones)"
        )
    elif problem := (git_url_problem(spec.url) if spec.url else git_path_problem(spec.path or "")):
        problems.append(f"{where}: {problem}")
    if not spec.repo:
        problems.append(f"{where}: give repo: the repository's name, e.g. acme/shop")
    elif spec.repo.startswith("-") or any(c.isspace() for c in spec.repo):
        problems.append(f"{where}.repo: {spec.repo!r} is not a repository name")
    for i, rev in enumerate(spec.branches):
        if problem := git_revision_problem(rev):
            problems.append(f"{where}.branches[{i}]: {problem}")
    if spec.tags is not None:
        try:
            re.compile(spec.tags)
        except re.error as exc:
            problems.append(f"{where}.tags: not a valid regular expression: {exc}")
        if not spec.service:
            problems.append(f"{where}.tags: needs service: the service the tags deploy")
    return problems
