"""Metrics benchmark: `metrics_report` on a large generated estate, against a bare count(*) scan.

Generates an estate (default: 500 services, ~2,000,000 target deployments, ~5,000,000 commits,
~400,000 changes, ~50,000 incidents over 2 years; `--scale` multiplies every count, services
included; `--days N` sets the history's length instead, with the same services and per-day
rates, so the dated counts scale with N / 730 and the report windows hold about the same rows)
straight
into the record and derived-fact tables of a fresh PostgreSQL database with COPY (the event
intake would take hours at this size), VACUUM ANALYZEs it, then times in a subprocess the
organisation-wide report for a 90-day window and one service's for 12 weeks (median of
`--runs` after one warm-up; peak RSS from wait4). The baseline, in the same run: a bare
`SELECT count(*)` over the same fact rows the report reads. Prints a table and writes
bench/out/metrics-<timestamp>.json.

    .venv/bin/python bench/metrics.py                 # default scale: generate, then time
    .venv/bin/python bench/metrics.py --scale 0.01    # quick run
    .venv/bin/python bench/metrics.py --scale 0.2 --days 2190   # 100 services, six years
    .venv/bin/python bench/metrics.py --no-generate   # time the estate already loaded
    .venv/bin/python bench/metrics.py --no-generate --profile   # cProfile of one org report
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
from intake import (
    OUT,
    ROOT,
    code_version,
    database_recreate,
    machine_describe,
    manage,
    postgres_version,
    run_measured,
)

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/dora_bench_metrics"
END = datetime(2026, 11, 2, tzinfo=UTC)  # a Monday; the estate's history ends here
DAYS = 730  # the default history; --days changes it, the per-day rates stay those of FULL
ORG_WINDOW = timedelta(days=90)
SERVICE_WINDOW = timedelta(weeks=12)
TARGETS = {"org_seconds": 2.0, "service_seconds": 0.1, "peak_rss_mb": 1024}

# Full-scale counts over DAYS days; --scale multiplies them, --days N the dated ones by N / DAYS.
FULL = {
    "services": 500,
    "deployments": 2_000_000,
    "commits": 5_000_000,
    "changes": 400_000,
    "incidents": 50_000,
}
TEAMS_PER_SERVICE = 10  # one team per 10 services
REGIONS = ("eu-west-1", "us-east-1", "ap-southeast-1")
RETRY_RATE = 0.04  # a target deployment fails and is retried
CONFIG_RATE = 0.04
REDEPLOY_RATE = 0.03
FAILURE_RATE = 0.065  # production change/config rollouts that fail
INCIDENT_LINKED = 0.8  # failures that come with an incident naming the deployment
SQUASH_RATE = 0.4
BOT_PUSH_RATE = 0.25  # direct pushes per trunk commit, besides merged PRs

END_TS = int(END.timestamp())


# ---------------------------------------------------------------------------------------------
# COPY text formatting
# ---------------------------------------------------------------------------------------------

_DAY_CACHE: dict[int, str] = {}


def ts(seconds: int | float | None) -> str:
    """Epoch seconds as a COPY timestamptz literal (UTC); None is NULL."""
    if seconds is None:
        return r"\N"
    s = int(seconds)
    day, rest = divmod(s, 86400)
    prefix = _DAY_CACHE.get(day)
    if prefix is None:
        prefix = datetime.fromtimestamp(day * 86400, UTC).strftime("%Y-%m-%d ")
        _DAY_CACHE[day] = prefix
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{prefix}{hours:02d}:{minutes:02d}:{secs:02d}+00"


def sha_of(n: int) -> str:
    """A deterministic 40-hex sha for counter n (a multiplicative hash, well spread)."""
    return format((n * 0x9E3779B97F4A7C15F39CC0605CEDC834 + 0x5BD1E995) % (1 << 160), "040x")


def boolean(value: bool) -> str:
    return "t" if value else "f"


class Tables:
    """One COPY per table on its own connection, all open at once, so rows stream as generated.

    Rows are buffered per table and written in chunks; every connection commits at the end.
    Triggers (the deferred foreign-key checks) are off for the load (session_replication_role
    = replica): the generator writes consistent ids, and checking 20 million rows at commit
    costs minutes and memory.
    """

    CHUNK = 1 << 20

    def __init__(self, url: str, columns: dict[str, tuple[str, ...]]) -> None:
        self.url = url
        self.columns = columns
        self.conns: dict[str, psycopg.Connection] = {}
        self.copies: dict[str, Any] = {}
        self.buffers: dict[str, list[str]] = {}
        self.sizes: dict[str, int] = {}
        self.counts: dict[str, int] = {}
        self._stack: list[Any] = []

    def __enter__(self) -> Tables:
        for table, cols in self.columns.items():
            conn = psycopg.connect(self.url)
            conn.execute("SET session_replication_role = replica")
            cursor = conn.cursor()
            copy_cm = cursor.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN")
            self.copies[table] = copy_cm.__enter__()
            self._stack.append((copy_cm, conn))
            self.conns[table] = conn
            self.buffers[table] = []
            self.sizes[table] = 0
            self.counts[table] = 0
        return self

    def row(self, table: str, *values: Any) -> None:
        line = "\t".join(map(str, values)) + "\n"
        self.buffers[table].append(line)
        self.sizes[table] += len(line)
        self.counts[table] += 1
        if self.sizes[table] >= self.CHUNK:
            self.flush(table)

    def flush(self, table: str) -> None:
        if self.buffers[table]:
            self.copies[table].write("".join(self.buffers[table]))
            self.buffers[table] = []
            self.sizes[table] = 0

    def __exit__(self, *exc: Any) -> None:
        for table in self.columns:
            self.flush(table)
        for copy_cm, conn in self._stack:
            copy_cm.__exit__(*exc)
            if exc[0] is None:
                conn.commit()
            conn.close()


COLUMNS: dict[str, tuple[str, ...]] = {
    "dora_commit": [
        "id",
        "source",
        "external_id",
        "repo",
        "sha",
        "authored_at",
        "committed_at",
        "parents",
        "author",
        "message",
        "files",
        "reverts_sha",
    ],
    "dora_change": [
        "id",
        "source",
        "external_id",
        "repo",
        "number",
        "title",
        "author",
        "created_at",
        "ready_at",
        "first_review_at",
        "approved_at",
        "merged_at",
        "closed_at",
        "base",
        "head",
        "merge_sha",
        "squash_sha",
        "commits",
        "labels",
        "started_at",
    ],
    "dora_changecommit": ["id", "change_id", "sha", "role"],
    "dora_pipelinerun": [
        "id",
        "source",
        "external_id",
        "repo",
        "sha",
        "name",
        "branch",
        "status",
        "trigger",
        "created_at",
        "started_at",
        "finished_at",
        "jobs",
    ],
    "dora_deployment": [
        "id",
        "source",
        "external_id",
        "service_id",
        "environment_id",
        "target_id",
        "sha",
        "version",
        "repo",
        "status",
        "started_at",
        "finished_at",
        "commits",
        "trigger",
        "config_version",
        "remediates",
        "pipeline_run",
        "rollout_id",
    ],
    "dora_incident": [
        "id",
        "source",
        "external_id",
        "service_id",
        "environment_id",
        "title",
        "severity",
        "opened_at",
        "impact_started_at",
        "mitigated_at",
        "resolved_at",
        "caused_by",
        "cause",
    ],
    "dora_automationrun": [
        "id",
        "source",
        "external_id",
        "service_id",
        "environment_id",
        "target_id",
        "action",
        "status",
        "started_at",
        "finished_at",
        "trigger",
        "version",
        "drift_detected",
    ],
    "dora_rollout": [
        "id",
        "service_id",
        "environment_id",
        "seq",
        "sha",
        "version",
        "config_version",
        "kind",
        "first_live_at",
        "last_live_at",
        "completed_at",
        "targets_live",
        "targets_active",
        "unattributed",
        "change_set_complete",
        "missing_shas",
        "remediation",
        "failure",
        "restored_at",
        "ship_seq",
        "estate_reached_at",
    ],
    "dora_rolloutcommit": ["id", "rollout_id", "sha"],
    "dora_changearrival": [
        "id",
        "service_id",
        "environment_id",
        "change_id",
        "commit_sha",
        "rollout_id",
        "arrived_at",
        "unattributed",
    ],
    "dora_rollouttarget": ["id", "rollout_id", "target_id", "reached_at"],
    "dora_failurelink": [
        "id",
        "rollout_id",
        "cause",
        "status",
        "incident_id",
        "by_rollout_id",
        "detail",
    ],
}


# ---------------------------------------------------------------------------------------------
# The estate
# ---------------------------------------------------------------------------------------------


class Ids:
    """Per-table id counters (ids are written explicitly; sequences are reset after the load)."""

    def __init__(self) -> None:
        self.last: dict[str, int] = {}

    def next(self, table: str) -> int:
        value = self.last.get(table, 0) + 1
        self.last[table] = value
        return value


def estate_write(
    url: str, *, scale: float, days: int, seed: int, log: Callable[[str], None]
) -> dict:
    """Generate and COPY the whole estate, `days` of history ending at END; returns the counts
    per table."""
    n_services = max(3, round(FULL["services"] * scale))
    master = random.Random(seed)
    weights = [master.lognormvariate(0, 0.6) for _ in range(n_services)]
    total_weight = sum(weights)
    n_teams = max(1, math.ceil(n_services / TEAMS_PER_SERVICE))

    with psycopg.connect(url) as conn:
        with conn.cursor() as cursor:
            with cursor.copy(
                "COPY dora_team (id, name, members, timezone, industry) FROM STDIN"
            ) as copy:
                for t in range(1, n_teams + 1):
                    copy.write_row((t, f"team-{t:03d}", "[]", "UTC", ""))
            with cursor.copy(
                'COPY dora_environment (id, name, tier, tier_configured, "order", stale_after) '
                "FROM STDIN"
            ) as copy:
                copy.write_row((1, "staging", "staging", True, 1, timedelta(days=7)))
                copy.write_row((2, "production", "production", True, 2, timedelta(days=7)))
            with cursor.copy(
                "COPY dora_target (id, environment_id, name, configured) FROM STDIN"
            ) as copy:
                copy.write_row((1, 1, "", False))
                for i, region in enumerate(REGIONS, start=2):
                    copy.write_row((i, 2, region, True))
            with cursor.copy(
                "COPY dora_service (id, name, team_id, kind, repos, paths, infer_failures) "
                "FROM STDIN"
            ) as copy:
                for s in range(1, n_services + 1):
                    kind = "infra" if s % 10 == 3 else "app"
                    copy.write_row(
                        (
                            s,
                            f"svc-{s:03d}",
                            1 + (s - 1) // TEAMS_PER_SERVICE,
                            kind,
                            json.dumps([f"acme/svc-{s:03d}"]),
                            "[]",
                            True,
                        )
                    )
        conn.commit()

    ids = Ids()
    started = time.perf_counter()
    with Tables(url, COLUMNS) as out:
        for s in range(1, n_services + 1):
            share = weights[s - 1] / total_weight
            service_write(out, ids, s, share=share, scale=scale, days=days, seed=seed)
            if s % max(1, n_services // 10) == 0:
                rows = sum(out.counts.values())
                log(
                    f"   {s}/{n_services} services, {rows:,} rows, "
                    f"{rows / (time.perf_counter() - started):,.0f} rows/s"
                )
        counts = dict(out.counts)
    with psycopg.connect(url, autocommit=True) as conn:
        for table in ("dora_team", "dora_service", "dora_environment", "dora_target", *COLUMNS):
            conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608 (our names)
                f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
    counts.update(services=n_services, teams=n_teams)
    return counts


def service_write(
    out: Tables, ids: Ids, s: int, *, share: float, scale: float, days: int, seed: int
) -> None:
    """One service's `days` of history (two years by default): PRs and pushes on trunk, releases
    to staging then production target by target, failures with incidents and remedies, CI runs,
    infrastructure runs. The counts are FULL's per day, so a longer history has more of them."""
    rng = random.Random(seed * 1_000_003 + s)
    name = f"svc-{s:03d}"
    repo = f"acme/{name}"
    infra = s % 10 == 3
    n_regions = rng.choices((1, 2, 3), weights=(0.45, 0.35, 0.2))[0]
    regions = list(range(2, 2 + n_regions))  # target ids of the production regions

    start_ts = END_TS - days * 86400
    volume = scale * share * days / DAYS  # this service's share of the estate's dated counts
    deployments = FULL["deployments"] * volume
    per_release = (1 + n_regions) * (1 + RETRY_RATE)
    n_releases = max(4, round(deployments / per_release))
    n_changes = max(1, round(FULL["changes"] * volume))
    n_incidents = max(0, round(FULL["incidents"] * volume))
    commit_budget = FULL["commits"] * volume
    # Branch commits per PR so the commits total lands on the budget, with direct pushes.
    pushes_per_release = max(0.0, (commit_budget * BOT_PUSH_RATE) / n_releases)
    branch_mean = max(1.0, (commit_budget * (1 - BOT_PUSH_RATE)) / n_changes - 1)

    times = sorted(rng.uniform(start_ts + 3600, END_TS - 86400) for _ in range(n_releases))
    # PRs merge at random times; each ships with the first release after its merge.
    merges = sorted(rng.uniform(start_ts, END_TS - 86400) for _ in range(n_changes))
    merge_i = 0
    pr_number = 0
    seq = {1: 0, 2: 0}
    previous_trunk = ""
    live: dict[int, tuple[str, str, int]] = {}  # env -> (sha, version, rollout id) now live
    history: list[tuple[str, str]] = []  # production versions, oldest first (for rollbacks)
    open_failure: tuple[int, int, int, str] | None = None  # (rollout id, failed at, incident, sha)
    incidents_linked = 0
    version_no = 0
    last_change_release = 0.0

    for r, t_release in enumerate(times):
        t_release = int(t_release)
        if open_failure and rng.random() < 0.5 and history:
            kind = "rollback"
        elif r > 0 and rng.random() < CONFIG_RATE:
            kind = "config"
        elif r > 0 and rng.random() < REDEPLOY_RATE:
            kind = "redeploy"
        else:
            kind = "change"

        # The change set: PRs merged since the last change release, plus direct pushes.
        shipped_prs: list[tuple[int, int, str, list[str], bool]] = []
        pushes: list[tuple[str, int]] = []
        trunk: list[str] = []
        if kind == "change":
            while merge_i < n_changes and merges[merge_i] < t_release - 1800:
                merged_at = int(merges[merge_i])
                merge_i += 1
                pr_number += 1
                change_id = ids.next("change")
                n_branch = max(1, min(60, int(rng.expovariate(1 / branch_mean)) + 1))
                lead = rng.lognormvariate(math.log(20 * 3600), 1.1)
                created = merged_at - int(lead)
                branch: list[str] = []
                t_commit = created - rng.randint(600, 4 * 3600)
                step = max(60, int(lead / (n_branch + 1)))
                for _ in range(n_branch):
                    commit_id = ids.next("commit")
                    sha = sha_of(commit_id)
                    commit_row(out, commit_id, repo, sha, t_commit, name, "wip", parents=[])
                    branch.append(sha)
                    t_commit += step
                squash = rng.random() < SQUASH_RATE
                head_id = ids.next("commit")
                head = sha_of(head_id)
                message = f"Merge pull request #{pr_number}" if not squash else f"PR {pr_number}"
                commit_row(
                    out, head_id, repo, head, merged_at, name, message,
                    parents=[previous_trunk] if squash else [previous_trunk, branch[-1]],
                )  # fmt: skip
                previous_trunk = head
                trunk.append(head)
                labels = '["hotfix"]' if open_failure and rng.random() < 0.3 else "[]"
                review = created + int(lead * 0.3)
                out.row(
                    "dora_change", change_id, "bench", f"bench:{repo}:pr:{pr_number}", repo,
                    pr_number, f"Change {pr_number} of {name}", f"dev{rng.randint(1, 40)}",
                    ts(created), ts(created + 60), ts(review), ts(review + int(lead * 0.2)),
                    ts(merged_at), ts(merged_at), "main", f"feature-{pr_number}",
                    "" if squash else head, head if squash else "", json.dumps(branch), labels,
                    ts(created - 600 if branch else created),
                )  # fmt: skip
                for sha in branch:
                    out.row("dora_changecommit", ids.next("changecommit"), change_id, sha, "commit")
                out.row(
                    "dora_changecommit", ids.next("changecommit"), change_id, head,
                    "squash" if squash else "merge",
                )  # fmt: skip
                run_id = ids.next("pipelinerun")
                status = "failure" if rng.random() < 0.07 else "success"
                out.row(
                    "dora_pipelinerun", run_id, "bench", f"bench:{repo}:run:{run_id}", repo,
                    head, "ci", "main", status, "push", ts(merged_at + 5), ts(merged_at + 10),
                    ts(merged_at + 10 + rng.randint(300, 1500)), "[]",
                )  # fmt: skip
                shipped_prs.append((change_id, merged_at, head, branch, squash))
            since_last = t_release - (last_change_release or start_ts)
            n_push = int(rng.expovariate(1 / pushes_per_release)) if pushes_per_release else 0
            for _ in range(n_push):
                commit_id = ids.next("commit")
                sha = sha_of(commit_id)
                at = t_release - rng.randint(1800, max(1801, int(since_last)))
                commit_row(
                    out, commit_id, repo, sha, at, "bot", "chore: bump", parents=[previous_trunk]
                )
                previous_trunk = sha
                trunk.append(sha)
                pushes.append((sha, at))
            if not trunk:  # nothing new: the release is a redeploy of what runs
                kind = "redeploy" if r > 0 else kind
            if kind == "change" and not trunk:
                commit_id = ids.next("commit")
                sha = sha_of(commit_id)
                commit_row(out, commit_id, repo, sha, t_release - 3600, "bot", "init", parents=[])
                previous_trunk = sha
                trunk.append(sha)
                pushes.append((sha, t_release - 3600))
            last_change_release = t_release

        if kind == "change":
            version_no += 1
            sha, version = previous_trunk, f"v{version_no}"
        elif kind == "rollback" and history:
            sha, version = history[-2] if len(history) > 1 else history[-1]
        else:
            sha, version = live.get(2, (previous_trunk, f"v{version_no}", 0))[:2]
        config_version = f"c{r}" if kind == "config" else ""

        # Staging: one target, then production region by region after a soak.
        t = t_release
        for env, targets in ((1, [1]), (2, regions)):
            if env == 2:
                t += rng.randint(3600, 20 * 3600)
            rollout_id = ids.next("rollout")
            seq[env] += 1
            reached: list[tuple[int, int]] = []
            for target in targets:
                t_start = t + rng.randint(30, 300)
                if rng.random() < RETRY_RATE:
                    deployment_row(
                        out, ids, s, env, target, sha, version, repo, "failure", t_start,
                        t_start + 240, config_version, "", rollout_id,
                    )  # fmt: skip
                    t_start += 600
                t_done = t_start + rng.randint(120, 900)
                remediates = ""
                if kind == "rollback" and open_failure and open_failure[2]:
                    remediates = f"bench:{name}:incident:{open_failure[2]}"
                deployment_row(
                    out, ids, s, env, target, sha, version, repo, "success", t_start, t_done,
                    config_version, remediates, rollout_id,
                )  # fmt: skip
                reached.append((target, t_done))
                t = t_done + rng.randint(600, 3 * 3600) if env == 2 else t_done
            first_live, last_live = reached[0][1], reached[-1][1]
            failure, remediation = "", kind == "rollback"
            if (
                env == 2
                and kind in ("change", "config")
                and rng.random() < FAILURE_RATE
                and open_failure is None
            ):
                failure = "inferred" if rng.random() < 0.05 else "confirmed"
                open_failure = (rollout_id, first_live, 0, sha)
            out.row(
                "dora_rollout", rollout_id, s, env, seq[env], sha, version, config_version, kind,
                ts(first_live), ts(last_live), ts(last_live), len(reached), len(reached),
                boolean(seq[env] == 1), "t", "[]", boolean(remediation), failure, r"\N",
                seq[env], ts(last_live) if env == 2 else r"\N",
            )  # fmt: skip
            if env == 2:
                for target, t_done in reached:
                    out.row("dora_rollouttarget", ids.next("rollouttarget"), rollout_id, target,
                            ts(t_done))  # fmt: skip
            if kind == "change":
                for change_id, _, head, branch, squash in shipped_prs:
                    for commit_sha in [head] if squash else [*branch, head]:
                        out.row("dora_rolloutcommit", ids.next("rolloutcommit"), rollout_id,
                                commit_sha)  # fmt: skip
                    out.row(
                        "dora_changearrival", ids.next("changearrival"), s, env, change_id, "",
                        rollout_id, ts(first_live), boolean(seq[env] == 1),
                    )  # fmt: skip
                for push_sha, _ in pushes:
                    out.row("dora_rolloutcommit", ids.next("rolloutcommit"), rollout_id,
                            push_sha)  # fmt: skip
                    out.row(
                        "dora_changearrival", ids.next("changearrival"), s, env, r"\N", push_sha,
                        rollout_id, ts(first_live), boolean(seq[env] == 1),
                    )  # fmt: skip
            if env == 2:
                if kind in ("change", "rollback"):
                    history.append((sha, version))
                live[env] = (sha, version, rollout_id)
                if failure and open_failure and open_failure[0] == rollout_id:
                    incident_id = 0
                    if rng.random() < INCIDENT_LINKED and incidents_linked < n_incidents:
                        incidents_linked += 1
                        incident_id = ids.next("incident")
                    open_failure = (rollout_id, first_live, incident_id, sha)
                elif remediation and open_failure:
                    failure_restore(out, ids, rng, s, name, open_failure, first_live, rollout_id)
                    open_failure = None
            else:
                live[env] = (sha, version, rollout_id)
        # An unremedied failure is restored by a fix forward within a day or so.
        if open_failure and kind != "rollback" and rng.random() < 0.5:
            restore_at = open_failure[1] + int(rng.lognormvariate(math.log(3 * 3600), 1.0))
            if restore_at < END_TS - 86400 or rng.random() < 0.5:
                failure_restore(out, ids, rng, s, name, open_failure, restore_at, None)
                open_failure = None
    if open_failure:  # still failing at the end of the history: an open incident, no restore
        failure_restore(out, ids, rng, s, name, open_failure, None, None)
    # Unlinked incidents (some external) fill the service's share.
    for _ in range(max(0, n_incidents - incidents_linked)):
        incident_id = ids.next("incident")
        opened = rng.randint(start_ts, END_TS - 3600)
        incident_row(out, rng, s, name, incident_id, opened, opened + int(
            rng.lognormvariate(math.log(2 * 3600), 1.2)), cause="external"
            if rng.random() < 0.3 else "")  # fmt: skip
    if infra:
        automation_write(out, ids, rng, s, name, regions, start_ts)


