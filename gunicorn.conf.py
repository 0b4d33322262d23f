"""gunicorn's settings for dora.wsgi (gunicorn reads ./gunicorn.conf.py by itself; flags given
on the command line, or in GUNICORN_CMD_ARGS, override what is set here)."""

import os

# A worker that does not answer within `timeout` seconds is killed by gunicorn, and its client
# gets a dropped connection or gunicorn's own HTML error: never let that come first. The app's
# deadlines (dora/settings.py) end a request waiting on the database after
# DORA_REQUEST_TIMEOUT_SECONDS (45 by default; the promotion gate's after
# DORA_GATE_TIMEOUT_SECONDS), plus at most one connection attempt (DORA_DB_CONNECT_TIMEOUT),
# with a JSON 503 for the API; gunicorn waits longer than all of that.
_request = float(os.environ.get("DORA_REQUEST_TIMEOUT_SECONDS", "45"))
_gate = float(os.environ.get("DORA_GATE_TIMEOUT_SECONDS", "5"))
_connect = float(os.environ.get("DORA_DB_CONNECT_TIMEOUT", "3"))
timeout = int(max(_request, _gate) + _connect + 15)


def on_starting(server: object) -> None:
    """With PROMETHEUS_MULTIPROC_DIR: start the counters from zero, as a single process would;
    the previous run's workers' files (*.db) would otherwise be added to this run's. The
    directory is created when missing."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):
            if name.endswith(".db"):
                os.remove(os.path.join(folder, name))


def child_exit(server: object, worker: object) -> None:
    """A worker that exited: with PROMETHEUS_MULTIPROC_DIR (GET /metrics adds up every worker's
    counters from files there), mark its files dead so that its live gauges stop counting;
    its counters and histograms stay in the sums (docs/OPERATIONS.md, "Prometheus")."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[attr-defined]
