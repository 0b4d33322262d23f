"""Intake benchmark: `manage.py import_events` on a generated feed, against a bare COPY baseline.

For each scale (default N/4 and N, N = 100,000): write the feed (bench/generator.py, streamed),
recreate the database, migrate, apply the estate's configuration, time a bare COPY of the same
lines into a one-column jsonb table (the baseline), then time `manage.py import_events FILE
--quiet` in a subprocess (validation, upserts and derivation) and take the child's peak RSS
from wait4. Prints a table, sanity-checks the derived facts with SQL counts and writes
bench/out/intake-<timestamp>.json. `--profile` runs the import under cProfile instead.

    .venv/bin/python bench/intake.py                       # N = 100,000 and N/4
    .venv/bin/python bench/intake.py --events 10000 --scales 1
    .venv/bin/python bench/intake.py --events 20000 --profile
    .venv/bin/python bench/intake.py --no-running   # without the feed's 'running' deployment
                                                    # reports (see bench/README.md)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import pstats
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from generator import FEED_VERSION, config_yaml, feed_write
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/dora_bench"
TARGET_EVENTS_PER_S = 5000
SUMMARY_RE = re.compile(
    r"(?P<total>\d+) events: (?P<created>\d+) created, (?P<updated>\d+) updated, "
    r"(?P<unchanged>\d+) unchanged, (?P<rejected>\d+) rejected in (?P<seconds>[\d.]+)s"
)

# Derived facts and records, counted after the import (table names are Django's defaults).
SANITY_SQL: dict[str, str] = {
    "raw_events": "SELECT count(*) FROM dora_rawevent",
    "commits": "SELECT count(*) FROM dora_commit",
    "changes": "SELECT count(*) FROM dora_change",
    "changes_merged": "SELECT count(*) FROM dora_change WHERE merged_at IS NOT NULL",
    "pipeline_runs": "SELECT count(*) FROM dora_pipelinerun",
    "deployments": "SELECT count(*) FROM dora_deployment",
    "deployments_in_rollouts": "SELECT count(*) FROM dora_deployment WHERE rollout_id IS NOT NULL",
    "incidents": "SELECT count(*) FROM dora_incident",
    "automation_runs": "SELECT count(*) FROM dora_automationrun",
    "services": "SELECT count(*) FROM dora_service",
    "targets": "SELECT count(*) FROM dora_target",
    "rollouts": "SELECT count(*) FROM dora_rollout",
    "rollouts_production": (
        "SELECT count(*) FROM dora_rollout r JOIN dora_environment e ON e.id = r.environment_id "
        "WHERE e.tier = 'production'"
    ),
    "rollout_commits": "SELECT count(*) FROM dora_rolloutcommit",
    "rollout_commits_in_scope": "SELECT count(*) FROM dora_rolloutcommit WHERE in_scope",
    "rollouts_incomplete_change_set": (
        "SELECT count(*) FROM dora_rollout WHERE NOT change_set_complete"
    ),
    "missing_commits": "SELECT count(*) FROM dora_missingcommit",
    "change_arrivals": "SELECT count(*) FROM dora_changearrival",
    "change_arrivals_of_prs": "SELECT count(*) FROM dora_changearrival WHERE change_id IS NOT NULL",
    "change_arrivals_production": (
        "SELECT count(*) FROM dora_changearrival a JOIN dora_environment e "
        "ON e.id = a.environment_id WHERE e.tier = 'production'"
    ),
    "merged_changes_arrived_in_production": (
        "SELECT count(DISTINCT a.change_id) FROM dora_changearrival a JOIN dora_environment e "
        "ON e.id = a.environment_id WHERE e.tier = 'production' AND a.change_id IS NOT NULL"
    ),
    "rollout_targets": "SELECT count(*) FROM dora_rollouttarget",
    "failure_links": "SELECT count(*) FROM dora_failurelink",
    "rollouts_failed": "SELECT count(*) FROM dora_rollout WHERE failure <> ''",
    "rollouts_remediation": "SELECT count(*) FROM dora_rollout WHERE remediation",
}
GROUPED_SQL: dict[str, str] = {
    "rollouts_by_kind": "SELECT kind, count(*) FROM dora_rollout GROUP BY 1 ORDER BY 1",
    "failure_links_by_cause": (
        "SELECT cause || '/' || status, count(*) FROM dora_failurelink GROUP BY 1 ORDER BY 1"
    ),
}


# ---------------------------------------------------------------------------------------------
# Machine and versions
# ---------------------------------------------------------------------------------------------


def machine_describe() -> dict[str, Any]:
    model, memory_kb = "", 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kb = int(line.split()[1])
    except OSError:
        pass
    return {
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "memory_gib": round(memory_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
    }


def code_version() -> dict[str, Any]:
    """The commit measured, and whether the intake code differs from it (others edit the tree)."""

    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return result.stdout.strip()

    return {
        "git_commit": git("rev-parse", "HEAD"),
        "git_subject": git("log", "-1", "--format=%s"),
        "dora_modified": git("status", "--porcelain", "--", "dora", "ingest").splitlines(),
    }


def postgres_version(url: str) -> str:
    with psycopg.connect(url) as conn:
        return str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]


# ---------------------------------------------------------------------------------------------
# Database and subprocesses
# ---------------------------------------------------------------------------------------------


def database_recreate(url: str) -> None:
    """Drop the benchmark database if it exists and create it empty."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name or name in ("postgres", "template0", "template1"):
        raise SystemExit(f"refusing to recreate database {name!r}; name a scratch database")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def child_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"DATABASE_URL": url, "DJANGO_DEBUG": "0", "PYTHONUNBUFFERED": "1"})
    env.setdefault("DJANGO_SECRET_KEY", "bench-only-not-a-secret")  # DEBUG off needs one
    env.pop("CELERY_BROKER_URL", None)  # intake never enqueues; keep the child self-contained
    return env


