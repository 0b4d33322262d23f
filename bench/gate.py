"""Promotion gate under load: `POST /api/v1/gates/promotion` against a trivial JSON view.

Starts the app under gunicorn on 127.0.0.1 against the bench estate of bench/metrics.py (500
services, ~2,000,000 deployments, infra stacks with automation runs; database
`dora_bench_metrics`, which this bench does not regenerate), and drives, with wrk and the Lua
script bench/gate.lua, first the trivial view `POST /bench/ping` (bench/gate_site.py: same
stack, token and body, constant answer) and then the gate, `--duration` seconds each after a
warm-up, at `--connections` concurrent clients. The gate's requests are a fixed mix from the
estate (each service's current staging version to production, some by sha, and older staging
versions that the gate blocks), rotated. Prints latency percentiles, requests/s, answers by
status, errors and CPU time per request (gunicorn and its PostgreSQL sessions, from /proc)
for both, and the gate/trivial throughput ratio against the targets; writes
bench/out/gate-<timestamp>.json. `--profile` instead profiles gate requests in-process
(cProfile, the statements per call site, each step's wall and CPU time, EXPLAIN ANALYZE of
each statement of one request). `--revision REV` measures a commit's dora/ (git worktree).

    .venv/bin/python bench/gate.py                    # 20 s each, 16 clients, 4 sync workers
    .venv/bin/python bench/gate.py --rounds 2 --think-ms 500 --revision HEAD
    .venv/bin/python bench/gate.py --worker-class gthread --workers 2 --worker-threads 4
    .venv/bin/python bench/gate.py --profile          # where a gate request's time goes

Everything the bench adds to the database is removed at the end: its token (`bench-gate`), the
decisions that token's requests stored, and its gate rule (see `--stale-after`).
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from intake import OUT, ROOT, child_env, code_version, machine_describe, manage, postgres_version

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/dora_bench_metrics"
# The gate's clock: the next full hour after the estate's last record (its history ends on
# 2026-11-02, bench/metrics.py), so every run, deployment and incident is in the past.
CLOCK_SQL = """
SELECT date_trunc('hour', greatest(
    (SELECT max(finished_at) FROM dora_automationrun),
    (SELECT max(finished_at) FROM dora_deployment),
    (SELECT max(greatest(opened_at, resolved_at)) FROM dora_incident)
)) + interval '1 hour'
"""
CLOCK = ""  # ISO time, set by clock_pick()
TOKEN_NAME = "bench-gate"
REQUESTED_BY = f"token:{TOKEN_NAME}"  # what the gate stores as requested_by for that token
GATE_PATH = "/api/v1/gates/promotion"
PING_PATH = "/bench/ping"
LUA = ROOT / "bench" / "gate.lua"
TARGETS = {"gate_p99_ms": 50.0, "throughput_ratio": 0.25}
CODE = ROOT  # the tree whose dora/ is measured: the working tree, or --revision's worktree

# The mix, from the estate at the clock: every service's newest successful staging deployment
# (its current version), the version three staging releases before it, one in four services.
MIX_SQL = """
SELECT s.id, s.name, cur.version, cur.sha, old.version
FROM dora_service s
CROSS JOIN LATERAL (
    SELECT d.version, d.sha FROM dora_deployment d
    WHERE d.service_id = s.id AND d.environment_id = %(env)s AND d.status = 'success'
      AND d.finished_at <= %(clock)s
    ORDER BY d.finished_at DESC, d.id DESC LIMIT 1
) cur
LEFT JOIN LATERAL (
    SELECT d.version FROM dora_deployment d
    WHERE d.service_id = s.id AND d.environment_id = %(env)s AND d.status = 'success'
      AND d.finished_at <= %(clock)s AND d.version <> cur.version
    ORDER BY d.finished_at DESC, d.id DESC OFFSET 2 LIMIT 1
) old ON true
ORDER BY s.id
"""


def log(message: str) -> None:
    print(message, flush=True)


# ---------------------------------------------------------------------------------------------
# The estate, the token, the rule, the requests
# ---------------------------------------------------------------------------------------------


def migrations_apply(url: str) -> None:
    """Apply the measured code's migrations the estate lacks (0008_gates: the gate's tables),
    but only committed ones: an uncommitted migration may still change, and the database would
    keep the old one as applied."""
    plan = manage(url, "showmigrations", "--plan", cwd=CODE)
    missing = [line.split()[-1] for line in plan.splitlines() if line.startswith("[ ]")]
    if not missing:
        return
    uncommitted = []
    for name in missing:
        app, _, migration = name.partition(".")
        path = f"{app}/migrations/{migration}.py"
        if (CODE / path).exists():
            tracked = (
                subprocess.run(
                    ["git", "ls-files", "--error-unmatch", path], cwd=CODE, capture_output=True
                ).returncode
                == 0
            )
            changed = (
                subprocess.run(
                    ["git", "diff", "--quiet", "HEAD", "--", path], cwd=CODE, capture_output=True
                ).returncode
                != 0
            )
            if not tracked or changed:
                uncommitted.append(name)
    if uncommitted:
        raise SystemExit(
            f"the estate lacks uncommitted migrations of the code measured: {uncommitted}; "
            "apply them yourself, or measure a commit with --revision HEAD"
        )
    log(f"   migrating the estate: {', '.join(missing)}")
    manage(url, "migrate", "--no-input", "-v", "0", cwd=CODE)


def estate_check(url: str) -> dict[str, Any]:
    """The bench estate is there and migrated for the gate (0008_gates); migrate if not."""
    with psycopg.connect(url) as conn:
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT relname FROM pg_class WHERE relname IN "
                "('dora_deployment', 'dora_service', 'django_migrations')"
            )
        }
        if len(tables) < 3:
            raise SystemExit(f"no bench estate in {url}: run bench/metrics.py first")
        deployments = conn.execute("SELECT count(*) FROM dora_deployment").fetchone()[0]  # type: ignore[index]
        services = conn.execute("SELECT count(*) FROM dora_service").fetchone()[0]  # type: ignore[index]
    if not deployments:
        raise SystemExit(f"the bench estate in {url} has no deployments: run bench/metrics.py")
    migrations_apply(url)
    return {"deployments": deployments, "services": services}


RULE_POSITION = -424242  # marks the bench's own rule (position only orders equal rules)


def bench_rows_delete(url: str) -> dict[str, int]:
    """Remove what a run of this bench adds: its decisions, its token, its rule."""
    with psycopg.connect(url) as conn:
        decisions = conn.execute(
            "DELETE FROM dora_gatedecision WHERE requested_by = %s", [REQUESTED_BY]
        ).rowcount
        tokens = conn.execute("DELETE FROM dora_apitoken WHERE name = %s", [TOKEN_NAME]).rowcount
        rules = conn.execute(
            "DELETE FROM dora_gaterule WHERE service = '' AND from_env = 'staging' "
            "AND to_env = 'production' AND position = %s",
            [RULE_POSITION],
        ).rowcount
    if decisions:
        # A run leaves tens of thousands of dead decision rows; until autovacuum comes by, the
        # gate decisions page (bench/pages.py) scans them all.
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) dora_gatedecision")
    return {"decisions": decisions, "tokens": tokens, "rules": rules}


def rule_add(url: str, stale_after: str) -> dict[str, Any] | None:
    """A staging -> production rule giving source_fresh a longer `stale_after`, or None."""
    if not stale_after:
        return None
    checks = {"source_fresh": {"stale_after": stale_after}}
    with psycopg.connect(url) as conn:
        existing = conn.execute(
            "SELECT checks FROM dora_gaterule WHERE service = '' AND from_env = 'staging' "
            "AND to_env = 'production'"
        ).fetchone()
        if existing:
            raise SystemExit(
                f"a gate rule for staging -> production exists ({existing[0]}); "
                "rerun with --stale-after '' to use the stored policy as it is"
            )
        conn.execute(
            "INSERT INTO dora_gaterule (service, from_env, to_env, checks, position) "
            "VALUES ('', 'staging', 'production', %s::jsonb, %s)",
            [json.dumps(checks), RULE_POSITION],
        )
    return checks


def clock_pick(url: str) -> str:
    global CLOCK
    with psycopg.connect(url) as conn:
        CLOCK = conn.execute(CLOCK_SQL).fetchone()[0].astimezone(UTC).isoformat()  # type: ignore[index]
    return CLOCK


def requests_build(url: str, source: str, destination: str) -> tuple[list[dict], dict[str, int]]:
    """The gate's requests: every service's current `source` version (by sha for one service
    in ten), and for one service in four an older `source` version. Shuffled with a fixed seed."""
    with psycopg.connect(url) as conn:
        env = conn.execute("SELECT id FROM dora_environment WHERE name = %s", [source]).fetchone()
        if env is None:
            raise SystemExit(f"no environment {source!r} in the estate")
        rows = conn.execute(MIX_SQL, {"env": env[0], "clock": datetime.fromisoformat(CLOCK)})
        rows = rows.fetchall()
    bodies: list[dict] = []
    mix = {"current_version": 0, "current_sha": 0, "older_version": 0}
    for service_id, name, version, sha, older in rows:
        base = {"service": name, "from": source, "to": destination}
        if service_id % 10 == 5 and sha:
            bodies.append({**base, "version": sha})
            mix["current_sha"] += 1
        else:
            bodies.append({**base, "version": version})
            mix["current_version"] += 1
        if service_id % 4 == 0 and older:
            bodies.append({**base, "version": older})
            mix["older_version"] += 1
    for n, body in enumerate(bodies):
        body["pipeline_run"] = f"https://ci.example.com/bench/{n}"
    random.Random(1).shuffle(bodies)
    return bodies, mix


def token_create(url: str) -> str:
    """A gate-scope token from `manage.py create_token` (printed once on stdout)."""
    return manage(url, "create_token", "--scope", "gate", "--name", TOKEN_NAME, cwd=CODE).strip()


def decisions_count(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT allowed, count(*) FROM dora_gatedecision WHERE requested_by = %s GROUP BY 1",
            [REQUESTED_BY],
        ).fetchall()
    found = {("allowed" if allowed else "blocked"): n for allowed, n in rows}
    return {"allowed": found.get("allowed", 0), "blocked": found.get("blocked", 0)}


def decisions_last(url: str) -> datetime | None:
    """The newest stored decision of the bench's token (its time is the shifted clock's)."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT max(evaluated_at) FROM dora_gatedecision WHERE requested_by = %s",
            [REQUESTED_BY],
        ).fetchone()[0]  # type: ignore[index]