_RESTORES: dict[int, int] = {}


def failure_restore(
    out: Tables,
    ids: Ids,
    rng: random.Random,
    s: int,
    name: str,
    failure: tuple[int, int, int, str],
    restored_at: int | None,
    by_rollout: int | None,
) -> None:
    """The failed rollout's incident and failure link. The rollout row was written with
    restored_at NULL; restored_at is set by one UPDATE after the load (failures_restore)."""
    rollout_id, failed_at, incident_id, sha = failure
    if restored_at is not None:
        _RESTORES[rollout_id] = restored_at
    if incident_id:
        opened = failed_at + rng.randint(300, 3600)
        resolved = END_TS if restored_at is None else max(opened + 60, restored_at)
        incident_row(
            out, rng, s, name, incident_id, opened, resolved,
            caused_by=json.dumps({"sha": sha}),
        )  # fmt: skip
        cause, detail = "incident", f"incident bench:{name}:incident:{incident_id} names {sha[:12]}"
    elif by_rollout:
        cause, detail = "rollback", "rolled back"
    else:
        cause, detail = "hotfix", "hotfix within 72 h"
    out.row(
        "dora_failurelink", ids.next("failurelink"), rollout_id, cause, "confirmed",
        incident_id or r"\N", by_rollout or r"\N", detail,
    )  # fmt: skip


