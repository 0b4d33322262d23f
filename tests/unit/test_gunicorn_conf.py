"""gunicorn.conf.py: gunicorn never kills a worker before the app's own deadlines answer."""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest

CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"


@pytest.mark.parametrize(
    ("request_timeout", "gate_timeout", "connect_timeout"),
    [(None, None, None), ("120", "5", "3"), ("10", "30", "10")],
)
def test_gunicorn_timeout_is_above_every_deadline_plus_a_connect(
    monkeypatch: pytest.MonkeyPatch,
    request_timeout: str | None,
    gate_timeout: str | None,
    connect_timeout: str | None,
) -> None:
    for name, value in (
        ("DORA_REQUEST_TIMEOUT_SECONDS", request_timeout),
        ("DORA_GATE_TIMEOUT_SECONDS", gate_timeout),
        ("DORA_DB_CONNECT_TIMEOUT", connect_timeout),
    ):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)

    timeout = runpy.run_path(str(CONF))["timeout"]

    deadline = max(float(request_timeout or 45), float(gate_timeout or 5))
    assert timeout > deadline + float(connect_timeout or 3)


def test_the_web_service_and_the_image_use_the_config() -> None:
    root = CONF.parent
    for name in ("docker-compose.yml", "Dockerfile"):
        assert '"--config", "gunicorn.conf.py"' in (root / name).read_text(), name