def blocking_checks(url: str, after: datetime | None) -> dict[str, int]:
    """How often each check blocked, over the bench's decisions stored after `after`."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT c->>'name', count(*) FROM dora_gatedecision d, "
            "jsonb_array_elements(d.checks) c WHERE d.requested_by = %s "
            "AND d.evaluated_at > coalesce(%s, '-infinity'::timestamptz) "
            "AND c->>'passed' = 'false' AND c->>'severity' = 'block' GROUP BY 1 ORDER BY 2 DESC",
            [REQUESTED_BY, after],
        ).fetchall()
    return dict(rows)


# ---------------------------------------------------------------------------------------------
# The server and the load
# ---------------------------------------------------------------------------------------------


def port_free() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


APP_NAME = "bench-gate-server"  # the server's PostgreSQL sessions, for their CPU time


def server_env(url: str, epoch: float) -> dict[str, str]:
    env = child_env(url)
    sep = "&" if "?" in url else "?"
    env.update(
        {
            "DATABASE_URL": f"{url}{sep}application_name={APP_NAME}",
            # Persistent connections as in production, but not recycled every 60 s during a
            # run, so each backend's CPU time is read from the same process before and after.
            "CONN_MAX_AGE": "3600",
            "DJANGO_SETTINGS_MODULE": "gate_settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "DORA_LOG_LEVEL": "WARNING",
            "BENCH_GATE_CLOCK": CLOCK,
            "BENCH_GATE_EPOCH": repr(epoch),
            "PYTHONPATH": os.pathsep.join([str(CODE), str(ROOT / "bench")]),
        }
    )
    return env


def server_start(
    url: str, args: argparse.Namespace, port: int, logfile: Path, epoch: float
) -> subprocess.Popen:
    gunicorn = Path(sys.executable).with_name("gunicorn")
    command = [
        str(gunicorn),
        "gate_site:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(args.workers),
        "--worker-class",
        args.worker_class,
        "--threads",
        str(args.worker_threads),
        "--timeout",
        "60",
        "--log-level",
        "warning",
        # gunicorn 27 opens a control socket at ~/.gunicorn/gunicorn.ctl unless told where: its
        # own, so a bench and a test server (or two benches) can run at once.
        "--control-socket",
        str(logfile.with_suffix(".ctl")),
    ]
    handle = logfile.open("w")
    server = subprocess.Popen(
        command,
        cwd=CODE,
        env=server_env(url, epoch),
        stdout=handle,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    server.command = command  # type: ignore[attr-defined]
    return server


def server_wait(server: subprocess.Popen, port: int, token: str, logfile: Path) -> None:
    """Until the trivial view answers 200 through every layer (60 s at most)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited ({server.returncode}):\n{logfile.read_text()}")
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}{PING_PATH}",
            data=b"{}",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (local)
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise SystemExit(f"gunicorn did not answer in 60 s:\n{logfile.read_text()}")