def commit_row(
    out: Tables,
    commit_id: int,
    repo: str,
    sha: str,
    at: int,
    author: str,
    message: str,
    *,
    parents: list[str],
) -> None:
    out.row(
        "dora_commit", commit_id, "bench", f"bench:{repo}:commit:{sha}", repo, sha, ts(at),
        ts(at), json.dumps([p for p in parents if p]), author, message, "[]", "",
    )  # fmt: skip


def deployment_row(
    out: Tables,
    ids: Ids,
    s: int,
    env: int,
    target: int,
    sha: str,
    version: str,
    repo: str,
    status: str,
    started: int,
    finished: int,
    config_version: str,
    remediates: str,
    rollout_id: int,
) -> None:
    deployment_id = ids.next("deployment")
    out.row(
        "dora_deployment", deployment_id, "bench", f"bench:deployment:{deployment_id}", s, env,
        target, sha, version, repo, status, ts(started), ts(finished), r"\N", "pipeline",
        config_version, remediates, "", rollout_id,
    )  # fmt: skip


def incident_row(
    out: Tables,
    rng: random.Random,
    s: int,
    name: str,
    incident_id: int,
    opened: int,
    resolved: int,
    *,
    caused_by: str = r"\N",
    cause: str = "",
) -> None:
    open_ = resolved >= END_TS
    out.row(
        "dora_incident", incident_id, "bench", f"bench:{name}:incident:{incident_id}", s,
        2 if rng.random() < 0.9 else r"\N", f"Incident {incident_id}",
        rng.choice(("sev1", "sev2", "sev3")), ts(opened), ts(opened - rng.randint(0, 1800)),
        r"\N" if open_ else ts(resolved - rng.randint(0, 600)), r"\N" if open_ else ts(resolved),
        caused_by, cause,
    )  # fmt: skip


