"""The repository's copy of the team's shared fixtures is the same as the originals."""

from __future__ import annotations

import pytest

from tests.shared import ROOT, TEAM_FIXTURES

COPY = ROOT / "tests" / "fixtures" / "shared"


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.skipif(not TEAM_FIXTURES.is_dir(), reason="no ../shared/fixtures beside the clone")
def test_the_copied_fixtures_match_the_team_folder() -> None:
    originals, copies = _files(TEAM_FIXTURES), _files(COPY)
    assert sorted(originals) == sorted(copies), "copy tests/fixtures/shared from ../shared again"
    changed = [str(path) for path in originals if originals[path] != copies[path]]
    assert changed == [], "copy tests/fixtures/shared from ../shared again"


def test_the_copy_holds_the_payloads_the_tests_replay() -> None:
    assert (COPY / "signature-vectors.json").is_file()
    assert any((COPY / "github" / "rest").glob("*.json"))
    assert any((COPY / "github" / "webhooks").rglob("*.json"))