def server_stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)  # gunicorn's graceful stop; the arbiter ends workers
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wrk_run(
    port: int,
    path: str,
    token: str,
    bodies: Path,
    seconds: float,
    args: argparse.Namespace,
    think_ms: float = 0.0,
) -> dict[str, Any]:
    command = [
        "wrk",
        f"-t{args.wrk_threads}",
        f"-c{args.connections}",
        f"-d{seconds:g}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        f"http://127.0.0.1:{port}",
        "--",
        path,
        token,
        str(bodies),
    ]
    env = dict(os.environ)
    env.pop("BENCH_THINK_MS", None)
    if think_ms:
        env["BENCH_THINK_MS"] = f"{think_ms:g}"
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(child.pid, 0)  # this child's own CPU time
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    returncode = os.waitstatus_to_exitcode(status)
    line = next((x for x in stdout.splitlines() if x.startswith("BENCH_JSON ")), None)
    if returncode != 0 or line is None:
        raise SystemExit(f"wrk failed ({returncode}):\n{stdout}\n{stderr}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    seconds_run = data["duration_us"] / 1e6
    latency = {k: round(v / 1000, 2) for k, v in data["latency_us"].items()}
    statuses = {int(k): v for k, v in data["statuses"].items()}
    errors = {k: v for k, v in data["errors"].items() if k != "status"}
    return {
        "path": path,
        "seconds": round(seconds_run, 2),
        "requests": data["requests"],
        "requests_per_s": round(data["requests"] / seconds_run, 1),
        "latency_ms": latency,
        "statuses": dict(sorted(statuses.items())),
        "non_2xx": sum(n for status, n in statuses.items() if not 200 <= status < 300),
        "socket_errors": errors,
        "think_ms": think_ms,
        "wrk_cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "wrk_output": stdout,
    }


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process, from /proc (None once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / _TICK


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def cpu_snapshot(url: str, server: subprocess.Popen) -> dict[str, dict[int, float]]:
    """CPU seconds so far of gunicorn (arbiter and workers) and of the server's PostgreSQL
    backends (found by application_name)."""
    with psycopg.connect(url) as conn:
        backends = [
            row[0]
            for row in conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [APP_NAME]
            )
        ]
    snapshot: dict[str, dict[int, float]] = {"app": {}, "db": {}}
    for kind, pids in (("app", [server.pid, *_children(server.pid)]), ("db", backends)):
        for pid in pids:
            cpu = _proc_cpu(pid)
            if cpu is not None:
                snapshot[kind][pid] = cpu
    return snapshot


def cpu_used(before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]) -> dict:
    """CPU seconds between two snapshots; a process that started in between counts from 0."""
    return {
        kind: round(sum(cpu - before[kind].get(pid, 0.0) for pid, cpu in after[kind].items()), 2)
        for kind in ("app", "db")
    }


