"""dora.metrics.estate's array code against the pandas definitions it replaced, on random small
estates: version spread, automation lag (with deploy pipelines) and the evidence chart give the
same frames, dtypes included, and the same figures.

The reference functions below are the pandas code as it was (dora.metrics.estate before the
report of one service was measured at pandas' fixed cost per call, issue 18), kept verbatim
but for their names."""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from dora.metrics.automation import (
    AutomationEvidence,
    AutomationLag,
    automation_evidence,
    automation_lag,
)
from dora.metrics.estate import (
    DEFAULT_STALE_AFTER,
    DEFAULT_TARGET_IDLE_AFTER,
    DEPLOY_ACTION,
    DEPLOYMENT_COLUMNS,
    GAP_BUCKETS,
    GAP_EDGES_DAYS,
    NON_RESETTING_ACTIONS,
    PIPELINE_COLUMNS,
    RUN_COLUMNS,
    SPREAD_COLUMNS,
    VersionSpread,
    version_spread,
)
from dora.metrics.frames import (
    as_bool,
    check_aware,
    check_window,
    in_window,
    require_columns,
    text,
    utc,
)
from dora.metrics.stats import percentiles, wilson

BASE = datetime(2026, 10, 1, tzinfo=UTC)
SERVICES = ("shop", "cart")
ENVIRONMENTS = ("production", "staging")
TARGETS = ("", "eu-1", "us-1")


def reference_per_environment(
    environments: pd.Series, by_environment: Mapping[str, timedelta] | None, default: timedelta
) -> pd.Series:
    """Each row's environment's duration (a Timedelta series), `default` where none is given."""
    found = environments.map(dict(by_environment or {}))
    return pd.to_timedelta(found.where(found.notna(), default))


def reference_runs(runs: pd.DataFrame) -> pd.DataFrame:
    require_columns(runs, RUN_COLUMNS, "runs")
    frame = runs.copy()
    frame["finished_at"] = utc(frame["finished_at"], "runs.finished_at")
    frame["target"] = text(frame["target"])
    for column in ("action", "status", "trigger"):
        frame[column] = text(frame[column])
    return frame


def reference_deploy_pipelines_active(
    pipelines: pd.DataFrame,
    *,
    now: datetime,
    idle_after_by_environment: Mapping[str, timedelta] | None = None,
) -> pd.DataFrame:
    """The deploy pipelines that are automation instances at `now`: those on the active targets
    of their (service, environment), as METRICS §2 counts them (the gate's rule too).

    pipelines: one row per (service, environment, target) with deployments: configured (bool:
      the target is configured), last_success_at (aware datetime: its latest successful
      deployment before `now`).
    - A service that deploys to any configured target of an environment has those as its
      pipelines there; otherwise a target is active while its latest successful deployment is
      within the environment's target_idle_after (90 days when not given) before `now`.
    """
    moment = check_aware(now, "now")
    require_columns(pipelines, PIPELINE_COLUMNS, "pipelines")
    frame = pipelines.copy()
    frame["target"] = text(frame["target"])
    frame["last_success_at"] = utc(frame["last_success_at"], "pipelines.last_success_at")
    frame = frame[frame["last_success_at"] < moment]
    configured = as_bool(frame["configured"])
    idle = reference_per_environment(
        frame["environment"], idle_after_by_environment, DEFAULT_TARGET_IDLE_AFTER
    )
    recent = frame["last_success_at"] > moment - idle
    uses_configured = configured.groupby([frame["service"], frame["environment"]]).transform("any")
    active = configured.where(uses_configured, recent).astype(bool)
    return frame[active].reset_index(drop=True)


