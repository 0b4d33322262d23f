"""Dashboards at scale: server render time of each dashboard page on the bench estate.

In-process, through Django's test client (the project's middleware, access checks, views and
templates; no server, no sockets), logged in with `force_login`, against the bench estate of
bench/metrics.py (database `dora_bench_metrics`: 500 services, ~2,000,000 deployments, 50
teams; never regenerated here). Django's clock (`django.utils.timezone.now`) is fixed at the
first full hour after the estate's last record (bench/gate.py's clock), so every page shows
the estate's last weeks as live data. Each page is requested `--warmup` times, then `--requests`
times (fewer, `--slow-requests`, when a warm-up took longer than `--slow-after` seconds); the
statements of one more request are counted (every connection, the prefetch threads' included,
and the `COPY` reads). Prints p50/p95/max ms and statements per page, the machine and the load
average, which pages meet p95 <= 300 ms, and writes bench/out/pages-<timestamp>.json.

With dashboard snapshots on (the default, as deployed: dora.web.snapshots), the first request
of a page computes it (the `first ms` column: what the first viewer after a change waits) and the
measured ones are served from the snapshot; `--no-snapshots` computes every request.

    .venv/bin/python bench/pages.py                       # every page
    .venv/bin/python bench/pages.py --no-snapshots        # every request computed
    .venv/bin/python bench/pages.py --page team           # one page
    .venv/bin/python bench/pages.py --profile overview    # cProfile of one request, top 25

The bench adds a user `bench-pages-leader` (in the group `leadership`, created when missing)
and `bench-pages-member` (its username appended to one team's `members`), and removes both,
the group when it created it, and the team's original `members`, at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import statistics
import sys
import time
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gate import CLOCK_SQL  # noqa: E402  (the gate bench's clock: the estate's next full hour)
from intake import OUT, ROOT, code_version, machine_describe, postgres_version  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/dora_bench_metrics"
TARGET_P95_MS = 300.0
LEADER = "bench-pages-leader"
MEMBER = "bench-pages-member"
LEADERSHIP_GROUP = "leadership"
# The team (and its busiest service) the team, service, explain and member pages look at: one
# of the 10-service teams with the most deployments (50,444).
DEFAULT_TEAM = "team-002"
SERVICE_SQL = """
SELECT s.name FROM dora_service s JOIN dora_team t ON t.id = s.team_id
LEFT JOIN dora_deployment d ON d.service_id = s.id
WHERE t.name = %s GROUP BY s.name ORDER BY count(d.id) DESC, s.name LIMIT 1
"""


def log(message: str) -> None:
    print(message, flush=True)


def load_avg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def clock_pick(url: str) -> datetime:
    with psycopg.connect(url) as conn:
        return conn.execute(CLOCK_SQL).fetchone()[0].astimezone(UTC)  # type: ignore[index]


def pages_of(team: str, service: str) -> dict[str, dict[str, Any]]:
    """Every page measured: path (with its query string), who asks, and what it is."""
    return {
        "overview": {"path": "/dashboards/", "user": "leader", "label": "Organisation overview"},
        "team": {
            "path": f"/dashboards/team?team={team}",
            "user": "leader",
            "label": f"Team week ({team})",
        },
        "service": {
            "path": f"/dashboards/service?service={service}",
            "user": "leader",
            "label": f"Service week ({service})",
        },
        "explain_lead_time": {
            "path": f"/dashboards/explain/lead_time?team={team}",
            "user": "leader",
            "label": f"Explain lead_time ({team})",
        },
        "explain_change_failure_rate": {
            "path": f"/dashboards/explain/change_failure_rate?team={team}",
            "user": "leader",
            "label": f"Explain change_failure_rate ({team})",
        },
        "estate_leader": {
            "path": "/dashboards/estate",
            "user": "leader",
            "label": "Estate matrix (leadership, 500 services)",
        },
        "estate_member": {
            "path": "/dashboards/estate",
            "user": "member",
            "label": f"Estate matrix (member of {team})",
        },
        "gate": {"path": "/dashboards/gate", "user": "leader", "label": "Gate decisions"},
        "report": {
            "path": "/dashboards/report",
            "user": "leader",
            "label": "Leadership report (HTML, last month)",
        },
        "report_pdf": {
            "path": "/dashboards/report.pdf",
            "user": "leader",
            "label": "Leadership report (PDF, once)",
            "once": True,
        },
    }


# ---------------------------------------------------------------------------------------------
# Django in-process, with a fixed clock and a statement log shared by every connection
# ---------------------------------------------------------------------------------------------

STATEMENTS: deque[dict[str, Any]] = deque()  # appended by every connection while LOGGING
LOGGING = {"on": False}


def django_setup(url: str, clock: datetime, *, snapshots: bool = True) -> None:
    os.environ.update(
        {
            # Dashboard snapshots (dora.web.snapshots): kept in this process's memory, so the
            # first request of a page computes it and the next ones are served from it.
            "DORA_DASHBOARD_CACHE_SECONDS": "300" if snapshots else "0",
            "DATABASE_URL": url,
            "DJANGO_SETTINGS_MODULE": "dora.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "bench-only-not-a-secret",
            "DORA_LOG_LEVEL": "WARNING",
            # No collectstatic here: static URLs unhashed (production's manifest lookup is a
            # dict read a tag; the difference is negligible next to a page).
            "DORA_STATICFILES_BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage",
        }
    )
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.pop("DJANGO_ALLOWED_HOSTS", None)  # the test client's host is in the default
    sys.path.insert(0, str(ROOT))
    from django.db.backends.base import base

    init = base.BaseDatabaseWrapper.__init__

    def init_shared_log(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.queries_log = STATEMENTS  # CursorDebugWrapper and the COPY reads append here

    base.BaseDatabaseWrapper.__init__ = init_shared_log  # type: ignore[method-assign]
    base.BaseDatabaseWrapper.queries_logged = property(  # type: ignore[method-assign,assignment]
        lambda self: LOGGING["on"]
    )

    import django

    django.setup()
    from django.utils import timezone

    timezone.now = lambda: clock
    logging.getLogger("django.request").setLevel(logging.ERROR)


def users_prepare(url: str, team: str) -> dict[str, Any]:
    """The leader (group `leadership`) and a member of `team`; what to restore afterwards."""
    from django.contrib.auth.models import Group, User

    from dora.models import Team

    group, group_created = Group.objects.get_or_create(name=LEADERSHIP_GROUP)
    leader, _ = User.objects.get_or_create(username=LEADER)
    leader.groups.add(group)
    member, _ = User.objects.get_or_create(username=MEMBER)
    row = Team.objects.get(name=team)
    original = list(row.members or [])
    if MEMBER not in original:
        Team.objects.filter(pk=row.pk).update(members=[*original, MEMBER])
    return {
        "group_created": group_created,
        "team": team,
        "members": original,
        "users": {"leader": leader, "member": member},
    }


def users_remove(state: dict[str, Any] | None, team: str) -> dict[str, Any]:
    """Undo users_prepare (also a previous run's leftovers when `state` is None)."""
    from django.contrib.auth.models import Group, User

    from dora.models import Team

    removed: dict[str, Any] = {}
    row = Team.objects.filter(name=team).first()
    if row is not None:
        members = state["members"] if state else [m for m in row.members or [] if m != MEMBER]
        if list(row.members or []) != members:
            Team.objects.filter(pk=row.pk).update(members=members)
            removed["team_members_restored"] = members
    removed["users"] = User.objects.filter(username__in=[LEADER, MEMBER]).delete()[0]
    if state and state["group_created"]:
        removed["group"] = Group.objects.filter(name=LEADERSHIP_GROUP).delete()[0]
    return removed


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (p95 of 20 values is the 19th smallest)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def statements_of(client: Any, path: str) -> tuple[int, list[dict[str, Any]]]:
    STATEMENTS.clear()
    LOGGING["on"] = True
    try:
        status = client.get(path).status_code
    finally:
        LOGGING["on"] = False
    return status, list(STATEMENTS)


def measure(name: str, page: dict[str, Any], client: Any, args: argparse.Namespace) -> dict:
    path = page["path"]
    load_before = load_avg()
    warm: list[float] = []
    statuses: dict[int, int] = {}
    statements: list[dict[str, Any]] = []
    if page.get("once"):
        n = 1
    else:
        for i in range(args.warmup):
            started = time.perf_counter()
            if i == args.warmup - 1:  # the statements of the last warm-up (not measured)
                status, statements = statements_of(client, path)
            else:
                status = client.get(path).status_code
            warm.append(time.perf_counter() - started)
            statuses[status] = statuses.get(status, 0) + 1
            log(f"   {name} warm-up {i + 1}: {warm[-1] * 1e3:,.0f} ms")
        n = args.slow_requests if warm and warm[-1] > args.slow_after else args.requests
    times: list[float] = []
    cpu: list[float] = []
    size = 0
    for _ in range(n):
        started, cpu_started = time.perf_counter(), time.process_time()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1e3)
        cpu.append((time.process_time() - cpu_started) * 1e3)
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        size = len(response.content)
    result = {
        "path": path,
        "user": page["user"],
        "label": page["label"],
        "warmup_ms": [round(w * 1e3, 1) for w in warm],
        "first_ms": round(warm[0] * 1e3, 1) if warm else None,
        "requests": n,
        "statuses": statuses,
        "bytes": size,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(percentile(times, 95), 1),
        "max_ms": round(max(times), 1),
        "min_ms": round(min(times), 1),
        "process_cpu_ms_p50": round(statistics.median(cpu), 1),
        "statements": len(statements) if statements else None,
        "statement_ms": (
            round(sum(float(s["time"]) for s in statements) * 1e3, 1) if statements else None
        ),
        "times_ms": [round(t, 1) for t in times],
        "load_avg_before": load_before,
        "load_avg_after": load_avg(),
    }
    result["meets_target"] = result["p95_ms"] <= TARGET_P95_MS
    log(
        f"== {name}: {n} requests, p50 {result['p50_ms']} p95 {result['p95_ms']} max "
        f"{result['max_ms']} ms, {result['statements']} statements "
        f"({result['statement_ms']} ms), answers {statuses}, {size:,} bytes, "
        f"load {load_before[0]} -> {result['load_avg_after'][0]}"
    )
    return result


