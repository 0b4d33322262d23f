"""Automation lag and its evidence chart (METRICS §4.3), split from dora.metrics.estate (whose
constants and grouping helper they share)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from dora.metrics.estate import (
    DEFAULT_STALE_AFTER,
    DEFAULT_TARGET_IDLE_AFTER,
    DEPLOY_ACTION,
    GAP_BUCKETS,
    GAP_EDGES_DAYS,
    NON_RESETTING_ACTIONS,
    PIPELINE_COLUMNS,
    RUN_COLUMNS,
    _key_groups,
)
from dora.metrics.frames import (
    as_bool,
    check_aware,
    check_window,
    in_window,
    iso,
    number,
    require_columns,
    text,
    utc,
)
from dora.metrics.stats import percentiles, wilson

# ---------------------------------------------------------------------------------------------
# §4.3 Automation lag and the evidence chart
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutomationLag:
    """CONTRACT §4 `automation_lag`."""

    instances: pd.DataFrame = field(compare=False)
    p50_seconds: float | None
    p90_seconds: float | None
    max_seconds: float | None
    stale: int
    never_succeeded: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "instances": [
                {
                    "service": row.service,
                    "environment": row.environment,
                    "target": row.target,
                    "lag_seconds": number(row.lag_seconds),
                    "last_success_at": iso(row.last_success_at),
                    "stale": bool(row.stale),
                }
                for row in self.instances.itertuples(index=False)
            ],
            "p50_seconds": self.p50_seconds,
            "p90_seconds": self.p90_seconds,
            "max_seconds": self.max_seconds,
            "stale": self.stale,
        }


def _runs(runs: pd.DataFrame) -> pd.DataFrame:
    require_columns(runs, RUN_COLUMNS, "runs")
    frame = runs.copy()
    frame["finished_at"] = utc(frame["finished_at"], "runs.finished_at")
    frame["target"] = text(frame["target"])
    for column in ("action", "status", "trigger"):
        frame[column] = text(frame[column])
    return frame


def deploy_pipelines_active(
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
    frame = pipelines.assign(
        target=text(pipelines["target"]),
        last_success_at=utc(pipelines["last_success_at"], "pipelines.last_success_at"),
    )
    frame = frame[frame["last_success_at"] < moment]
    # One row per (service, environment, target): a few per service, so plain Python.
    services = frame["service"].to_numpy(object)
    environments = frame["environment"].to_numpy(object)
    configured = as_bool(frame["configured"]).to_numpy()
    idle = dict(idle_after_by_environment or {})
    recent_after = {
        environment: moment - pd.Timedelta(idle.get(environment, DEFAULT_TARGET_IDLE_AFTER))
        for environment in set(environments)
    }
    last = frame["last_success_at"].tolist()
    uses_configured = {
        (service, environment)
        for service, environment, on in zip(services, environments, configured, strict=True)
        if on
    }
    active = [
        bool(on) if (service, environment) in uses_configured else at > recent_after[environment]
        for service, environment, on, at in zip(
            services, environments, configured, last, strict=True
        )
    ]
    return frame[np.array(active, dtype=bool)].reset_index(drop=True)


def automation_lag(
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
    frame = _runs(runs)
    frame = frame[frame["finished_at"] < moment]
    key = ["service", "environment", "target"]
    # The instances and each one's resetting successes as arrays (a service has a few
    # instances and a few runs each in a report: pandas' cost per call was all of it).
    keys = [frame[column].to_numpy(object) for column in key]
    action = frame["action"].to_numpy(object)
    resets = (frame["status"].to_numpy(object) == "success") & ~np.isin(
        action, NON_RESETTING_ACTIONS
    )
    chosen = np.flatnonzero(resets)
    at = frame["finished_at"].iloc[chosen].reset_index(drop=True)
    trigger = frame["trigger"].to_numpy(object)[chosen]
    last_action = action[chosen]
    candidate_keys = [column[chosen] for column in keys]
    if pipelines is not None and len(pipelines):
        deployed = deploy_pipelines_active(
            pipelines, now=moment, idle_after_by_environment=idle_after_by_environment
        )
        deployed_keys = [deployed[column].to_numpy(object) for column in key]
        keys = [np.concatenate(pair) for pair in zip(keys, deployed_keys, strict=True)]
        candidate_keys = [
            np.concatenate(pair) for pair in zip(candidate_keys, deployed_keys, strict=True)
        ]
        at = pd.concat([at, deployed["last_success_at"]], ignore_index=True)
        trigger = np.concatenate([trigger, np.full(len(deployed), "", dtype=object)])
        last_action = np.concatenate(
            [last_action, np.full(len(deployed), DEPLOY_ACTION, dtype=object)]
        )
    # Instances in key order; each one's last reset: the latest, a deployment after a run of
    # the same moment and a later row after an earlier one.
    group, first = _key_groups(
        [np.concatenate(pair) for pair in zip(keys, candidate_keys, strict=True)]
    )
    candidate_group = group[len(keys[0]) :]
    latest = np.full(len(first), -1)
    if len(candidate_group):
        order = np.lexsort((np.arange(len(candidate_group)), at.array.asi8, candidate_group))
        ends = np.append(candidate_group[order][1:] != candidate_group[order][:-1], True)
        latest[candidate_group[order][ends]] = order[ends]
    environments = keys[1][first]
    last_success_at = pd.Series(at.array.take(latest, allow_fill=True))
    lag_seconds = (moment - last_success_at).dt.total_seconds()
    limits = {k: v.total_seconds() for k, v in (stale_after_by_environment or {}).items()}
    stale_after_seconds = np.array(
        [limits.get(e, stale_after.total_seconds()) for e in environments], dtype=float
    )
    lags = lag_seconds.to_numpy()
    stale = np.isnan(lags) | (lags > stale_after_seconds)
    triggers = _taken(trigger, latest)
    table = pd.DataFrame(
        {
            "service": pd.Series(keys[0][first], dtype="str"),
            "environment": pd.Series(environments, dtype="str"),
            "target": pd.Series(keys[2][first], dtype="str"),
            "last_success_at": last_success_at,
            "trigger": pd.Series(triggers, dtype="str"),
            "last_action": pd.Series(_taken(last_action, latest), dtype="str"),
            "lag_seconds": lag_seconds,
            "manual": triggers == "manual",
            "stale_after_seconds": stale_after_seconds,
            "stale": stale,
        }
    )
    known = lags[~np.isnan(lags)]
    p50, p90 = percentiles(known, (0.5, 0.9))
    return AutomationLag(
        instances=table,
        p50_seconds=p50,
        p90_seconds=p90,
        max_seconds=float(known.max()) if len(known) else None,
        stale=int(stale.sum()),
        never_succeeded=int(np.isnan(lags).sum()),
    )


def _taken(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """values[rows] as objects, NaN where a row is -1 (none)."""
    out = np.full(len(rows), np.nan, dtype=object)
    out[rows >= 0] = values[rows[rows >= 0]]
    return out


@dataclass(frozen=True)
class AutomationEvidence:
    """Failure rate of runs by the gap since the instance's previous run (METRICS §4.3)."""

    buckets: pd.DataFrame = field(compare=False)
    items: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)

    def as_dict(self) -> list[dict[str, Any]]:
        return [
            {
                "gap": row.gap,
                "runs": int(row.runs),
                "failures": int(row.failures),
                "rate": number(row.rate),
                "ci95": [row.ci_low, row.ci_high] if not pd.isna(row.ci_low) else None,
            }
            for row in self.buckets.itertuples(index=False)
        ]


