"""The checks of a git source's location and revisions (ingest.sources.git.config): no database."""

from __future__ import annotations

import pytest

from ingest.sources.git.config import (
    git_location_problem,
    git_revision_problem,
    location_is_url,
)


@pytest.mark.parametrize(
    ("location", "is_url"),
    [
        ("/srv/git/shop.git", False),
        ("file:///srv/git/shop.git", True),
        ("https://git.example.com/acme/shop.git", True),
        ("git@git.example.com:acme/shop.git", True),
        ("ssh://git@git.example.com/acme/shop.git", True),
    ],
)
def test_location_is_url(location: str, is_url: bool) -> None:
    assert location_is_url(location) is is_url


@pytest.mark.parametrize(
    "location",
    [
        "/srv/git/shop.git",
        "file:///srv/git/shop.git",
        "https://git.example.com/acme/shop.git",
        "git://git.example.com/acme/shop.git",
        "ssh://git@git.example.com:2222/acme/shop.git",
        "git@git.example.com:acme/shop.git",
    ],
)
def test_good_locations(location: str) -> None:
    assert git_location_problem(location) is None


@pytest.mark.parametrize(
    ("location", "says"),
    [
        ("", "Give a path the worker reads, or a clone URL."),
        ("srv/shop", "path 'srv/shop' is not absolute (the worker's directory is not the file's)"),
        ("http://h/r.git", "the http protocol is not used"),
        ("ftp://h/r.git", "the ftp protocol is not used"),
        ("ext::sh -c id", "remote helpers (<transport>::<address>) are not used"),
        ("https:///r.git", "names no host"),
        ("https://u:hunter2@h/r.git", "a password in the URL"),
        ("http://u:hunter2@h/r.git", "a password in the URL"),
        ("/srv/a\nb", "path holds a control character"),
    ],
)
def test_bad_locations(location: str, says: str) -> None:
    problem = git_location_problem(location)
    assert problem is not None and says in problem
    assert "hunter2" not in problem  # a password is never echoed


def test_a_url_starting_with_a_dash_is_refused() -> None:
    # Read as scp-like by the shape test, refused before git sees it.
    assert "starts with '-'" in (git_location_problem("-uhost:x") or "")


@pytest.mark.parametrize(
    ("rev", "ok"),
    [("main", True), ("release/1.x", True), ("HEAD", True), ("-p", False), ("a b", False)],
)
def test_revisions(rev: str, ok: bool) -> None:
    assert (git_revision_problem(rev) is None) is ok