def automation_write(
    out: Tables,
    ids: Ids,
    rng: random.Random,
    s: int,
    name: str,
    regions: list[int],
    start_ts: int,
) -> None:
    """An infrastructure stack: a scheduled plan every 11 h per target; drift leads to apply."""
    for env, targets in ((1, [1]), (2, regions)):
        for target in targets:
            t = start_ts + rng.randint(0, 11 * 3600)
            while t < END_TS:
                drift = rng.random() < 0.1
                for action in ("plan", "apply") if drift else ("plan",):
                    run_id = ids.next("automationrun")
                    status = "failure" if rng.random() < 0.05 else "success"
                    out.row(
                        "dora_automationrun", run_id, "bench", f"bench:{name}:run:{run_id}", s,
                        env, target, action, status, ts(t), ts(t + 300), "schedule",
                        f"v{run_id}", boolean(drift),
                    )  # fmt: skip
                    t += 600
                t += 11 * 3600 + rng.randint(-1800, 1800)


def failures_restore(url: str) -> None:
    """restored_at on the failed rollouts, in one UPDATE from an array pair."""
    if not _RESTORES:
        return
    keys = list(_RESTORES)
    values = [datetime.fromtimestamp(_RESTORES[k], UTC) for k in keys]
    with psycopg.connect(url) as conn:
        conn.execute("SET session_replication_role = replica")
        conn.execute(
            "UPDATE dora_rollout r SET restored_at = u.at FROM "
            "unnest(%s::bigint[], %s::timestamptz[]) AS u(id, at) WHERE r.id = u.id",
            (keys, values),
        )
        conn.commit()