def run_measured(args: list[str], url: str) -> dict[str, Any]:
    """Run a child in ROOT; return exit code, wall seconds, peak RSS (MiB), stdout, stderr."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        child = subprocess.Popen(args, cwd=ROOT, env=child_env(url), stdout=out, stderr=err)
        # wait4 gives this child's own rusage (RUSAGE_CHILDREN would be the max over all children).
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return {
            "returncode": child.returncode,
            "seconds": seconds,
            "peak_rss_mb": usage.ru_maxrss / 1024,  # Linux: kilobytes
            "cpu_user_s": usage.ru_utime,
            "cpu_sys_s": usage.ru_stime,
            "stdout": out.read().decode("utf-8", "replace"),
            "stderr": err.read().decode("utf-8", "replace"),
        }


def manage(url: str, *args: str, cwd: Path = ROOT, pythonpath: Path | None = None) -> str:
    """Run a manage.py command that must succeed; return its stdout. `cwd` may be another
    checkout (its `dora` is imported); `pythonpath` adds a directory after it."""
    env = child_env(url)
    env["PYTHONPATH"] = os.pathsep.join(str(p) for p in (cwd, pythonpath) if p is not None)
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def database_prepare(url: str, *, config: bool) -> None:
    database_recreate(url)
    manage(url, "migrate", "--no-input", "-v", "0")
    if config:
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
            handle.write(config_yaml())
        try:
            manage(url, "apply_config", handle.name)
        finally:
            os.unlink(handle.name)


# ---------------------------------------------------------------------------------------------
# Baseline, import, sanity
# ---------------------------------------------------------------------------------------------


def baseline_copy(url: str, path: Path) -> dict[str, Any]:
    """Bare bulk load: the file's lines into a one-column jsonb table with COPY, in one commit."""
    with psycopg.connect(url) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_raw")
        conn.execute("CREATE TABLE bench_raw (doc jsonb NOT NULL)")
        conn.commit()
        started = time.perf_counter()
        with (
            conn.cursor() as cursor,
            cursor.copy("COPY bench_raw (doc) FROM STDIN") as copy,
            path.open("rb") as handle,
        ):
            # COPY text format: backslash is its escape character; JSON has no raw tabs/newlines.
            while chunk := handle.read(1 << 20):
                copy.write(chunk.replace(b"\\", b"\\\\"))
        conn.commit()
        seconds = time.perf_counter() - started
        rows = conn.execute("SELECT count(*) FROM bench_raw").fetchone()[0]  # type: ignore[index]
        conn.execute("DROP TABLE bench_raw")
        conn.commit()
    return {"seconds": seconds, "rows": rows}


def import_run(url: str, path: Path, extra: list[str]) -> dict[str, Any]:
    args = [sys.executable, "manage.py", "import_events", str(path), "--quiet", *extra]
    result = run_measured(args, url)
    match = SUMMARY_RE.search(result["stdout"])
    result["summary_line"] = result["stdout"].strip().splitlines()[-1] if result["stdout"] else ""
    result["counts"] = (
        {k: int(v) for k, v in match.groupdict().items() if k != "seconds"} if match else {}
    )
    result["command_seconds"] = float(match["seconds"]) if match else None
    result["rejections"] = result["stderr"].strip().splitlines()[:10]
    return result


def sanity_counts(url: str) -> dict[str, Any]:
    """SANITY_SQL and GROUPED_SQL; a query the schema no longer supports gives None."""
    counts: dict[str, Any] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for name, query in {**SANITY_SQL, **GROUPED_SQL}.items():
            try:
                rows = conn.execute(query).fetchall()
            except psycopg.Error:
                counts[name] = None  # e.g. a column the derivation no longer stores
                continue
            counts[name] = rows[0][0] if name in SANITY_SQL else {str(k): v for k, v in rows}
    return counts


