"""Reads on a real streaming replica (DATABASE_REPLICA_URL, dora.db_router): a private primary and
a pg_basebackup replica of it (tests/pg_clusters.py), and two gunicorn servers reading through it:
"lenient" allows an hour of lag and measures the replica once (so it meets the replica's death
mid-request), "strict" allows none and measures on every read scope.

The proof that reads go to the replica: with its replay paused, an event written on the primary
is missing from the lenient server's metrics (the replica's older state) and present in the
strict one's (lagging replica: the primary). Then the replica stops: both read on the primary,
200s, and the gate and intake never noticed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.pg_clusters import (
    Cluster,
    Clusters,
    primary_and_replica,
    replica_catch_up,
    replica_receive,
    server_bin,
)
from tests.servers import ROOT, Gunicorn, gunicorn_serving

NOW = datetime.now(UTC).replace(microsecond=0)
SINCE = (NOW - timedelta(days=30)).date().isoformat()
ITEMS = f"/api/v1/metrics/deployment_frequency/items?service=checkout&since={SINCE}"
PAGE = "/dashboards/service?service=checkout"
REQUIRED = os.environ.get("CI") == "true" or os.environ.get("DORA_REQUIRE_REPLICA_TEST") == "1"
SETUP = """
from dora.config import config_apply, config_load
from dora.models import ApiToken
config_apply(config_load('''
teams:
  - name: payments
services:
  - name: checkout
    team: payments
environments:
  - name: staging
    tier: staging
  - name: production
    tier: production
'''))
print(" ".join(ApiToken.issue(name=s, scope=s)[1] for s in ("ingest", "gate", "read")))
"""


def deploy(version: str, *, days: float, environment: str = "production") -> dict[str, Any]:
    moment = (NOW - timedelta(days=days)).isoformat().replace("+00:00", "Z")
    return {
        "type": "deployment",
        "id": f"{environment}-{version}",
        "service": "checkout",
        "environment": environment,
        "target": "eu",
        "version": version,
        "status": "success",
        "finished_at": moment,
    }


def call(
    server: Gunicorn, path: str, token: str = "", body: Any = None
) -> tuple[int, dict[str, Any] | str]:
    request = urllib.request.Request(  # noqa: S310 - loopback
        server.url + path,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"}
        | ({"Authorization": f"Bearer {token}"} if token else {}),
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            status, raw = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read().decode()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(  # noqa: S603 - this repository's manage.py
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def clusters() -> Iterator[tuple[Clusters, Cluster, Cluster]]:
    bin_dir = server_bin()
    if bin_dir is None:
        reason = "needs the PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup)"
        if REQUIRED:
            pytest.fail(f"{reason}; required in CI (apt-get install postgresql)")
        pytest.skip(f"{reason}: apt-get install postgresql")
    with primary_and_replica(bin_dir) as running:
        yield running


def test_reads_go_to_the_replica_fall_back_when_it_lags_or_dies_gate_unaffected(
    clusters: tuple[Clusters, Cluster, Cluster], tmp_path: Path
) -> None:
    pg, primary, replica = clusters
    with primary.connect() as conn:
        conn.execute("CREATE DATABASE dora")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "dora.settings",
        "DJANGO_SECRET_KEY": "test-only-not-secret",
        "DATABASE_URL": primary.url("dora"),
        "CELERY_BROKER_URL": "",  # no broker: derivation runs at intake
        "CELERY_RESULT_BACKEND": "",
        "DORA_CACHE_URL": "",
        "DORA_DASHBOARD_CACHE_SECONDS": "0",  # every page read computed afresh
        "DORA_PUBLIC_DASHBOARDS": "1",
    }
    env.pop("DATABASE_REPLICA_URL", None)
    manage(env, "migrate", "--verbosity", "0")
    ingest, gate, read = manage(env, "shell", "-c", SETUP).splitlines()[-1].split()
    served = {**env, "DATABASE_REPLICA_URL": replica.url("dora")}
    lenient_env = {"DORA_REPLICA_MAX_LAG": "3600", "DORA_REPLICA_CHECK_SECONDS": "3600"}
    strict_env = {"DORA_REPLICA_MAX_LAG": "0", "DORA_REPLICA_CHECK_SECONDS": "0"}

    with (
        gunicorn_serving(served | lenient_env, tmp_path / "lenient.log") as lenient,
        gunicorn_serving(served | strict_env, tmp_path / "strict.log") as strict,
    ):

        def count(server: Gunicorn) -> int:
            status, body = call(server, ITEMS, read)
            assert status == 200, body
            assert isinstance(body, dict)
            return body["count"]

        def replica_detail(server: Gunicorn) -> str:
            status, body = call(server, "/readyz?component=replica", read)
            assert status == 200, body  # never a failure: reads fall back to the primary
            assert isinstance(body, dict)
            return body["detail"]["replica"]

        def send(*events: dict[str, Any]) -> None:
            status, body = call(lenient, "/api/v1/events", ingest, list(events))
            assert status in (200, 201, 202), body

        send(
            deploy("v1", days=3), deploy("v2", days=2), deploy("v3", days=1, environment="staging")
        )
        replica_catch_up(primary, replica)

        # Caught up: both read the replica's (the primary's) two production deployments.
        assert (count(lenient), count(strict)) == (2, 2)
        assert replica_detail(strict).startswith("ok: replay 0.0 s behind")

        # Replay paused, a third deployment on the primary: the lenient server reads the
        # replica's older state, the strict one finds the replica lagging and reads the primary.
        with replica.connect("dora") as conn:
            conn.execute("SELECT pg_wal_replay_pause()")
        send(deploy("v3", days=0.5))
        replica_receive(primary, replica)
        assert count(lenient) == 2
        assert count(strict) == 3
        assert replica_detail(strict).startswith(
            "reading on the primary instead: the replica is lagging"
        )
        assert call(lenient, PAGE)[0] == 200
        assert call(strict, PAGE)[0] == 200

        # Replay resumed: the replica catches up, and the lenient server sees it there.
        with replica.connect("dora") as conn:
            conn.execute("SELECT pg_wal_replay_resume()")
        replica_catch_up(primary, replica)
        assert count(lenient) == 3

        # The replica stops. The lenient server still takes it for usable (measured an hour
        # ago as far as it knows): its read fails mid-request and runs again on the primary.
        pg.stop(replica)
        send(deploy("v4", days=0.25))
        assert (count(lenient), count(strict)) == (4, 4)
        for server in (lenient, strict):
            status, page = call(server, PAGE)
            assert status == 200, page
            assert replica_detail(server).startswith(
                "reading on the primary instead: the replica is down"
            )
        status, decision = call(
            strict,
            "/api/v1/gates/promotion",
            gate,
            {"service": "checkout", "version": "v3", "from": "staging", "to": "production"},
        )
        assert status == 200, decision
        assert isinstance(decision, dict)
        assert (decision["service"], decision["version"]) == ("checkout", "v3")
    for log in ("lenient.log", "strict.log"):
        assert "Traceback" not in (tmp_path / log).read_text(errors="replace")
