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


def test_child_exit_marks_a_dead_workers_prometheus_files(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """With PROMETHEUS_MULTIPROC_DIR, a dead worker's live-gauge files are removed (its
    counters' files stay: they are part of the totals); other workers' are kept."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for name in ("gauge_livesum_4242.db", "gauge_livesum_7.db", "counter_4242.db"):
        (tmp_path / name).write_bytes(b"")

    class Worker:
        pid = 4242

    runpy.run_path(str(CONF))["child_exit"](None, Worker())

    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter_4242.db", "gauge_livesum_7.db"]


def test_child_exit_without_multiprocess_dir_does_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    (tmp_path / "gauge_livesum_4242.db").write_bytes(b"")

    class Worker:
        pid = 4242

    runpy.run_path(str(CONF))["child_exit"](None, Worker())

    assert [p.name for p in tmp_path.iterdir()] == ["gauge_livesum_4242.db"]


def test_on_starting_empties_the_prometheus_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    folder = tmp_path / "prometheus"
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(folder))
    runpy.run_path(str(CONF))["on_starting"](None)  # created when missing
    (folder / "counter_12.db").write_bytes(b"")
    (folder / "README").write_text("not prometheus_client's")

    runpy.run_path(str(CONF))["on_starting"](None)

    assert [p.name for p in folder.iterdir()] == ["README"]