# ---------------------------------------------------------------------------------------------
# Timing
# ---------------------------------------------------------------------------------------------


def windows() -> dict[str, tuple[datetime, datetime]]:
    return {"org": (END - ORG_WINDOW, END), "service": (END - SERVICE_WINDOW, END)}


def service_pick(url: str) -> str:
    """The service with the median number of production rollouts: a typical one."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT s.name FROM dora_service s LEFT JOIN dora_rollout r ON r.service_id = s.id "
            "AND r.environment_id = 2 GROUP BY s.name ORDER BY count(r.id), s.name"
        ).fetchall()
    return rows[len(rows) // 2][0]


# The fact rows metrics_report reads, counted with the same filters (dora/reads/selectors.py). The
# rollout targets are left out: since 08d6739 only the items read them, not the report.
BASELINE_SQL: dict[str, str] = {
    "rollouts": (
        "SELECT count(*) FROM dora_rollout r JOIN dora_environment e ON e.id = r.environment_id "
        "JOIN dora_service s ON s.id = r.service_id WHERE e.tier = 'production' {svc} AND ("
        "(r.first_live_at >= %(lookback)s AND r.first_live_at < %(until)s) OR "
        "(r.failure IN ('confirmed', 'inferred') AND r.first_live_at < %(until)s AND "
        "(r.restored_at IS NULL OR r.restored_at >= %(since)s)))"
    ),
    "arrivals": (
        "SELECT count(*) FROM dora_changearrival a JOIN dora_environment e "
        "ON e.id = a.environment_id JOIN dora_service s ON s.id = a.service_id "
        "WHERE e.tier = 'production' {svc} AND a.arrived_at >= %(horizon)s "
        "AND a.arrived_at < %(until)s"
    ),
    "failure_links": (
        "SELECT count(*) FROM dora_failurelink f JOIN dora_rollout r ON r.id = f.rollout_id "
        "JOIN dora_environment e ON e.id = r.environment_id JOIN dora_service s "
        "ON s.id = r.service_id WHERE e.tier = 'production' {svc} "
        "AND r.first_live_at >= %(since)s AND r.first_live_at < %(until)s"
    ),
    "deployments": (
        "SELECT count(*) FROM dora_deployment d JOIN dora_environment e "
        "ON e.id = d.environment_id JOIN dora_service s ON s.id = d.service_id "
        "WHERE e.tier = 'production' {svc} AND d.finished_at >= %(since)s "
        "AND d.finished_at < %(until)s"
    ),
    "live_deployments": (
        "SELECT count(*) FROM dora_deployment d JOIN dora_environment e "
        "ON e.id = d.environment_id JOIN dora_service s ON s.id = d.service_id "
        "WHERE e.tier = 'production' {svc} AND d.status = 'success' "
        "AND d.finished_at >= %(spread)s AND d.finished_at < %(until)s"
    ),
    "incidents": (
        "SELECT count(*) FROM dora_incident i LEFT JOIN dora_environment e "
        "ON e.id = i.environment_id JOIN dora_service s ON s.id = i.service_id "
        "WHERE (e.tier = 'production' OR i.environment_id IS NULL) {svc} "
        "AND i.opened_at < %(until)s AND (coalesce(i.mitigated_at, i.resolved_at) IS NULL "
        "OR coalesce(i.mitigated_at, i.resolved_at) >= %(since)s)"
    ),
    "automation_runs": (
        "SELECT count(*) FROM dora_automationrun r JOIN dora_environment e "
        "ON e.id = r.environment_id JOIN dora_service s ON s.id = r.service_id "
        "WHERE e.tier = 'production' {svc} AND r.finished_at < %(until)s"
    ),
    "value_stream_changes": (
        "SELECT count(DISTINCT a.change_id) FROM dora_changearrival a JOIN dora_environment e "
        "ON e.id = a.environment_id JOIN dora_service s ON s.id = a.service_id "
        "WHERE e.tier = 'production' {svc} AND a.change_id IS NOT NULL "
        "AND a.arrived_at >= %(horizon)s AND a.arrived_at < %(until)s"
    ),
}


def baseline_params(since: datetime, until: datetime) -> dict[str, datetime]:
    return {
        "since": since,
        "until": until,
        "lookback": min(since, until - timedelta(days=182.5)),
        "horizon": since - timedelta(days=30),
        "spread": until - timedelta(days=182.5),
    }


def baseline_scan(url: str, service: str | None, runs: int) -> dict[str, Any]:
    """Each count(*) once to warm up, then `runs` timed passes over all of them; the median."""
    params: dict[str, Any] = baseline_params(*windows()["service" if service else "org"])
    svc = ""
    if service:
        svc, params["service"] = "AND s.name = %(service)s", service
    statements = {k: q.format(svc=svc) for k, q in BASELINE_SQL.items()}
    counts: dict[str, int] = {}
    times: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for attempt in range(runs + 1):
            started = time.perf_counter()
            for name, query in statements.items():
                counts[name] = conn.execute(query, params).fetchone()[0]  # type: ignore[index]
            if attempt:
                times.append(time.perf_counter() - started)
    return {"seconds": statistics.median(times), "runs": times, "rows": counts}


def child_main(scope: str, service: str | None, runs: int, profile: str | None) -> int:
    """In the timed subprocess: Django set up, one warm-up report, then `runs` timed reports."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "dora.settings")
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-not-a-secret")  # DEBUG off needs one
    import django

    django.setup()
    from dora.reads.report import metrics_report
    from dora.reads.report_query import MetricsQuery
    from dora.reads.scope import scope_resolve

    since, until = windows()[scope]
    query = MetricsQuery(
        scope=scope_resolve(services=[service] if service else []), since=since, until=until
    )
    metrics_report(query, now=until)  # warm-up: imports, connection, plan caches
    if profile:
        import cProfile

        cProfile.runctx("metrics_report(query, now=until)", globals(), locals(), filename=profile)
    times = []
    report: dict[str, Any] = {}
    for _ in range(runs):
        started = time.perf_counter()
        report = metrics_report(query, now=until)
        times.append(time.perf_counter() - started)
    summary = {
        "deployment_frequency_rollouts": report["deployment_frequency"]["rollouts"],
        "lead_time_n": report["lead_time"]["n"],
        "lead_time_p50_h": (report["lead_time"]["p50_seconds"] or 0) / 3600,
        "change_failure_rate": report["change_failure_rate"]["rate"],
        "deploy_failure_attempts": report["deploy_failure_rate"]["attempts"],
        "recovery_n": report["recovery_time"]["n"],
        "time_to_restore_n": report["time_to_restore"]["n"],
        "lead_time_all_targets_n": report["lead_time_all_targets"]["n"],
        "version_spread_rows": len(report["version_spread"]),
        "automation_instances": len(report["automation_lag"]["instances"]),
        "level": report["level"],
    }
    print(json.dumps({"runs": times, "summary": summary}))
    return 0