def reference_automation_lag(
    runs: pd.DataFrame,
    *,
    now: datetime,
    stale_after: timedelta = DEFAULT_STALE_AFTER,
    stale_after_by_environment: Mapping[str, timedelta] | None = None,
    pipelines: pd.DataFrame | None = None,
    idle_after_by_environment: Mapping[str, timedelta] | None = None,
) -> AutomationLag:
    """now - last successful automated run, per process instance (service, environment, target).

    runs: dora.models.AutomationRun rows: service, environment, target (str; '' when runs name
      none), action (str: apply, plan, deploy, test), status (str), finished_at (aware
      datetime), trigger (str: schedule, change, manual or '').
    pipelines (optional): the deploy pipelines, as `deploy_pipelines_active` takes them: a
      service's deployments to a target are the runs of its deploy pipeline there, and its
      latest successful deployment resets that instance's lag as a successful apply resets a
      stack's (METRICS §4.3); the instance is the same as the service's runs on that target.
      Only pipelines on active targets are instances (idle_after_by_environment).
    now: the evaluation time (the window's `until` for a past window).
    stale_after: default threshold; stale_after_by_environment overrides it per environment.

    - Successful runs reset the lag, except plan (dry-run) runs; a manual run resets it and the
      instance is flagged `manual` when its last reset was manual; a deployment resets it as
      action `deployment`.
    - An instance with runs but no resetting success has lag null and counts as stale
      (`never_succeeded`); percentiles are over the instances with a lag.
    - stale: lag > the environment's stale_after.
    """
    moment = check_aware(now, "now")
    frame = reference_runs(runs)
    frame = frame[frame["finished_at"] < moment]
    key = ["service", "environment", "target"]
    instances = frame[key].drop_duplicates()
    resets = frame[(frame["status"] == "success") & ~frame["action"].isin(NON_RESETTING_ACTIONS)]
    last = (
        resets.sort_values("finished_at", kind="stable")
        .groupby(key, as_index=False)
        .last()[[*key, "finished_at", "trigger", "action"]]
        .rename(columns={"finished_at": "last_success_at", "action": "last_action"})
    )
    if pipelines is not None and len(pipelines):
        deployed = reference_deploy_pipelines_active(
            pipelines, now=moment, idle_after_by_environment=idle_after_by_environment
        )[key + ["last_success_at"]].assign(trigger="", last_action=DEPLOY_ACTION)
        instances = pd.concat([instances, deployed[key]]).drop_duplicates()
        last = (
            pd.concat([last, deployed], ignore_index=True)
            .sort_values("last_success_at", kind="stable")
            .groupby(key, as_index=False)
            .last()
        )
    table = instances.merge(last, on=key, how="left")
    table["lag_seconds"] = (moment - table["last_success_at"]).dt.total_seconds()
    table["manual"] = table["trigger"].fillna("") == "manual"
    limits = table["environment"].map(
        {k: v.total_seconds() for k, v in (stale_after_by_environment or {}).items()}
    )
    table["stale_after_seconds"] = limits.fillna(stale_after.total_seconds()).astype(float)
    table["stale"] = table["lag_seconds"].isna() | (
        table["lag_seconds"] > table["stale_after_seconds"]
    )
    table = table.sort_values(key).reset_index(drop=True)
    lags = table["lag_seconds"].dropna()
    p50, p90 = percentiles(lags, (0.5, 0.9))
    return AutomationLag(
        instances=table,
        p50_seconds=p50,
        p90_seconds=p90,
        max_seconds=float(lags.max()) if len(lags) else None,
        stale=int(table["stale"].sum()),
        never_succeeded=int(table["lag_seconds"].isna().sum()),
    )


