"""The Atlantis, Spacelift and env0 payloads of tests/fixtures/<provider> (see each README)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def infra_fixture_bytes(provider: str, name: str) -> bytes:
    return (FIXTURES / provider / name).read_bytes()


def infra_fixture(provider: str, name: str) -> dict[str, Any]:
    return json.loads(infra_fixture_bytes(provider, name))
