"""Queries per intake call: `events_record` on consecutive slices of the benchmark feed, with
every SQL statement attributed to the dora function that issued it.

Loads the first N events (default 20,000) of bench/generator.py's feed into a fresh database with
one `events_record` call per `--call` events (default 1,000: what one API request may carry;
`--call 50000 --batch 5000` matches import_events: 5,000 events per transaction, derivation
every 50,000), and reports per call: queries, seconds, (service, environment) pairs
re-derived; then the call sites (innermost frame in dora/) and statement shapes with the most
queries and the most database time, and the inclusive time of each derivation step. Writes
bench/out/queries-<timestamp>.json.

    .venv/bin/python bench/queries.py                  # 20,000 events, batches of 1,000
    .venv/bin/python bench/queries.py --events 100000 --call 50000 --batch 5000  # import_events
"""

from __future__ import annotations

import argparse
import functools
import inspect
import json
import os
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from generator import feed_write
from intake import OUT, ROOT, code_version, database_prepare, feed_path

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/dora_bench_queries"
DORA = str(ROOT / "dora") + os.sep
# Steps of dora.intake's derivation whose inclusive time is reported (called through their modules,
# so patchable).
DERIVE_STEPS = (
    "facts_derive",
    "touched_mark",
    "pending_derive",
    "pair_derive",
    "_change_starts_update",
    "_rollouts_holding",
    "_incident_places_resolve",
    "rollouts_rebuild",
    "_since_settle",
    "_rollouts_replay",
    "_rollouts_write",
    "_rollout_classify",
    "_change_set_walk",
    "arrivals_rebuild",
    "_target_arrivals_rebuild",
    "failures_rebuild",
    "_incident_linked_rollouts",
)
_PLACEHOLDERS = re.compile(r"%s(?:\s*,\s*%s)+")
_LITERALS = re.compile(r"'(?:[^']|'')*'|\b\d+\b")


def sql_shape(text: str) -> str:
    """A statement without its literals and with placeholder lists collapsed."""
    shape = _PLACEHOLDERS.sub("%s...", _LITERALS.sub("?", text))
    shape = re.sub(r"\(%s(?:\s*,\s*%s\.\.\.)?\)(?:\s*,\s*\(%s[^)]*\))+", "(%s...)...", shape)
    return shape if len(shape) <= 220 else shape[:217] + "..."


