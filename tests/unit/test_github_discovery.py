"""Which of an organisation's repositories a source reads (ingest.sources.github.discovery)."""

from __future__ import annotations

from ingest.sources.github.discovery import repositories_select


def repo(full_name: str, **flags: bool) -> dict[str, object]:
    return {"full_name": full_name, "archived": False, "fork": False, **flags}


def test_discovery_globs_match_the_name_or_owner_and_name() -> None:
    listed = [repo("acme/svc-api"), repo("acme/web"), repo("acme/svc-old", archived=True)]
    assert repositories_select(listed, org="acme", rules={}) == (
        ["acme/svc-api", "acme/web"],
        {"acme/svc-old": "archived"},
    )
    # A pattern holding a slash is matched against owner/name; "svc-*" alone against the name.
    assert repositories_select(listed, org="acme", rules={"include": ["acme/w*"]})[0] == [
        "acme/web"
    ]
    assert repositories_select(listed, org="acme", rules={"include": ["acme-*"]})[0] == []
    assert repositories_select(
        listed, org="ACME", rules={"exclude": ["svc-*"], "include_archived": True}
    ) == (
        ["acme/web"],
        {"acme/svc-api": "excluded by svc-*", "acme/svc-old": "excluded by svc-*"},
    )


def test_discovery_keeps_forks_only_when_asked() -> None:
    listed = [repo("acme/fork", fork=True), repo("acme/fork", fork=True)]
    assert repositories_select(listed, org="acme", rules={}) == ([], {"acme/fork": "fork"})
    assert repositories_select(listed, org="acme", rules={"include_forks": True}) == (
        ["acme/fork"],  # listed twice (a page boundary moved): read once
        {},
    )
