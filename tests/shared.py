"""Where the shared real-payload fixtures live: ../shared/fixtures beside the repository.

DORA_SHARED_FIXTURES points elsewhere (a checkout in another place). Tests replaying them fail
with this message rather than skip: a missing fixture must not pass silently.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED_FIXTURES = Path(
    os.environ.get("DORA_SHARED_FIXTURES") or ROOT.parent / "shared" / "fixtures"
)


def shared_fixture(*parts: str) -> Path:
    path = SHARED_FIXTURES.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing: the shared fixtures are expected at {SHARED_FIXTURES} "
            "(set DORA_SHARED_FIXTURES to their folder)"
        )
    return path