# ---------------------------------------------------------------------------------------------
# Profile: where one gate request's time goes
# ---------------------------------------------------------------------------------------------


def _call_site() -> str:
    """The innermost frame in dora/ that issued a statement: file:line function."""
    frame = sys._getframe(2)
    base = str(CODE / "dora")
    while frame is not None:
        name = frame.f_code.co_filename
        if name.startswith(base):
            return f"{Path(name).relative_to(CODE)}:{frame.f_lineno} {frame.f_code.co_name}"
        frame = frame.f_back
    return "(outside dora/)"


def _plan_summary(plan: dict[str, Any]) -> dict[str, Any]:
    top = plan["Plan"]
    return {
        "planning_ms": round(plan.get("Planning Time", 0.0), 3),
        "execution_ms": round(plan.get("Execution Time", 0.0), 3),
        "top_node": top["Node Type"],
        "rows": top.get("Actual Rows"),
        "shared_hit": top.get("Shared Hit Blocks"),
        "shared_read": top.get("Shared Read Blocks"),
    }


def profile(url: str, token: str, bodies: list[dict], args: argparse.Namespace, stamp: str) -> int:
    """In-process: the gate's requests through Django's test client (the same middleware, DRF
    and view, without gunicorn and sockets), timed per statement and call site; a cProfile of
    the same requests; EXPLAIN (ANALYZE, BUFFERS) of each statement of the median request."""
    import cProfile
    import pstats

    env = server_env(url, time.time())
    env.pop("DJANGO_ALLOWED_HOSTS")  # the test client's host is in the default list
    os.environ.update(env)
    sys.path[:0] = [str(CODE), str(ROOT / "bench")]
    import gate_site  # noqa: F401  (Django set up, the clock at the estate's end)

    logging.getLogger("django.request").setLevel(logging.ERROR)  # not a line per 409
    from django.db import connection, transaction
    from django.test import Client

    client = Client(headers={"Authorization": f"Bearer {token}"})
    n = min(args.profile_requests, len(bodies))
    sample = bodies[:n]

    def post(path: str, body: dict) -> int:
        return client.post(path, data=json.dumps(body), content_type="application/json").status_code

    for body in sample[:20]:  # warm: imports, connections, the planner's catalogue caches
        post(GATE_PATH, body)
        post(PING_PATH, body)

    statements: list[tuple[str, float, str, Any]] = []

    def record(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        site = _call_site()
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            statements.append((site, time.perf_counter() - started, sql, params))

    # Each step of the gate, by wall time and by this thread's CPU time (Python; the rest of
    # its wall time is waiting for PostgreSQL). Wrapped on the modules, nothing in dora/ edited.
    import dora.api.gates as gate_view
    import dora.reads.promotion as promotion_module
    import dora.reads.promotion_instances as instances_module
    import dora.reads.promotion_policy as policy_module
    from dora import gates as gates_module

    steps: dict[str, list[tuple[float, float]]] = {}

    def timed(module: Any, name: str) -> None:
        original = getattr(module, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                steps.setdefault(name, []).append(
                    (time.perf_counter() - wall, time.thread_time() - cpu)
                )

        setattr(module, name, wrapper)

    timed(gate_view, "promotion_decide")
    # Every function of the promotion modules, wrapped wherever it is looked up (where defined
    # and where imported by name).
    family = (promotion_module, instances_module, policy_module)
    for module in family:
        for name, value in list(vars(module).items()):
            if (
                inspect.isfunction(value)
                and value.__module__ in {m.__name__ for m in family}
                and name not in ("promotion_decide", "decision_body", "checks_parse")
            ):
                timed(module, name)
    timed(gates_module, "promotion_evaluate")

    # Statements sent as prepared statements (dora.prepared, where the measured code has it)
    # bypass Django's cursor and its execute_wrapper: record them where they are called.
    prepared = sys.modules.get("dora.prepared")
    original_rows = getattr(prepared, "prepared_rows", None)
    if original_rows is not None:

        def prepared_recorded(sql: str, params: Any, *args: Any, **kwargs: Any) -> Any:
            site = _call_site()
            started = time.perf_counter()
            try:
                return original_rows(sql, params, *args, **kwargs)
            finally:
                statements.append((site, time.perf_counter() - started, sql, params))

        for module in list(sys.modules.values()):
            if getattr(module, "__name__", "").startswith("dora") and (
                getattr(module, "prepared_rows", None) is original_rows
            ):
                module.prepared_rows = prepared_recorded  # type: ignore[attr-defined]

    per_request: list[dict[str, Any]] = []
    for path in (PING_PATH, GATE_PATH):
        steps.clear()
        for body in sample:
            statements.clear()
            with connection.execute_wrapper(record):
                started, cpu = time.perf_counter(), time.thread_time()
                status = post(path, body)
                wall, cpu = time.perf_counter() - started, time.thread_time() - cpu
            per_request.append(
                {
                    "path": path,
                    "body": body,
                    "status": status,
                    "wall_s": wall,
                    "cpu_s": cpu,
                    "sql_s": sum(s[1] for s in statements),
                    "statements": list(statements),
                }
            )

    def summary(path: str) -> dict[str, Any]:
        rows = [r for r in per_request if r["path"] == path]
        walls = sorted(r["wall_s"] for r in rows)
        sql_s = [r["sql_s"] for r in rows]
        sites: dict[str, list[float]] = {}
        for r in rows:
            for site, seconds, _, _ in r["statements"]:
                sites.setdefault(site, []).append(seconds)
        return {
            "requests": len(rows),
            "statuses": {
                s: sum(r["status"] == s for r in rows) for s in {r["status"] for r in rows}
            },
            "wall_ms": {
                "p50": round(statistics.median(walls) * 1e3, 2),
                "p90": round(walls[int(len(walls) * 0.9)] * 1e3, 2),
                "max": round(walls[-1] * 1e3, 2),
            },
            "python_cpu_ms_median": round(statistics.median(r["cpu_s"] for r in rows) * 1e3, 2),
            "sql_ms_median": round(statistics.median(sql_s) * 1e3, 2),
            "statements_per_request": round(sum(len(r["statements"]) for r in rows) / len(rows), 1),
            "sites": [
                {
                    "site": site,
                    "per_request": round(len(times) / len(rows), 2),
                    "median_ms": round(statistics.median(times) * 1e3, 3),
                    "p90_ms": round(sorted(times)[int(len(times) * 0.9)] * 1e3, 3),
                    "share_of_sql": round(sum(times) / sum(sql_s), 3),
                }
                for site, times in sorted(sites.items(), key=lambda kv: -sum(kv[1]))
            ],
        }

    result: dict[str, Any] = {"trivial": summary(PING_PATH), "gate": summary(GATE_PATH)}
    n_gate = len(sample)
    result["gate"]["steps"] = [
        {
            "step": name,
            "calls_per_request": round(len(calls) / n_gate, 2),
            "wall_ms_per_request": round(sum(c[0] for c in calls) * 1e3 / n_gate, 2),
            "python_cpu_ms_per_request": round(sum(c[1] for c in calls) * 1e3 / n_gate, 2),
        }
        for name, calls in steps.items()
    ]
    for name in ("trivial", "gate"):
        s = result[name]
        log(
            f"== {name}: {s['requests']} requests in-process, wall p50 {s['wall_ms']['p50']} ms "
            f"p90 {s['wall_ms']['p90']} ms, Python CPU median {s['python_cpu_ms_median']} ms, "
            f"SQL median {s['sql_ms_median']} ms, "
            f"{s['statements_per_request']} statements a request, answers {s['statuses']}"
        )
        for site in s["sites"]:
            log(
                f"   {site['per_request']:>4}x  median {site['median_ms']:7.3f} ms  "
                f"p90 {site['p90_ms']:7.3f} ms  {site['share_of_sql']:6.1%} of SQL  {site['site']}"
            )

    log("== the gate's steps, mean per request: wall ms (Python CPU ms; the rest is waiting)")
    for step in result["gate"]["steps"]:
        log(
            f"   {step['wall_ms_per_request']:7.2f} ({step['python_cpu_ms_per_request']:6.2f})  "
            f"{step['step']} x{step['calls_per_request']:g}"
        )

    # EXPLAIN ANALYZE each statement of the median gate request (warm: run twice, keep the
    # second); writes inside a rolled-back transaction.
    gates_rows = sorted(
        (r for r in per_request if r["path"] == GATE_PATH), key=lambda r: r["wall_s"]
    )
    median = gates_rows[len(gates_rows) // 2]
    log(f"== EXPLAIN ANALYZE of the median gate request: {json.dumps(median['body'])}")
    explained = []
    for site, seconds, sql, params in median["statements"]:
        if "INSERT INTO" in sql.upper():
            # The stored decision's own row: re-running it would collide on its id.
            log(f"   {seconds * 1e3:7.3f} ms client, a one-row INSERT (not re-run)  {site}")
            explained.append({"site": site, "client_ms": round(seconds * 1e3, 3), "sql": sql})
            continue
        plans: list[Any] = []
        for fmt in ("JSON", "JSON", "TEXT"):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT {fmt}) {sql}", params)
                plans.append(cursor.fetchall())
                transaction.set_rollback(True)
        plan = plans[1][0][0][0]
        item = {
            "site": site,
            "client_ms": round(seconds * 1e3, 3),
            **_plan_summary(plan),
            "sql": sql,
            "plan_text": "\n".join(row[0] for row in plans[2]),
        }
        explained.append(item)
        log(
            f"   {item['client_ms']:7.3f} ms client, plan {item['planning_ms']:6.3f} + exec "
            f"{item['execution_ms']:7.3f} ms, {item['top_node']}, rows {item['rows']}, "
            f"hit {item['shared_hit']} read {item['shared_read']}  {site}"
        )
    result["explain"] = {"body": median["body"], "statements": explained}

    prof_path = OUT / f"gate-profile-{stamp}.prof"
    profiler = cProfile.Profile()
    profiler.enable()
    for body in sample:
        post(GATE_PATH, body)
    profiler.disable()
    profiler.dump_stats(str(prof_path))
    stats = pstats.Stats(str(prof_path))
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(20)
    result["cprofile"] = str(prof_path.relative_to(ROOT))
    for row in per_request:
        row["statements"] = [(s[0], round(s[1] * 1e3, 3)) for s in row["statements"]]
    result["per_request"] = per_request
    return_path = OUT / f"gate-profile-{stamp}.json"
    return_path.write_text(json.dumps(result, indent=2, default=str) + "\n")
    log(f"wrote {return_path.relative_to(ROOT)} and {prof_path.relative_to(ROOT)}")
    return 0


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def endpoint_summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One run's figures, or the median of each over the rounds."""

    def med(key: str, sub: str | None = None) -> float:
        values = [r[key][sub] if sub else r[key] for r in runs]
        return round(statistics.median(values), 2)

    statuses: dict[int, int] = {}
    for run in runs:
        for status, n in run["statuses"].items():
            statuses[status] = statuses.get(status, 0) + n
    return {
        "runs": len(runs),
        "requests": sum(r["requests"] for r in runs),
        "requests_per_s": med("requests_per_s"),
        "p50_ms": med("latency_ms", "p50"),
        "p90_ms": med("latency_ms", "p90"),
        "p99_ms": med("latency_ms", "p99"),
        "max_ms": max(r["latency_ms"]["max"] for r in runs),
        "statuses": dict(sorted(statuses.items())),
        "non_2xx": sum(r["non_2xx"] for r in runs),
        "socket_errors": sum(sum(r["socket_errors"].values()) for r in runs),
        "cpu_ms_per_request": {
            kind: med("cpu_ms_per_request", kind) for kind in ("app", "db", "total")
        },
    }


def table_format(rows: list[tuple[str, dict[str, Any], list[list[float]]]]) -> str:
    lines = [
        "| endpoint | requests | req/s | p50 ms | p90 ms | p99 ms | max ms | answers "
        "| socket errors | CPU ms/request: app + PostgreSQL | load 1m before / after |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|",
    ]
    for name, s, loads in rows:
        answers = ", ".join(f"{n:,} x {status}" for status, n in s["statuses"].items())
        load = "; ".join(f"{before:.2f} / {after:.2f}" for before, after in loads)
        cpu = s["cpu_ms_per_request"]
        lines.append(
            f"| {name} | {s['requests']:,} | {s['requests_per_s']:,.1f} | {s['p50_ms']:.1f} "
            f"| {s['p90_ms']:.1f} | {s['p99_ms']:.1f} | {s['max_ms']:.1f} | {answers} "
            f"| {s['socket_errors']} | {cpu['app']:.1f} + {cpu['db']:.1f} = {cpu['total']:.1f} "
            f"| {load} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per measured run")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds per endpoint, first")
    parser.add_argument("--connections", type=int, default=16, help="concurrent clients")
    parser.add_argument("--rounds", type=int, default=1, help="trivial+gate runs, order swapped")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--worker-class", default="sync", choices=("sync", "gthread"))
    parser.add_argument("--worker-threads", type=int, default=1, help="threads a gthread worker")
    parser.add_argument(
        "--stale-after",
        default="30d",
        help="source_fresh's stale_after in a staging -> production rule added for the run "
        "('' keeps the stored policy: the estate's infra stacks then block every promotion)",
    )
    parser.add_argument(
        "--think-ms",
        type=float,
        default=0.0,
        help="then one more gate run whose clients wait 0 to 2x this between requests",
    )
    parser.add_argument("--keep", action="store_true", help="keep the decisions and token")
    parser.add_argument("--profile", action="store_true", help="profile in-process instead")
    parser.add_argument("--profile-requests", type=int, default=100)
    parser.add_argument(
        "--revision", help="measure this commit's dora/ (a temporary git worktree), not the tree's"
    )
    args = parser.parse_args()
    if not args.revision:
        return run(args)
    global CODE
    with tempfile.TemporaryDirectory(prefix="bench-gate-") as scratch:
        CODE = Path(scratch) / "rev"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-q", str(CODE), args.revision],
            cwd=ROOT,
            check=True,
        )
        try:
            return run(args)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(CODE)], cwd=ROOT)