class Recorder:
    """A connection execute wrapper: counts and times statements by call site and shape."""

    def __init__(self) -> None:
        self.sites: Counter[str] = Counter()
        self.site_time: Counter[str] = Counter()
        self.shapes: Counter[str] = Counter()
        self.shape_time: Counter[str] = Counter()
        self.shape_site: dict[str, Counter[str]] = defaultdict(Counter)
        self.queries = 0
        self.seconds = 0.0

    def __call__(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        frame = sys._getframe(1)
        site = "?"
        while frame is not None:
            filename = frame.f_code.co_filename
            if filename.startswith(DORA):
                site = f"{filename[len(str(ROOT)) + 1 :]}:{frame.f_lineno} {frame.f_code.co_name}"
                break
            frame = frame.f_back  # type: ignore[assignment]
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            took = time.perf_counter() - started
            shape = sql_shape(sql)
            self.queries += 1
            self.seconds += took
            self.sites[site] += 1
            self.site_time[site] += took
            self.shapes[shape] += 1
            self.shape_time[shape] += took
            self.shape_site[shape][site] += 1


def step_timers(modules: list[Any]) -> dict[str, list[float]]:
    """Wrap the derivation's steps (module attributes, looked up at call time) with timers, in
    every module of `modules` that holds them (where defined and where imported by name)."""
    present = [
        name
        for name in DERIVE_STEPS
        if any(callable(getattr(module, name, None)) for module in modules)
    ]
    timings: dict[str, list[float]] = {name: [0, 0.0] for name in present}
    for module, name in [(m, n) for n in present for m in modules if hasattr(m, n)]:
        original = getattr(module, name)

        def timed(*args: Any, __original: Any = original, __name: str = name, **kw: Any) -> Any:
            started = time.perf_counter()
            try:
                return __original(*args, **kw)
            finally:
                timings[__name][0] += 1
                timings[__name][1] += time.perf_counter() - started

        setattr(module, name, functools.wraps(original)(timed))
    return timings


def chunks(path: Path, size: int) -> Iterator[list[dict[str, Any]]]:
    batch: list[dict[str, Any]] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            batch.append(json.loads(line))
            if len(batch) == size:
                yield batch
                batch = []
    if batch:
        yield batch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument(
        "--call",
        type=int,
        default=1000,
        help="events per events_record call (default 1,000: one API request's worth)",
    )
    parser.add_argument("--batch", type=int, default=1000, help="events_record batch_size")
    parser.add_argument("--derive-every", type=int, default=None)
    parser.add_argument("--no-running", action="store_true")
    parser.add_argument(
        "--no-derive",
        action="store_true",
        help="skip pending_derive (measure validation + record upserts + marking alone)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--no-config", action="store_true")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = feed_path(args.events, args.seed, not args.no_running)
    feed_write(path, events=args.events, seed=args.seed, running=not args.no_running)
    database_prepare(args.database_url, config=not args.no_config)

    os.environ["DATABASE_URL"] = args.database_url
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dora.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-not-a-secret")  # DEBUG off needs one
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    from dora.intake import arrivals, change_sets, derive, events, failures, graph, rollouts

    timings = step_timers([derive, graph, change_sets, rollouts, arrivals, failures])
    # Pairs (service, environment) re-derived per call: pending_derive's count (deferred
    # derivation) or, on older code, the pairs facts_derive was handed.
    pairs: list[int] = []
    if hasattr(derive, "pending_derive"):
        original_pending = derive.pending_derive

        def counting_pending() -> int:
            done = int(original_pending())
            pairs.append(done)
            return done

        derive.pending_derive = counting_pending
    else:
        original_facts_derive = derive.facts_derive

        def counting_facts_derive(touched: Any) -> None:
            original_facts_derive(touched)
            pairs.append(len(set(touched.walk) | set(touched.facts)))

        derive.facts_derive = counting_facts_derive
    if args.no_derive:
        # Records only: what validation, upserts and touched_mark cost without re-derivation.
        derive.pending_derive = lambda: pairs.append(0) or 0
    call_kwargs: dict[str, Any] = {"batch_size": args.batch, "keep_items": False}
    if args.derive_every and "derive_every" in inspect.signature(events.events_record).parameters:
        call_kwargs["derive_every"] = args.derive_every

    code = code_version()
    print(f"code: {code['git_commit'][:12]} {code['git_subject']}")
    recorder = Recorder()
    per_call: list[dict[str, Any]] = []
    print(
        f"{'call':>5} {'events':>6} {'queries':>8} {'q/event':>8} {'db s':>6} {'s':>6} "
        f"{'pairs derived':>13}"
    )
    with connection.execute_wrapper(recorder):
        for number, batch in enumerate(chunks(path, args.call), start=1):
            queries_before, db_before = recorder.queries, recorder.seconds
            pairs.clear()
            started = time.perf_counter()
            report = events.events_record(batch, **call_kwargs)
            seconds = time.perf_counter() - started
            row = {
                "call": number,
                "events": len(batch),
                "queries": recorder.queries - queries_before,
                "db_seconds": round(recorder.seconds - db_before, 3),
                "seconds": round(seconds, 3),
                "pairs_derived": sum(pairs),
                "rejected": report.counts["rejected"],
            }
            per_call.append(row)
            print(
                f"{number:>5} {len(batch):>6} {row['queries']:>8} "
                f"{row['queries'] / len(batch):>8.1f} {row['db_seconds']:>6.2f} "
                f"{seconds:>6.2f} {sum(pairs):>13}",
                flush=True,
            )

    total_events = sum(r["events"] for r in per_call)
    total_seconds = sum(r["seconds"] for r in per_call)
    counts = [r["queries"] for r in per_call]
    print(
        f"\n{total_events:,} events in {total_seconds:.1f}s ({total_events / total_seconds:,.0f}"
        f" events/s); {recorder.queries:,} queries ({recorder.queries / total_events:.1f} per "
        f"event), {recorder.seconds:.1f}s waiting on the database; queries per call: median "
        f"{statistics.median(counts):,.0f}, min {min(counts):,}, max {max(counts):,}"
    )
    print(f"\n== top {args.top} call sites by queries (innermost frame in dora/) ==")
    for site, n in recorder.sites.most_common(args.top):
        print(f"{n:>8,} {recorder.site_time[site]:>7.1f}s  {site}")
    print(f"\n== top {args.top} call sites by database time ==")
    for site, took in recorder.site_time.most_common(args.top):
        print(f"{recorder.sites[site]:>8,} {took:>7.1f}s  {site}")
    print(f"\n== top {args.top} statement shapes by queries ==")
    for shape, n in recorder.shapes.most_common(args.top):
        where = recorder.shape_site[shape].most_common(1)[0][0]
        print(f"{n:>8,} {recorder.shape_time[shape]:>7.1f}s  [{where}]\n          {shape}")
    print(f"\n== top {args.top} statement shapes by database time ==")
    for shape, took in recorder.shape_time.most_common(args.top):
        where = recorder.shape_site[shape].most_common(1)[0][0]
        print(f"{recorder.shapes[shape]:>8,} {took:>7.1f}s  [{where}]\n          {shape}")
    print("\n== dora.intake.derive steps (inclusive) ==")
    for name, (calls, took) in sorted(timings.items(), key=lambda kv: -kv[1][1]):
        print(f"{int(calls):>8,} calls {took:>7.1f}s  {name}")

    out = OUT / f"queries-{stamp}.json"
    out.write_text(
        json.dumps(
            {
                "code": code,
                "events": total_events,
                "call": args.call,
                "batch": args.batch,
                "seconds": total_seconds,
                "queries": recorder.queries,
                "db_seconds": recorder.seconds,
                "per_call": per_call,
                "sites": [
                    {"site": s, "queries": n, "seconds": recorder.site_time[s]}
                    for s, n in recorder.sites.most_common()
                ],
                "shapes": [
                    {"shape": s, "queries": n, "seconds": recorder.shape_time[s]}
                    for s, n in recorder.shapes.most_common(100)
                ],
                "derive_steps": {k: {"calls": v[0], "seconds": v[1]} for k, v in timings.items()},
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