def reference_automation_evidence(
    runs: pd.DataFrame, *, since: datetime, until: datetime
) -> AutomationEvidence:
    """Runs finishing in [since, until), grouped by the gap since the same instance's previous run.

    runs: as for `automation_lag` (earlier runs should be included so the first runs in the
      window have a predecessor). Only finished runs (success, failure) count, of every action;
      the gap is between finish times; a run with no earlier run has no gap and is left out.
      Buckets: <=1d, 1-7d, 7-30d, >30d (upper bounds inclusive). failure rate with n and a
      Wilson 95% CI per bucket.
    """
    start, end = check_window(since, until)
    frame = reference_runs(runs)
    frame = frame[frame["status"].isin(("success", "failure")) & (frame["finished_at"] < end)]
    key = ["service", "environment", "target"]
    frame = frame.sort_values([*key, "finished_at"], kind="stable")
    frame["gap_seconds"] = frame.groupby(key)["finished_at"].diff().dt.total_seconds()
    frame = frame[in_window(frame["finished_at"], start, end) & frame["gap_seconds"].notna()]
    edges = [-np.inf, *(d * 86400.0 for d in GAP_EDGES_DAYS), np.inf]
    frame["gap"] = pd.cut(frame["gap_seconds"], bins=edges, labels=list(GAP_BUCKETS), right=True)
    frame["failed"] = frame["status"] == "failure"
    counts = (
        frame.groupby("gap", observed=False)["failed"]
        .agg(runs="size", failures="sum")
        .reindex(list(GAP_BUCKETS), fill_value=0)
        .reset_index()
    )
    counts["rate"] = counts["failures"] / counts["runs"].where(counts["runs"] > 0)
    intervals = [
        wilson(int(f), int(n)) for f, n in zip(counts["failures"], counts["runs"], strict=True)
    ]
    counts["ci_low"] = [ci[0] if ci else np.nan for ci in intervals]
    counts["ci_high"] = [ci[1] if ci else np.nan for ci in intervals]
    return AutomationEvidence(buckets=counts, items=frame.reset_index(drop=True))


def reference_version_spread(
    deployments: pd.DataFrame,
    *,
    at: datetime,
    configured_targets: pd.DataFrame | None = None,
    active_window: timedelta = DEFAULT_TARGET_IDLE_AFTER,
    idle_after_by_environment: Mapping[str, timedelta] | None = None,
) -> VersionSpread:
    """Live versions across each (service, environment)'s active targets at time `at`.

    deployments: dora.models.Deployment rows: service, environment, target (str; '' for the
      only target), sha, version (str; the version key is sha, else version, as
      Deployment.version_key), status (str), finished_at (aware datetime). Pass the history of
      every version that may still be live.
    configured_targets (optional): environment, target of targets configured explicitly
      (Target.configured). As in derivation, a service that deploys to any configured target of
      an environment has exactly those as its active targets there; otherwise active targets
      are those with a successful deployment within the environment's `target_idle_after`
      (idle_after_by_environment; `active_window`, 90 days, for an environment it does not name)
      before `at`. Note the consequence of METRICS §2's rule: a target left on an old version
      for longer than that drops out of the spread; raise `target_idle_after` (or configure
      targets) to keep such stragglers in view.

    - live version of a target = its latest successful deployment finished before `at`.
    - releases = distinct versions in the order of their first successful deployment in the
      (service, environment); versions_behind = releases between the oldest and newest live
      (by that order), so a release every target skipped still counts.
    - oldest_live_age_seconds = at - first deployment of the oldest live version there.
    - share_on_newest = targets on the newest live version / targets with a live version.
    items: one row per active target: service, environment, target, live version and since when.
    """
    moment = check_aware(at, "at")
    require_columns(deployments, DEPLOYMENT_COLUMNS, "deployments")
    finished = utc(deployments["finished_at"], "deployments.finished_at")
    ok = (text(deployments["status"]) == "success") & (finished < moment)
    sha, label = text(deployments["sha"]), text(deployments["version"])
    frame = pd.DataFrame(
        {
            "service": deployments["service"],
            "environment": deployments["environment"],
            "target": text(deployments["target"]),
            "key": sha.where(sha != "", label),
            "version": label.where(label != "", sha),
            "finished_at": finished,
        }
    )[ok]
    pair = ["service", "environment"]
    if frame.empty:
        return VersionSpread(rows=pd.DataFrame(columns=SPREAD_COLUMNS), items=frame)

    releases = (
        frame.groupby([*pair, "key"], as_index=False)["finished_at"]
        .min()
        .rename(columns={"finished_at": "released_at"})
        .sort_values([*pair, "released_at", "key"])
    )
    releases["release_no"] = releases.groupby(pair).cumcount()

    live = (
        frame.sort_values("finished_at", kind="stable")
        .groupby([*pair, "target"], as_index=False)
        .last()
        .merge(releases, on=[*pair, "key"])
    )
    idle = reference_per_environment(live["environment"], idle_after_by_environment, active_window)
    live["active"] = live["finished_at"] > moment - idle
    if configured_targets is not None and len(configured_targets):
        require_columns(configured_targets, ("environment", "target"), "configured_targets")
        configured = configured_targets.assign(
            configured=True, target=text(configured_targets["target"])
        )
        live = live.merge(configured, on=["environment", "target"], how="left")
        live["configured"] = as_bool(live["configured"])
        uses_configured = live.groupby(pair)["configured"].transform("any")
        live["active"] = live["configured"].where(uses_configured, live["active"])
    live = live[live["active"]].drop(columns="active")

    grouped = live.groupby(pair)
    rows = grouped.agg(
        targets=("target", "size"),
        versions=("key", "nunique"),
        newest_no=("release_no", "max"),
        oldest_no=("release_no", "min"),
        oldest_released_at=("released_at", "min"),
    ).reset_index()
    live = live.merge(rows[[*pair, "newest_no"]], on=pair)
    on_newest = (live["release_no"] == live["newest_no"]).groupby([live[c] for c in pair]).sum()
    rows = rows.merge(on_newest.rename("on_newest").reset_index(), on=pair)
    rows["versions_behind"] = rows["newest_no"] - rows["oldest_no"]
    rows["oldest_live_age_seconds"] = (moment - rows["oldest_released_at"]).dt.total_seconds()
    rows["share_on_newest"] = rows["on_newest"] / rows["targets"]
    items = live[[*pair, "target", "version", "finished_at", "released_at", "release_no"]]
    return VersionSpread(
        rows=rows[SPREAD_COLUMNS].reset_index(drop=True),
        items=items.sort_values([*pair, "target"]).reset_index(drop=True),
    )