def run(args: argparse.Namespace) -> int:

    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    url = args.database_url
    if not args.profile and shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (Debian's package)")
    machine = machine_describe()
    from urllib.parse import urlsplit, urlunsplit

    machine["postgres"] = postgres_version(urlunsplit(urlsplit(url)._replace(path="/postgres")))
    if not args.profile:
        machine["wrk"] = subprocess.run(
            ["wrk", "--version"], capture_output=True, text=True, check=False
        ).stdout.splitlines()[0]
    code = code_version()
    if args.revision:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=CODE, capture_output=True, text=True, check=True
        ).stdout.strip()
        subject = subprocess.run(
            ["git", "log", "-1", "--format=%s"], cwd=CODE, capture_output=True, text=True
        ).stdout.strip()
        code = {"revision": args.revision, "git_commit": commit, "git_subject": subject}
    log(f"code: {code['git_commit'][:12]} {code['git_subject'][:80]}")
    log(
        f"machine: {machine['cpu_model']} x{machine['cpu_count']}, {machine['memory_gib']} GiB, "
        f"PostgreSQL {machine['postgres']}, load {load_avg()}"
    )
    estate = estate_check(url)
    log(f"estate: {estate['services']} services, {estate['deployments']:,} deployments")
    leftovers = bench_rows_delete(url)
    if any(leftovers.values()):
        log(f"   removed a previous run's leftovers: {leftovers}")
    clock_pick(url)
    bodies, mix = requests_build(url, "staging", "production")
    bodies_file = OUT / f"gate-{stamp}-bodies.jsonl"
    bodies_file.write_text("".join(json.dumps(b, separators=(",", ":")) + "\n" for b in bodies))
    log(f"requests: {len(bodies)} bodies rotated ({mix}), clock {CLOCK}")

    token = token_create(url)
    server: subprocess.Popen | None = None
    removed: dict[str, int] = {}
    runs: dict[str, list[dict[str, Any]]] = {}
    server_config: dict[str, Any] = {}
    try:
        rule = rule_add(url, args.stale_after)
        if rule:
            log(f"rule for the run: staging -> production {json.dumps(rule)}")
        if args.profile:
            return profile(url, token, bodies, args, stamp)
        port = port_free()
        logfile = OUT / f"gate-{stamp}-gunicorn.log"
        server = server_start(url, args, port, logfile, time.time())
        server_wait(server, port, token, logfile)
        server_config = {
            "command": server.command,  # type: ignore[attr-defined]
            "workers": args.workers,
            "worker_class": args.worker_class,
            "threads": args.worker_threads,
            "debug": False,
        }
        log(
            f"gunicorn: {args.workers} {args.worker_class} workers x {args.worker_threads} "
            f"thread(s) on 127.0.0.1:{port}; wrk {args.wrk_threads} threads, "
            f"{args.connections} connections"
        )
        for path in (PING_PATH, GATE_PATH):
            warm = wrk_run(port, path, token, bodies_file, args.warmup, args)
            log(f"   warm-up {path}: {warm['requests']} requests, {warm['statuses']}")

        def measure(name: str, path: str, think_ms: float = 0.0) -> None:
            last = decisions_last(url) if path == GATE_PATH else None
            before = decisions_count(url)
            load_before = os.getloadavg()[0]
            cpu_before = cpu_snapshot(url, server)
            run = wrk_run(port, path, token, bodies_file, args.duration, args, think_ms)
            cpu = cpu_used(cpu_before, cpu_snapshot(url, server))
            run["load_avg_1m"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
            run["cpu_s"] = cpu
            run["cpu_ms_per_request"] = {
                "app": round(cpu["app"] * 1e3 / run["requests"], 2),
                "db": round(cpu["db"] * 1e3 / run["requests"], 2),
                "total": round((cpu["app"] + cpu["db"]) * 1e3 / run["requests"], 2),
            }
            if path == GATE_PATH:
                after = decisions_count(url)
                run["decisions_stored"] = {k: after[k] - before[k] for k in after}
                run["blocking_checks"] = blocking_checks(url, last)
            runs.setdefault(name, []).append(run)
            lat, per = run["latency_ms"], run["cpu_ms_per_request"]
            log(
                f"== {name} ({path}{f', think {think_ms:g} ms' if think_ms else ''}): "
                f"{run['requests']:,} requests in {run['seconds']} s, "
                f"{run['requests_per_s']:,.1f}/s, p50 {lat['p50']} p90 {lat['p90']} "
                f"p99 {lat['p99']} max {lat['max']} ms, answers {run['statuses']}, "
                f"socket errors {run['socket_errors']}, load {run['load_avg_1m']}, "
                f"CPU ms/request app {per['app']} + PostgreSQL {per['db']}, "
                f"wrk {run['wrk_cpu_s']} s"
            )
            if path == GATE_PATH:
                log(f"   stored {run['decisions_stored']}; blocked by {run['blocking_checks']}")

        for r in range(args.rounds):
            order = [("trivial", PING_PATH), ("gate", GATE_PATH)]
            for name, path in order if r % 2 == 0 else order[::-1]:
                measure(name, path)
        if args.think_ms:
            measure("gate_paced", GATE_PATH, args.think_ms)
    finally:
        if server is not None:
            server_stop(server)
        if not args.keep:
            removed = bench_rows_delete(url)
            log(f"removed the bench's rows: {removed}")

    summary = {name: endpoint_summary(r) for name, r in runs.items()}
    ratio = summary["gate"]["requests_per_s"] / summary["trivial"]["requests_per_s"]
    met = {
        "gate_p99": summary["gate"]["p99_ms"] <= TARGETS["gate_p99_ms"],
        "throughput_ratio": ratio >= TARGETS["throughput_ratio"],
    }
    labels = {
        "trivial": f"trivial `{PING_PATH}`",
        "gate": f"gate `{GATE_PATH}`",
        "gate_paced": f"gate, think {args.think_ms:g} ms",
    }
    table = table_format(
        [(labels[n], summary[n], [r["load_avg_1m"] for r in runs[n]]) for n in summary]
    )
    cpu_ratio = (
        summary["trivial"]["cpu_ms_per_request"]["total"]
        / summary["gate"]["cpu_ms_per_request"]["total"]
    )
    log("")
    log(table)
    log("")
    p99 = summary["gate"]["p99_ms"]
    log(
        f"gate p99 {p99:.1f} ms (target <= {TARGETS['gate_p99_ms']:.0f} ms: "
        f"{'met' if met['gate_p99'] else 'MISSED'}, {p99 / TARGETS['gate_p99_ms']:.2f}x); "
        f"throughput gate/trivial {ratio:.3f} (target >= {TARGETS['throughput_ratio']}: "
        f"{'met' if met['throughput_ratio'] else 'MISSED'}); "
        f"by CPU per request (app + PostgreSQL), trivial/gate {cpu_ratio:.3f}"
    )
    unexpected = (
        sum(n for s, n in summary["gate"]["statuses"].items() if s not in (200, 409))
        + sum(n for s, n in summary["trivial"]["statuses"].items() if s != 200)
        + summary["gate"]["socket_errors"]
        + summary["trivial"]["socket_errors"]
    )
    if unexpected:
        log(f"UNEXPECTED: {unexpected} answers not 200/409 (gate) or 200 (trivial), or errors")
    result = {
        "benchmark": "gate",
        "started_at": stamp,
        "machine": machine,
        "load_avg_end": load_avg(),
        "code": code,
        "database_url": url,
        "estate": estate,
        "clock": CLOCK,
        "rule": args.stale_after and {"source_fresh": {"stale_after": args.stale_after}},
        "requests": {"bodies": len(bodies), "mix": mix, "file": str(bodies_file.relative_to(ROOT))},
        "server": server_config,
        "load": {
            "generator": "wrk + bench/gate.lua",
            "connections": args.connections,
            "wrk_threads": args.wrk_threads,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "rounds": args.rounds,
        },
        "targets": TARGETS,
        "summary": summary,
        "ratio": round(ratio, 3),
        "cpu_ratio": round(cpu_ratio, 3),
        "met": met,
        "runs": runs,
        "removed": removed,
        "table": table,
    }
    out = OUT / f"gate-{stamp}.json"
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    log(f"wrote {out.relative_to(ROOT)}")
    return 1 if unexpected or not all(met.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