# ---------------------------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------------------------


def table_print(rows: list[dict[str, Any]]) -> str:
    header = (
        f"{'N':>9} {'load':>9} {'import s':>9} {'events/s':>9} {'peak RSS MB':>12} "
        f"{'baseline s':>11} {'baseline ev/s':>14} {'ratio':>7} {'x slower':>9}  summary"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        c = row["counts"]
        load = "{:.1f}/{:.1f}".format(*row["load_avg_1m"])
        summary = (
            f"{c.get('created', '?')} created, {c.get('updated', '?')} updated, "
            f"{c.get('unchanged', '?')} unchanged, {c.get('rejected', '?')} rejected"
        )
        lines.append(
            f"{row['events']:>9,} {load:>9} "
            f"{row['seconds']:>9.1f} {row['events_per_s']:>9,.0f} "
            f"{row['peak_rss_mb']:>12.1f} {row['baseline_seconds']:>11.2f} "
            f"{row['baseline_events_per_s']:>14,.0f} {row['ratio']:>7.4f} "
            f"{row['slowdown']:>9.0f}  {summary}"
        )
    return "\n".join(lines)


def feed_path(n: int, seed: int, running: bool) -> Path:
    suffix = "" if running else "-norunning"
    return OUT / f"events-{n}-seed{seed}{suffix}-v{FEED_VERSION}.jsonl"


def scale_run(
    n: int, *, url: str, seed: int, config: bool, running: bool, import_args: list[str]
) -> dict[str, Any]:
    path = feed_path(n, seed, running)
    print(f"\n== N = {n:,}: generating {path.relative_to(ROOT)}", flush=True)
    started = time.perf_counter()
    feed = feed_write(path, events=n, seed=seed, running=running)
    mix = ", ".join(f"{k} {100 * v / feed['events']:.1f}%" for k, v in feed["mix"].items())
    print(
        f"   {feed['events']:,} events, {feed['bytes'] / 1e6:.1f} MB, {feed['first']} .. "
        f"{feed['last']} in {time.perf_counter() - started:.1f}s; {mix}",
        flush=True,
    )
    print("   recreating the database, migrate" + (", apply_config" if config else ""), flush=True)
    database_prepare(url, config=config)
    base = baseline_copy(url, path)
    print(f"   baseline COPY: {base['rows']:,} rows in {base['seconds']:.2f}s", flush=True)
    print("   import_events ...", flush=True)
    load_before = os.getloadavg()
    result = import_run(url, path, import_args)
    load_after = os.getloadavg()
    print(f"   {result['summary_line']}", flush=True)
    if result["returncode"] != 0:
        print(f"   import_events exited {result['returncode']}:", file=sys.stderr)
        print("\n".join(result["stderr"].splitlines()[-20:]), file=sys.stderr)
    sanity = sanity_counts(url)
    items = [f"{k} {v}" for k, v in sanity.items()]
    print("   sanity counts:")
    for start in range(0, len(items), 4):
        print("     " + ", ".join(items[start : start + 4]), flush=True)
    seconds = result["seconds"]
    events_per_s = n / seconds
    baseline_events_per_s = n / base["seconds"]
    return {
        "events": n,
        "seconds": round(seconds, 3),
        "command_seconds": result["command_seconds"],
        "events_per_s": round(events_per_s, 1),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "cpu_user_s": round(result["cpu_user_s"], 1),
        "cpu_sys_s": round(result["cpu_sys_s"], 1),
        "baseline_seconds": round(base["seconds"], 3),
        "baseline_events_per_s": round(baseline_events_per_s, 1),
        "ratio": round(events_per_s / baseline_events_per_s, 5),
        "slowdown": round(seconds / base["seconds"], 1),
        # Others share the machine: the 1-minute load average before and after the import.
        "load_avg_1m": [round(load_before[0], 2), round(load_after[0], 2)],
        "returncode": result["returncode"],
        "summary_line": result["summary_line"],
        "counts": result["counts"],
        "rejections": result["rejections"],
        "feed": feed,
        "sanity": sanity,
    }


def profile_run(
    n: int,
    *,
    url: str,
    seed: int,
    config: bool,
    running: bool,
    import_args: list[str],
    stamp: str,
    top: int,
) -> None:
    """The import of N events under cProfile; prints the top functions by cumulative/total time."""
    path = feed_path(n, seed, running)
    feed_write(path, events=n, seed=seed, running=running)
    database_prepare(url, config=config)
    prof = OUT / f"intake-{stamp}.prof"
    args = [sys.executable, "-m", "cProfile", "-o", str(prof), "manage.py", "import_events"]
    result = run_measured([*args, str(path), "--quiet", *import_args], url)
    print(result["stdout"].strip())
    if result["returncode"] != 0:
        print("\n".join(result["stderr"].splitlines()[-20:]), file=sys.stderr)
    text = StringIO()
    stats = pstats.Stats(str(prof), stream=text)
    stats.strip_dirs()
    for order in ("cumulative", "tottime"):
        text.write(f"\n==== top {top} by {order} ====\n")
        stats.sort_stats(order).print_stats(top)
    report = OUT / f"intake-{stamp}.profile.txt"
    report.write_text(text.getvalue())
    print(text.getvalue())
    print(f"profile: {prof.relative_to(ROOT)}, text: {report.relative_to(ROOT)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="N (default 100,000)")
    parser.add_argument(
        "--scales",
        default="0.25,1",
        help="comma-separated fractions of N to run, smallest first (default 0.25,1)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--batch-size", type=int, default=None, help="import_events --batch-size")
    parser.add_argument(
        "--derive-every", type=int, default=None, help="import_events --derive-every"
    )
    parser.add_argument(
        "--no-running",
        action="store_true",
        help="leave out the feed's 'running' deployment reports (same feed otherwise)",
    )
    parser.add_argument(
        "--no-config",
        action="store_true",
        help="skip apply_config: services without repos or monorepo paths",
    )
    parser.add_argument(
        "--profile", action="store_true", help="run the import of N under cProfile instead"
    )
    parser.add_argument("--top", type=int, default=25, help="rows per pstats listing")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    import_args: list[str] = []
    if args.batch_size:
        import_args += ["--batch-size", str(args.batch_size)]
    if args.derive_every:
        import_args += ["--derive-every", str(args.derive_every)]
    running = not args.no_running
    if args.profile:
        profile_run(
            args.events,
            url=args.database_url,
            seed=args.seed,
            config=not args.no_config,
            running=running,
            import_args=import_args,
            stamp=stamp,
            top=args.top,
        )
        return 0

    scales = sorted({max(1, round(args.events * float(s))) for s in args.scales.split(",")})
    machine = machine_describe()
    admin = urlunsplit(urlsplit(args.database_url)._replace(path="/postgres"))
    machine["postgres"] = postgres_version(admin)
    code = code_version()
    print(
        f"code: {code['git_commit'][:12]} {code['git_subject']}"
        + (f" (+ uncommitted: {', '.join(code['dora_modified'])})" if code["dora_modified"] else "")
    )
    print(
        f"machine: {machine['cpu_model']} x{machine['cpu_count']}, {machine['memory_gib']} GiB, "
        f"{machine['platform']}, Python {machine['python']}, PostgreSQL {machine['postgres']}"
    )
    rows = [
        scale_run(
            n,
            url=args.database_url,
            seed=args.seed,
            config=not args.no_config,
            running=running,
            import_args=import_args,
        )
        for n in scales
    ]
    print()
    table = table_print(rows)
    print(table)
    ok = True
    smallest, largest = rows[0], rows[-1]
    extra: dict[str, Any] = {}
    if len(rows) > 1:
        extra = {
            "rss_ratio_largest_to_smallest": round(
                largest["peak_rss_mb"] / smallest["peak_rss_mb"], 2
            ),
            "throughput_ratio_largest_to_smallest": round(
                largest["events_per_s"] / smallest["events_per_s"], 2
            ),
        }
        print(
            f"\npeak RSS at N={largest['events']:,} / N={smallest['events']:,}: "
            f"{extra['rss_ratio_largest_to_smallest']}x; throughput "
            f"{extra['throughput_ratio_largest_to_smallest']}x"
        )
    for row in rows:
        if not row["sanity"]["rollouts"]:
            print(f"!! N={row['events']}: zero rollouts derived; something is wrong")
            ok = False
        if row["returncode"] != 0 or row["counts"].get("rejected", 1) != 0:
            print(f"!! N={row['events']}: import rejected events or failed: {row['rejections']}")
            ok = False
    below = [r["events"] for r in rows if r["events_per_s"] < TARGET_EVENTS_PER_S]
    if below:
        print(f"below the target of {TARGET_EVENTS_PER_S:,} events/s at N = {below}")
    report = {
        "benchmark": "intake",
        "started_at": stamp,
        "machine": machine,
        "code": code,
        "seed": args.seed,
        "database_url": args.database_url,
        "config_applied": not args.no_config,
        "import_args": import_args,
        "running_deployments": running,
        "target_events_per_s": TARGET_EVENTS_PER_S,
        "baseline": "COPY of the same JSON lines into a one-column jsonb table, same database",
        "ratio": "intake events/s divided by baseline events/s",
        "results": rows,
        **extra,
        "table": table,
    }
    out = OUT / f"intake-{stamp}.json"
    out.write_text(json.dumps(report, indent=2, default=str) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
