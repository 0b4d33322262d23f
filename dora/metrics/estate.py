"""Infrastructure and estate metrics (METRICS §4.1–4.3): full-estate lead time and rollout lag,
version spread, automation lag and its evidence chart."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

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
from dora.metrics.levels import graded
from dora.metrics.stats import Duration, duration_summary, percentiles, wilson

# METRICS §2: a target with no successful deployment of a service for this long is not one of
# its active targets (per environment, `target_idle_after`; this when none is given).
DEFAULT_TARGET_IDLE_AFTER = timedelta(days=90)
DEFAULT_STALE_AFTER = timedelta(days=7)
NON_RESETTING_ACTIONS = ("plan",)
GAP_BUCKETS = ("<=1d", "1-7d", "7-30d", ">30d")
GAP_EDGES_DAYS = (1, 7, 30)

ESTATE_COLUMNS = (
    "change_id",
    "commit_sha",
    "service",
    "rollout_id",
    "start",
    "arrived_at",
    "estate_reached_at",
    "unattributed",
)
REACHED_COLUMNS = ("rollout_id", "target", "reached_at")
DEPLOYMENT_COLUMNS = ("service", "environment", "target", "sha", "version", "status", "finished_at")
RUN_COLUMNS = ("service", "environment", "target", "action", "status", "finished_at", "trigger")
PIPELINE_COLUMNS = (
    "service",
    "environment",
    "target",
    "configured",
    "last_success_at",
)
DEPLOY_ACTION = "deployment"  # what a deploy pipeline's lag-resetting run is called


# ---------------------------------------------------------------------------------------------
# §4.1 Full-estate lead time and rollout lag
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EstateLeadTime:
    """CONTRACT §4 `lead_time_all_targets` (DURATION + incomplete, oldest_incomplete_seconds)
    and `rollout_lag` (DURATION)."""

    duration: Duration
    incomplete: int
    oldest_incomplete_seconds: float | None
    rollout_lag: Duration
    invalid: int = 0
    items: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.duration.as_dict(),
            "incomplete": self.incomplete,
            "oldest_incomplete_seconds": self.oldest_incomplete_seconds,
        }


def full_estate_lead_time(
    arrivals: pd.DataFrame,
    *,
    since: datetime,
    until: datetime,
    reached: pd.DataFrame | None = None,
) -> EstateLeadTime:
    """Per change: the last active production target's arrival - start, and last - first arrival.

    arrivals: production ChangeArrival rows joined to their Change and Rollout: change_id (int,
      null for a direct push), commit_sha (str), service (str), rollout_id (int), start (aware
      datetime), arrived_at (aware datetime: first_live_at, the first target's arrival),
      estate_reached_at (aware datetime or null: Rollout.estate_reached_at, when every active
      target ran a version holding the change), unattributed (bool); optional targets_active
      (int: Rollout.targets_active). Pass every change that arrived before `until` and may still
      be incomplete (derivation stops looking 30 days after a rollout went live).
    reached (optional, for the items): RolloutTarget rows: rollout_id, target, reached_at.

    - Complete at `until` when estate_reached_at < until; placed by estate_reached_at in
      [since, until). lead_time_all_targets = estate_reached_at - start (<= 0: invalid, left
      out); rollout_lag = estate_reached_at - arrived_at.
    - Incomplete: arrived before `until`, not complete by then; age = until - start,
      right-censored, reported as a count and the oldest age, never dropped.
    - Unattributed changes (a service's first rollout) are left out: their start says nothing
      about this delivery.
    Categories are D1–D6 by p50; there is no DORA level for these figures.
    """
    start, end = check_window(since, until)
    require_columns(arrivals, ESTATE_COLUMNS, "arrivals")
    frame = arrivals.copy()
    for column in ("start", "arrived_at", "estate_reached_at"):
        frame[column] = utc(frame[column], f"arrivals.{column}")
    frame = frame[~as_bool(frame["unattributed"]) & (frame["arrived_at"] < end)]
    frame = (
        frame.sort_values(["arrived_at", "rollout_id"], kind="stable")
        # A direct push has no change_id and is told apart by its sha (NaN ids compare equal).
        .drop_duplicates(["service", "change_id", "commit_sha"])
    )
    complete = frame["estate_reached_at"] < end
    frame["complete"] = complete
    all_targets = (frame["estate_reached_at"] - frame["start"]).dt.total_seconds()
    lag = (frame["estate_reached_at"] - frame["arrived_at"]).dt.total_seconds()
    placed = complete & in_window(frame["estate_reached_at"], start, end)
    frame["invalid"] = placed & ~(all_targets > 0)
    frame["lead_time_all_targets_seconds"] = all_targets.where(placed & (all_targets > 0))
    frame["rollout_lag_seconds"] = lag.where(placed)
    frame["age_seconds"] = (end - frame["start"]).dt.total_seconds().where(~complete)
    if reached is not None:
        require_columns(reached, REACHED_COLUMNS, "reached")
        reached_at = utc(reached["reached_at"], "reached.reached_at")
        counts = reached.loc[reached_at < end].groupby("rollout_id")["target"].nunique()
        frame["targets_reached"] = frame["rollout_id"].map(counts).fillna(0).astype(int)
    items = frame[placed | ~complete].sort_values("arrived_at").reset_index(drop=True)
    ages = items["age_seconds"].dropna()
    return EstateLeadTime(
        duration=graded(duration_summary(items["lead_time_all_targets_seconds"]), None),
        incomplete=int((~items["complete"]).sum()),
        oldest_incomplete_seconds=float(ages.max()) if len(ages) else None,
        rollout_lag=graded(duration_summary(items["rollout_lag_seconds"]), None),
        invalid=int(items["invalid"].sum()),
        items=items,
    )


# ---------------------------------------------------------------------------------------------
# §4.2 Version spread
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionSpread:
    """CONTRACT §4 `version_spread`: one row per (service, environment)."""

    rows: pd.DataFrame = field(compare=False)
    items: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)

    def as_dict(self) -> list[dict[str, Any]]:
        return [
            {
                "service": row.service,
                "environment": row.environment,
                "targets": int(row.targets),
                "versions": int(row.versions),
                "versions_behind": int(row.versions_behind),
                "oldest_live_age_seconds": number(row.oldest_live_age_seconds),
                "share_on_newest": number(row.share_on_newest),
            }
            for row in self.rows.itertuples(index=False)
        ]


SPREAD_COLUMNS = [
    "service",
    "environment",
    "targets",
    "versions",
    "versions_behind",
    "oldest_live_age_seconds",
    "share_on_newest",
]


def version_spread(
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
    ok = ((text(deployments["status"]) == "success") & (finished < moment)).to_numpy()
    if not ok.any():
        frame = pd.DataFrame(
            {
                "service": deployments["service"],
                "environment": deployments["environment"],
                "target": text(deployments["target"]),
                "key": text(deployments["sha"]),
                "version": text(deployments["version"]),
                "finished_at": finished,
            }
        )[ok]
        return VersionSpread(rows=pd.DataFrame(columns=SPREAD_COLUMNS), items=frame)
    # Arrays from here: a service's spread is a few rows, where pandas' cost per call was all
    # of it; the organisation's is a few hundred thousand, grouped by sorting once or twice.
    service = deployments["service"].to_numpy(object)[ok]
    environment = deployments["environment"].to_numpy(object)[ok]
    target = text(deployments["target"]).to_numpy(object)[ok]
    sha = text(deployments["sha"]).to_numpy(object)[ok]
    label = text(deployments["version"]).to_numpy(object)[ok]
    key = np.where(sha != "", sha, label)
    version = np.where(label != "", label, sha)
    moments = finished.array[ok]
    stamps = moments.asi8
    rows_at = np.arange(len(stamps))

    # Releases: each (service, environment, key)'s first deployment, numbered in the
    # (service, environment) by that moment, then key.
    release, _ = _key_groups([service, environment, key])
    by_release = np.lexsort((stamps, release))
    starts = np.ones(len(by_release), dtype=bool)
    starts[1:] = release[by_release][1:] != release[by_release][:-1]
    release_row = by_release[starts]  # each release's first deployment (its earliest)
    pair, _ = _key_groups([service, environment])
    release_pair = pair[release_row]
    key_rank = pd.factorize(key, sort=True)[0][release_row]
    numbered = np.lexsort((key_rank, stamps[release_row], release_pair))
    release_no = np.empty(len(release_row), dtype=np.int64)
    pair_starts = np.ones(len(numbered), dtype=bool)
    pair_starts[1:] = release_pair[numbered][1:] != release_pair[numbered][:-1]
    position = np.arange(len(numbered))
    release_no[numbered] = position - np.maximum.accumulate(np.where(pair_starts, position, 0))

    # Live: each target's latest successful deployment (the later row of two at one moment).
    slot, _ = _key_groups([service, environment, target])
    by_slot = np.lexsort((rows_at, stamps, slot))
    ends = np.ones(len(by_slot), dtype=bool)
    ends[:-1] = slot[by_slot][1:] != slot[by_slot][:-1]
    live = by_slot[ends]  # in (service, environment, target) order
    live_release = release[live]
    live_environment = environment[live]
    names, codes = np.unique(live_environment.astype(str), return_inverse=True)
    idle = dict(idle_after_by_environment or {})
    recent_after = pd.DatetimeIndex(
        [moment - pd.Timedelta(idle.get(name, active_window)) for name in names]
    ).take(codes.ravel())
    active = np.asarray(moments.take(live) > recent_after.array)
    if configured_targets is not None and len(configured_targets):
        require_columns(configured_targets, ("environment", "target"), "configured_targets")
        listed = set(
            zip(
                configured_targets["environment"],
                text(configured_targets["target"]),
                strict=True,
            )
        )
        configured = np.array(
            [pair_key in listed for pair_key in zip(live_environment, target[live], strict=True)],
            dtype=bool,
        )
        uses_configured = np.bincount(pair[live], weights=configured, minlength=pair.max() + 1)
        active = np.where(uses_configured[pair[live]] > 0, configured, active)
    live = live[active]
    live_release = live_release[active]

    # Per (service, environment) with an active target: its targets, versions, the newest and
    # oldest live release and how many targets run the newest.
    groups, first = np.unique(pair[live], return_index=True)
    counted = np.searchsorted(groups, pair[live])
    live_no = release_no[live_release]
    newest = np.full(len(groups), -1, dtype=np.int64)
    np.maximum.at(newest, counted, live_no)
    oldest = np.full(len(groups), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(oldest, counted, live_no)
    targets = np.bincount(counted, minlength=len(groups)).astype(np.int64)
    on_newest = np.bincount(counted, weights=live_no == newest[counted], minlength=len(groups))
    distinct = np.unique(np.stack([counted, live_release]), axis=1)[0]
    versions = np.bincount(distinct, minlength=len(groups)).astype(np.int64)
    released_at = moments.take(release_row)  # each release's moment
    by_age = np.lexsort((stamps[release_row][live_release], counted))
    oldest_release = live_release[by_age][np.unique(counted[by_age], return_index=True)[1]]
    oldest_released = pd.Series(released_at.take(oldest_release))
    rows = pd.DataFrame(
        {
            "service": pd.Series(service[live[first]], dtype="str"),
            "environment": pd.Series(environment[live[first]], dtype="str"),
            "targets": targets,
            "versions": versions,
            "versions_behind": newest - oldest,
            "oldest_live_age_seconds": (moment - oldest_released).dt.total_seconds(),
            "share_on_newest": on_newest / targets,
        }
    )
    items = pd.DataFrame(
        {
            "service": pd.Series(service[live], dtype="str"),
            "environment": pd.Series(environment[live], dtype="str"),
            "target": pd.Series(target[live], dtype="str"),
            "version": pd.Series(version[live], dtype="str"),
            "finished_at": moments.take(live),
            "released_at": released_at.take(live_release),
            "release_no": release_no[live_release],
        }
    )
    return VersionSpread(rows=rows, items=items)


def version_spread_series(
    deployments: pd.DataFrame,
    *,
    since: datetime,
    until: datetime,
    tz: str = "UTC",
    configured_targets: pd.DataFrame | None = None,
    active_window: timedelta = DEFAULT_TARGET_IDLE_AFTER,
    idle_after_by_environment: Mapping[str, timedelta] | None = None,
) -> pd.DataFrame:
    """Daily version spread: evaluated at the end of each local day in [since, until).

    Columns: day (date), then the `version_spread` columns. One evaluation per day over the
    same frame (days are few; each evaluation is vectorized).
    """
    start, end = check_window(since, until)
    first = start.tz_convert(tz).tz_localize(None).normalize()
    last = (end - pd.Timedelta(microseconds=1)).tz_convert(tz).tz_localize(None).normalize()
    frames = []
    for day in pd.date_range(first, last, freq="D"):
        day_end = (day + pd.Timedelta(days=1)).tz_localize(tz, ambiguous=False).tz_convert("UTC")
        moment = min(day_end, end)
        rows = version_spread(
            deployments,
            at=moment.to_pydatetime(),
            configured_targets=configured_targets,
            active_window=active_window,
            idle_after_by_environment=idle_after_by_environment,
        ).rows
        frames.append(rows.assign(day=day.date()))
    if not frames:
        return pd.DataFrame(columns=["day", *SPREAD_COLUMNS])
    series = pd.concat(frames, ignore_index=True)
    return series[["day", *SPREAD_COLUMNS]]


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


def _key_groups(columns: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's group by the values of `columns` (equal rows, one group), numbered in the
    order pandas sorts the values, and each group's first row."""
    if not len(columns[0]):
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    codes = np.stack([pd.factorize(column, sort=True)[0] for column in columns])
    order = np.lexsort(codes[::-1])
    ordered = codes[:, order]
    starts = np.ones(len(order), dtype=bool)
    starts[1:] = (ordered[:, 1:] != ordered[:, :-1]).any(axis=0)
    group = np.empty(len(order), dtype=np.intp)
    group[order] = np.cumsum(starts) - 1
    return group, order[starts]


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