def moment(rng: random.Random) -> datetime:
    """A moment within 40 days of BASE, on a coarse grid so that ties are common."""
    return BASE + timedelta(hours=rng.choice(range(0, 40 * 24, 12)))


def random_runs(rng: random.Random) -> pd.DataFrame:
    rows = [
        {
            "run_id": str(i),
            "service": rng.choice(SERVICES),
            "environment": rng.choice(ENVIRONMENTS),
            "target": rng.choice(TARGETS),
            "action": rng.choice(("apply", "plan", "deploy", "test")),
            "status": rng.choice(("success", "success", "failure", "running")),
            "finished_at": moment(rng),
            "trigger": rng.choice(("schedule", "change", "manual", "")),
            "version": "",
        }
        for i in range(rng.choice((0, 1, 2, 5, 12, 30)))
    ]
    frame = pd.DataFrame(rows, columns=[*RUN_COLUMNS, "run_id", "version"])
    frame = frame.astype({c: "str" for c in frame.columns if c != "finished_at"})
    # As the COPY read types them (dora.reads.frame_io): timestamps with their own unit.
    frame["finished_at"] = pd.to_datetime(frame["finished_at"], utc=True).astype(
        "datetime64[s, UTC]"
    )
    return frame


def random_pipelines(rng: random.Random) -> pd.DataFrame:
    keys = [(s, e, t) for s in SERVICES for e in ENVIRONMENTS for t in TARGETS]
    rows = [
        {
            "service": s,
            "environment": e,
            "target": t,
            "configured": rng.random() < 0.3,
            "last_success_at": moment(rng) - timedelta(days=rng.choice((0, 0, 60, 100))),
        }
        for s, e, t in rng.sample(keys, rng.choice((0, 1, 3, 6)))
    ]
    frame = pd.DataFrame(rows, columns=list(PIPELINE_COLUMNS))
    frame = frame.astype({"service": "str", "environment": "str", "target": "str"})
    frame["configured"] = frame["configured"].astype(bool)
    frame["last_success_at"] = pd.to_datetime(frame["last_success_at"], utc=True).astype(
        "datetime64[us, UTC]"
    )
    return frame