def table_format(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        "| page | user | first ms | requests | p50 ms | p95 ms | max ms | statements "
        "| p95 <= 300 ms | load 1m before / after |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for r in results.values():
        verdict = (
            "met"
            if r["meets_target"]
            else f"missed ({r['p95_ms'] / TARGET_P95_MS:.1f}x, +{r['p95_ms'] - TARGET_P95_MS:,.0f})"
        )
        statements = "–" if r["statements"] is None else str(r["statements"])
        lines.append(
            f"| {r['label']} `{r['path']}` | {r['user']} | "
            f"{'–' if r.get('first_ms') is None else format(r['first_ms'], ',.1f')} "
            f"| {r['requests']} | {r['p50_ms']:,.1f} "
            f"| {r['p95_ms']:,.1f} | {r['max_ms']:,.1f} | {statements} | {verdict} "
            f"| {r['load_avg_before'][0]:.2f} / {r['load_avg_after'][0]:.2f} |"
        )
    return "\n".join(lines)


def profile(
    name: str, page: dict[str, Any], client: Any, stamp: str, warmup: int
) -> dict[str, Any]:
    """cProfile of one request (after `warmup` requests), top 25 by cumulative time; its
    statements (logged during it), slowest first, with their time as the client saw it."""
    import cProfile
    import pstats

    for _ in range(warmup):
        client.get(page["path"])
    prof_path = OUT / f"pages-profile-{name}-{stamp}.prof"
    profiler = cProfile.Profile()
    STATEMENTS.clear()
    LOGGING["on"] = True  # the profiled request's statements, with their time
    started = time.perf_counter()
    profiler.enable()
    try:
        client.get(page["path"])
    finally:
        profiler.disable()
        LOGGING["on"] = False
    wall = time.perf_counter() - started
    statements = list(STATEMENTS)
    profiler.dump_stats(str(prof_path))
    log(f"== profile of {name} ({page['path']}): {wall * 1e3:.0f} ms under cProfile")
    pstats.Stats(str(prof_path)).sort_stats("cumulative").print_stats(25)
    rows = sorted(
        ({"ms": float(s["time"]) * 1e3, "sql": s["sql"]} for s in statements),
        key=lambda s: -s["ms"],
    )
    log(f"{len(rows)} statements, {sum(r['ms'] for r in rows):.0f} ms in all (slowest first):")
    for r in rows:
        log(f"   {r['ms']:8.1f} ms  {' '.join(r['sql'].split())[:200]}")
    return {"page": name, "wall_ms": round(wall * 1e3, 1), "prof": str(prof_path), "sql": rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--team", default=DEFAULT_TEAM)
    parser.add_argument("--requests", type=int, default=20, help="measured requests a page")
    parser.add_argument("--warmup", type=int, default=2, help="at least 1")
    parser.add_argument("--slow-requests", type=int, default=5)
    parser.add_argument("--slow-after", type=float, default=2.0, help="seconds (a warm-up)")
    parser.add_argument("--page", action="append", help="only this page (repeatable)")
    parser.add_argument("--profile", metavar="NAME", help="cProfile one request of this page")
    parser.add_argument(
        "--no-snapshots",
        action="store_true",
        help="compute every request (DORA_DASHBOARD_CACHE_SECONDS=0): a page after a change",
    )
    args = parser.parse_args()

    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    url = args.database_url
    from urllib.parse import urlsplit, urlunsplit

    machine = machine_describe()
    machine["postgres"] = postgres_version(urlunsplit(urlsplit(url)._replace(path="/postgres")))
    machine["nproc"] = os.cpu_count()
    machine["load_avg_start"] = load_avg()
    code = code_version()
    log(f"code: {code['git_commit'][:12]} {code['git_subject'][:80]}")
    log(
        f"machine: {machine['cpu_model']} x{machine['cpu_count']}, {machine['memory_gib']} GiB, "
        f"PostgreSQL {machine['postgres']}, load {machine['load_avg_start']}"
    )
    clock = clock_pick(url)
    with psycopg.connect(url) as conn:
        service = conn.execute(SERVICE_SQL, [args.team]).fetchone()[0]  # type: ignore[index]
    pages = pages_of(args.team, service)
    chosen = [args.profile] if args.profile else (args.page or list(pages))
    unknown = [p for p in chosen if p not in pages]
    if unknown:
        raise SystemExit(f"unknown page(s) {unknown}; pages: {', '.join(pages)}")
    log(f"clock {clock.isoformat()}, team {args.team}, service {service}")

    django_setup(url, clock, snapshots=not args.no_snapshots)
    from django.test import Client

    users_remove(None, args.team)  # a previous run's leftovers
    state = users_prepare(url, args.team)
    results: dict[str, dict[str, Any]] = {}
    profiled: dict[str, Any] | None = None
    try:
        clients = {}
        for who, user in state["users"].items():
            clients[who] = Client()
            clients[who].force_login(user)
        if args.profile:
            profiled = profile(
                args.profile,
                pages[args.profile],
                clients[pages[args.profile]["user"]],
                stamp,
                args.warmup,
            )
        else:
            for name in chosen:
                results[name] = measure(name, pages[name], clients[pages[name]["user"]], args)
    finally:
        from django.db import connection

        connection.close()
        removed = users_remove(state, args.team)
        log(f"removed the bench's users and membership: {removed}")

    machine["load_avg_end"] = load_avg()
    out = OUT / f"pages-{stamp}{'-profile' if args.profile else ''}.json"
    result: dict[str, Any] = {
        "benchmark": "pages",
        "started_at": stamp,
        "machine": machine,
        "code": code,
        "database_url": url,
        "clock": clock.isoformat(),
        "team": args.team,
        "service": service,
        "target_p95_ms": TARGET_P95_MS,
        "settings": {
            "requests": args.requests,
            "warmup": args.warmup,
            "slow_requests": args.slow_requests,
            "slow_after_s": args.slow_after,
            "snapshots": not args.no_snapshots,
        },
    }
    if profiled:
        result["profile"] = profiled
    else:
        table = table_format(results)
        missed = [n for n, r in results.items() if not r["meets_target"]]
        result.update({"pages": results, "missed": missed, "table": table})
        log("")
        log(table)
        log("")
        log(
            f"load average {machine['load_avg_start']} at the start, "
            f"{machine['load_avg_end']} at the end; nproc {machine['nproc']}"
        )
        log(f"p95 <= {TARGET_P95_MS:.0f} ms: met by {len(results) - len(missed)} of {len(results)}")
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    log(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
