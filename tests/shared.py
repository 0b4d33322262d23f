"""Where the shared real-payload fixtures live: tests/fixtures/shared, a copy of the team's
../shared/fixtures (captured GitHub, GitLab, PagerDuty and Opsgenie payloads and signature test
vectors), so that a clone anywhere runs the tests. test_shared_fixtures.py checks the copy still
matches the team's folder when that folder is beside the repository.

DORA_SHARED_FIXTURES points elsewhere. Tests replaying them fail with this message rather than
skip: a missing fixture must not pass silently.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = Path(
    os.environ.get("DORA_SHARED_FIXTURES") or ROOT / "tests" / "fixtures" / "shared"
)
TEAM_FIXTURES = ROOT.parent / "shared" / "fixtures"  # the originals, when they are beside us


def shared_fixture(*parts: str) -> Path:
    path = SHARED_FIXTURES.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the shared fixtures are expected at {SHARED_FIXTURES} "
            "(set DORA_SHARED_FIXTURES to their folder)"
        )
    return path