def random_deployments(rng: random.Random) -> pd.DataFrame:
    versions = ["v1", "v2", "v3", "v4"]
    rows = []
    for i in range(rng.choice((0, 1, 2, 6, 15, 40))):
        version = rng.choice(versions)
        sha = rng.choice(("", f"sha-{version}"))
        rows.append(
            {
                "deployment_id": str(i),
                "service": rng.choice(SERVICES),
                "environment": rng.choice(ENVIRONMENTS),
                "target": rng.choice(TARGETS),
                "sha": sha,
                "version": rng.choice(("", version)) if sha else version,
                "status": rng.choice(("success", "success", "failure")),
                "finished_at": moment(rng) - timedelta(days=rng.choice((0, 0, 0, 95))),
            }
        )
    frame = pd.DataFrame(rows, columns=[*DEPLOYMENT_COLUMNS, "deployment_id"])
    frame = frame.astype({c: "str" for c in frame.columns if c != "finished_at"})
    frame["finished_at"] = pd.to_datetime(frame["finished_at"], utc=True).astype(
        "datetime64[us, UTC]"
    )
    return frame


def random_settings(rng: random.Random) -> dict[str, timedelta]:
    return {
        e: timedelta(days=rng.choice((1, 5, 30, 120))) for e in ENVIRONMENTS if rng.random() < 0.5
    }


SEEDS = range(300)


@pytest.mark.parametrize("seed", SEEDS)
def test_automation_lag_is_the_pandas_definition(seed: int) -> None:
    rng = random.Random(seed)
    runs = random_runs(rng)
    pipelines = random_pipelines(rng) if rng.random() < 0.7 else None
    now = moment(rng)
    stale = random_settings(rng)
    idle = random_settings(rng)
    got = automation_lag(
        runs,
        now=now,
        stale_after_by_environment=stale,
        pipelines=pipelines,
        idle_after_by_environment=idle,
    )
    want = reference_automation_lag(
        runs,
        now=now,
        stale_after_by_environment=stale,
        pipelines=pipelines,
        idle_after_by_environment=idle,
    )
    pd.testing.assert_frame_equal(got.instances, want.instances)
    assert got == want  # the figures (the frames are left out of the comparison)


@pytest.mark.parametrize("seed", SEEDS)
def test_automation_evidence_is_the_pandas_definition(seed: int) -> None:
    rng = random.Random(seed)
    runs = random_runs(rng)
    since = moment(rng) - timedelta(days=rng.choice((0, 10, 30)))
    until = since + timedelta(days=rng.choice((1, 7, 30, 40)))
    got = automation_evidence(runs, since=since, until=until)
    want = reference_automation_evidence(runs, since=since, until=until)
    pd.testing.assert_frame_equal(got.buckets, want.buckets)
    pd.testing.assert_frame_equal(got.items, want.items)


@pytest.mark.parametrize("seed", SEEDS)
def test_version_spread_is_the_pandas_definition(seed: int) -> None:
    rng = random.Random(seed)
    deployments = random_deployments(rng)
    configured = None
    if rng.random() < 0.5:
        pairs = rng.sample([(e, t) for e in ENVIRONMENTS for t in TARGETS], rng.choice((0, 1, 2)))
        configured = pd.DataFrame(pairs, columns=["environment", "target"]).astype("str")
    at = moment(rng)
    idle = random_settings(rng)
    got = version_spread(
        deployments, at=at, configured_targets=configured, idle_after_by_environment=idle
    )
    want = reference_version_spread(
        deployments, at=at, configured_targets=configured, idle_after_by_environment=idle
    )
    pd.testing.assert_frame_equal(got.rows, want.rows)
    pd.testing.assert_frame_equal(got.items, want.items)
    assert got.as_dict() == want.as_dict()
