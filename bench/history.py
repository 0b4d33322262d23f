"""History benchmark: which reads of the metrics report grow with the history, which only with
the window.

Takes two estates of `metrics.py` that differ only in their history (`--days`, e.g. 730 and
2190 at the same `--scale`: the same services and per-day rates, so the last 90 days hold about
the same rows) and times, on each, every read of the organisation's 90-day report and of one
service's 12 weeks on its own: each frame of `MetricsComputation.REPORT_FRAMES` (the value
stream's `stream_reads` statement by statement) and the overview page's
`first_rollouts_by_service`. Each statement is then run once more under `EXPLAIN (ANALYZE,
BUFFERS)`. A read whose time and buffers grow from the short history to the long one while its
rows stay the same grows with the history; the plans say why.

    .venv/bin/python bench/history.py \\
        --database-url postgres://postgres@127.0.0.1:5432/dora_hist_d1 \\
        --database-url postgres://postgres@127.0.0.1:5432/dora_hist_d3

Nothing is written to the estates. Prints a table per scope and writes
bench/out/history-<timestamp>.json (every statement, its times and plans on both estates).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from intake import OUT, ROOT, code_version, machine_describe, run_measured
from metrics import service_pick, windows

GROWS = 1.5  # long/short buffer ratio above which a read grows with the history


def explain(cursor: Any, sql: str) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) of one logged statement (a COPY's inner SELECT)."""
    if sql.startswith("COPY ("):
        sql = sql[len("COPY (") : sql.rindex(") TO STDOUT")]
    cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}")
    plan = cursor.fetchone()[0][0]
    cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
    text = "\n".join(row[0] for row in cursor.fetchall())
    top = plan["Plan"]
    return {
        "ms": plan["Execution Time"],
        "rows": top["Actual Rows"],
        "buffers": top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0),
        "text": text,
    }