def automation_evidence(
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
    frame = _runs(runs)
    frame = frame[frame["status"].isin(("success", "failure")) & (frame["finished_at"] < end)]
    key = ["service", "environment", "target"]
    frame = frame.sort_values([*key, "finished_at"], kind="stable")
    # The previous run of an instance is the row before it in that order.
    keys = [frame[column].to_numpy(object) for column in key]
    same = np.zeros(len(frame), dtype=bool)
    same[1:] = np.logical_and.reduce([column[1:] == column[:-1] for column in keys])
    frame["gap_seconds"] = frame["finished_at"].diff().dt.total_seconds().where(same)
    frame = frame[in_window(frame["finished_at"], start, end) & frame["gap_seconds"].notna()]
    # Upper bounds inclusive: a gap of exactly a day is "<=1d".
    bucket = np.searchsorted(
        [d * 86400.0 for d in GAP_EDGES_DAYS], frame["gap_seconds"].to_numpy(), side="left"
    )
    frame["gap"] = pd.Categorical.from_codes(bucket, categories=list(GAP_BUCKETS), ordered=True)
    failed = frame["status"].to_numpy(object) == "failure"
    frame["failed"] = failed
    runs_in = np.bincount(bucket, minlength=len(GAP_BUCKETS))
    failures = np.bincount(bucket[failed], minlength=len(GAP_BUCKETS))
    intervals = [wilson(int(f), int(n)) for f, n in zip(failures, runs_in, strict=True)]
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(runs_in > 0, failures / np.maximum(runs_in, 1), np.nan)
    counts = pd.DataFrame(
        {
            "gap": pd.Series(GAP_BUCKETS, dtype="str"),
            "runs": runs_in.astype("int64"),
            "failures": failures.astype("int64"),
            "rate": rate,
            "ci_low": [ci[0] if ci else np.nan for ci in intervals],
            "ci_high": [ci[1] if ci else np.nan for ci in intervals],
        }
    )
    return AutomationEvidence(buckets=counts, items=frame.reset_index(drop=True))