def report_timed(url: str, scope: str, service: str | None, runs: int) -> dict[str, Any]:
    args = [sys.executable, str(Path(__file__)), "--child", scope, "--runs", str(runs)]
    if service:
        args += ["--service", service]
    result = run_measured(args, url)
    if result["returncode"] != 0:
        raise SystemExit(f"metrics_report ({scope}) failed:\n{result['stderr'][-3000:]}")
    data = json.loads(result["stdout"].strip().splitlines()[-1])
    return {
        "seconds": statistics.median(data["runs"]),
        "runs": data["runs"],
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "process_seconds": round(result["seconds"], 2),
        "summary": data["summary"],
    }


def table_format(rows: list[dict[str, Any]]) -> str:
    header = (
        f"{'scope':<22} {'window':>7} {'report s':>9} {'runs':<28} {'peak RSS MB':>11} "
        f"{'count(*) s':>10} {'fact rows':>10} {'x scan':>7} {'target':>8}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        runs = " ".join(f"{r:.3f}" for r in row["report"]["runs"])
        lines.append(
            f"{row['scope']:<22} {row['window_days']:>6}d {row['report']['seconds']:>9.3f} "
            f"{runs:<28} {row['report']['peak_rss_mb']:>11.1f} "
            f"{row['baseline']['seconds']:>10.3f} {sum(row['baseline']['rows'].values()):>10,} "
            f"{row['ratio']:>7.1f} {row['target_seconds']:>7.2f}s"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every count")
    parser.add_argument(
        "--days",
        type=int,
        default=DAYS,
        help="history length ending at END (default 730): the services and the per-day rates "
        "stay, so the dated counts scale with days / 730 and the windows' rows stay the same",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runs", type=int, default=5, help="timed runs after one warm-up")
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument(
        "--no-generate", action="store_true", help="time the estate already in the database"
    )
    parser.add_argument("--service", help="the one service timed (default: the median one)")
    parser.add_argument("--profile", action="store_true", help="cProfile one org-wide report")
    parser.add_argument("--child", choices=("org", "service"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.days <= ORG_WINDOW.days:
        parser.error(f"--days must be over the organisation window ({ORG_WINDOW.days} days)")
    if args.child:
        profile = os.environ.get("BENCH_PROFILE")
        return child_main(args.child, args.service, args.runs, profile)

    OUT.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    url = args.database_url
    machine = machine_describe()
    machine["postgres"] = postgres_version(urlunsplit(urlsplit(url)._replace(path="/postgres")))
    code = code_version()
    print(f"code: {code['git_commit'][:12]} {code['git_subject']}")
    print(
        f"machine: {machine['cpu_model']} x{machine['cpu_count']}, {machine['memory_gib']} GiB, "
        f"PostgreSQL {machine['postgres']}"
    )
    if args.profile:
        prof = OUT / f"metrics-{stamp}.prof"
        os.environ["BENCH_PROFILE"] = str(prof)
        report_timed(url, "org", None, 1)
        import pstats

        stats = pstats.Stats(str(prof))
        stats.strip_dirs().sort_stats("cumulative").print_stats(40)
        print(f"profile: {prof.relative_to(ROOT)}")
        return 0

    generation: dict[str, Any] = {}
    if not args.no_generate:
        print(
            f"== generating the estate at scale {args.scale}, {args.days} days, "
            f"into {url.rsplit('/', 1)[-1]}"
        )
        started = time.perf_counter()
        database_recreate(url)
        manage(url, "migrate", "--no-input", "-v", "0")
        counts = estate_write(url, scale=args.scale, days=args.days, seed=args.seed, log=print)
        failures_restore(url)
        # The automation instances the promotion gate reads are derived at intake, which this
        # load bypasses: build them from the runs, as the migration that adds them does.
        manage(
            url,
            "shell",
            "-c",
            "from dora.instances import automation_instances_rebuild as r; r()",
        )
        # The per-change times intake and derivation keep (dora/intake/change_times.py).
        manage(
            url,
            "shell",
            "-c",
            "from dora.intake.change_times import change_facts_fill_all as f; f()",
        )
        load_s = time.perf_counter() - started
        with psycopg.connect(url, autocommit=True) as conn:
            # VACUUM too, as autovacuum soon would on a live database: it sets the visibility
            # map that index-only scans need and the hint bits the first reads would write.
            conn.execute("VACUUM (ANALYZE)")
            size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]  # type: ignore[index]
        generation = {
            "scale": args.scale,
            "days": args.days,
            "seed": args.seed,
            "rows": counts,
            "seconds": round(time.perf_counter() - started, 1),
            "load_seconds": round(load_s, 1),
            "database_mb": round(size / 1e6),
        }
        print(
            f"   loaded in {load_s:.0f}s (VACUUM ANALYZE included: {generation['seconds']:.0f}s), "
            f"{generation['database_mb']:,} MB: "
            + ", ".join(f"{k.removeprefix('dora_')} {v:,}" for k, v in counts.items())
        )
    service = args.service or service_pick(url)
    rows = []
    for scope, name in (("org", None), ("service", service)):
        since, until = windows()[scope]
        label = "organisation" if name is None else f"service {name}"
        print(f"== {label}: [{since:%Y-%m-%d}, {until:%Y-%m-%d})", flush=True)
        load = os.getloadavg()[0]
        timed = report_timed(url, scope, name, args.runs)
        base = baseline_scan(url, name, args.runs)
        target = TARGETS["org_seconds" if scope == "org" else "service_seconds"]
        rows.append(
            {
                "scope": label,
                "window_days": (until - since).days,
                "since": since.isoformat(),
                "until": until.isoformat(),
                "report": timed,
                "baseline": base,
                "ratio": round(timed["seconds"] / base["seconds"], 1),
                "target_seconds": target,
                "met": timed["seconds"] <= target
                and timed["peak_rss_mb"] <= TARGETS["peak_rss_mb"],
                "load_avg_1m": [round(load, 2), round(os.getloadavg()[0], 2)],
            }
        )
        print(f"   {timed['summary']}")
        print(f"   fact rows: {base['rows']}", flush=True)
    table = table_format(rows)
    print()
    print(table)
    missed = [r["scope"] for r in rows if not r["met"]]
    if missed:
        print(f"\ntargets missed: {', '.join(missed)} (see the JSON for the runs)")
    result = {
        "benchmark": "metrics",
        "started_at": stamp,
        "machine": machine,
        "code": code,
        "database_url": url,
        "generation": generation,
        "targets": TARGETS,
        "baseline": "bare SELECT count(*) over the fact rows the report reads, same filters",
        "ratio": "report median seconds / baseline median seconds",
        "results": rows,
        "table": table,
    }
    out = OUT / f"metrics-{stamp}.json"
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\nwrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