def child_main(service: str, runs: int) -> int:
    """In the subprocess, Django set up against one estate: every read, timed and explained."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dora.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-not-a-secret")
    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from dora.reads.page_reads import first_rollouts_by_service
    from dora.reads.report import MetricsComputation
    from dora.reads.report_query import MetricsQuery
    from dora.reads.scope import scope_resolve

    def size(value: Any) -> int:
        if hasattr(value, "changes"):  # ValueStreamReads
            return len(value.changes)
        try:
            return len(value)
        except TypeError:
            return 1

    results: list[dict[str, Any]] = []
    for scope_name, services in (("org", []), ("service", [service])):
        since, until = windows()[scope_name]
        query = MetricsQuery(scope=scope_resolve(services=services), since=since, until=until)

        def read(name: str, query: MetricsQuery = query, until: datetime = until) -> Any:
            if name == "first_rollouts_by_service":
                return first_rollouts_by_service(query.scope)
            return getattr(MetricsComputation(query, now=until), name)  # a fresh computation

        for name in (*MetricsComputation.REPORT_FRAMES, "first_rollouts_by_service"):
            read(name)  # warm-up
            times: list[float] = []
            statements: list[dict[str, Any]] = []
            value: Any = None
            for _ in range(runs):
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    value = read(name)
                    times.append(time.perf_counter() - started)
                logged = [q for q in captured.captured_queries if q["sql"].lstrip()]
                if not statements:
                    statements = [{"sql": q["sql"], "times": []} for q in logged]
                for statement, q in zip(statements, logged, strict=True):
                    statement["times"].append(float(q["time"]))
            with connection.cursor() as cursor:
                for statement in statements:
                    statement["seconds"] = statistics.median(statement.pop("times"))
                    statement["explain"] = explain(cursor, statement["sql"])
            results.append(
                {
                    "scope": scope_name,
                    "read": name,
                    "seconds": statistics.median(times),
                    "runs": times,
                    "rows": size(value),
                    "statements": statements,
                }
            )
    print(json.dumps(results))
    return 0


def table(short: list[dict], long: list[dict], labels: tuple[str, str]) -> list[dict[str, Any]]:
    """One row per statement of each read, short history against long."""
    rows = []
    for a, b in zip(short, long, strict=True):
        assert (a["scope"], a["read"]) == (b["scope"], b["read"])
        for i, (sa, sb) in enumerate(zip(a["statements"], b["statements"], strict=True)):
            ea, eb = sa["explain"], sb["explain"]
            buffers = eb["buffers"] / max(1, ea["buffers"])
            rows_ratio = eb["rows"] / max(1, ea["rows"])
            rows.append(
                {
                    "scope": a["scope"],
                    "read": a["read"],
                    "statement": i,
                    f"{labels[0]} ms": round(sa["seconds"] * 1000, 1),
                    f"{labels[1]} ms": round(sb["seconds"] * 1000, 1),
                    "time ratio": round(sb["seconds"] / max(sa["seconds"], 1e-6), 2),
                    f"{labels[0]} explain ms": round(ea["ms"], 1),
                    f"{labels[1]} explain ms": round(eb["ms"], 1),
                    "explain ratio": round(eb["ms"] / max(ea["ms"], 1e-3), 2),
                    f"{labels[0]} rows": ea["rows"],
                    f"{labels[1]} rows": eb["rows"],
                    f"{labels[0]} buffers": ea["buffers"],
                    f"{labels[1]} buffers": eb["buffers"],
                    "buffer ratio": round(buffers, 2),
                    "grows with": "history"
                    if buffers >= GROWS and buffers >= 1.3 * rows_ratio
                    else "window",
                }
            )
    return rows


def reads_table(short: list[dict], long: list[dict], labels: tuple[str, str]) -> list[dict]:
    """One row per read: its whole time (SQL, transfer and parsing), short against long."""
    return [
        {
            "scope": a["scope"],
            "read": a["read"],
            "statements": len(a["statements"]),
            f"{labels[0]} ms": round(a["seconds"] * 1000, 1),
            f"{labels[1]} ms": round(b["seconds"] * 1000, 1),
            "ratio": round(b["seconds"] / max(a["seconds"], 1e-6), 2),
            f"{labels[0]} rows": a["rows"],
            f"{labels[1]} rows": b["rows"],
        }
        for a, b in zip(short, long, strict=True)
    ]


def markdown(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(f"{r[k]:,}" if isinstance(r[k], int) else str(r[k]) for k in keys)
              + " |" for r in rows]  # fmt: skip
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        action="append",
        help="twice: the short history's estate, then the long one's",
    )
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each read")
    parser.add_argument("--service", help="the one service (default: the short estate's median)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_main(args.service, args.runs)
    if len(args.database_url or ()) != 2:
        parser.error("--database-url twice: the short history's estate, then the long one's")

    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    service = args.service or service_pick(args.database_url[0])
    labels = tuple(f"{i}:{url.rsplit('/', 1)[-1]}" for i, url in enumerate(args.database_url))
    measured = []
    for url in args.database_url:
        load = os.getloadavg()
        child = [sys.executable, str(Path(__file__)), "--child", "--service", service]
        result = run_measured([*child, "--runs", str(args.runs)], url)
        if result["returncode"] != 0:
            raise SystemExit(f"reads on {url} failed:\n{result['stderr'][-3000:]}")
        measured.append(
            {
                "database": url.rsplit("/", 1)[-1],
                "load_avg": [load, os.getloadavg()],
                "reads": json.loads(result["stdout"].strip().splitlines()[-1]),
            }
        )
        print(f"{labels[len(measured) - 1]}: load {load[0]:.2f} -> {os.getloadavg()[0]:.2f}")
    pair = (measured[0]["reads"], measured[1]["reads"], labels)
    per_read = reads_table(*pair)  # type: ignore[arg-type]
    rows = table(*pair)  # type: ignore[arg-type]
    print(f"service: {service}\n")
    print(markdown(per_read))
    print()
    print(markdown(rows))
    out = OUT / f"history-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "benchmark": "history",
                "started_at": stamp,
                "machine": machine_describe(),
                "code": code_version(),
                "service": service,
                "measured": measured,
                "reads": per_read,
                "table": rows,
            },
            indent=2,
            default=str,
        )
        + "\n"
    )
    print(f"\nwrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
