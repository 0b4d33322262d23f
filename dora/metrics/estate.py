"""Infrastructure and estate metrics (METRICS §4.1–4.2): full-estate lead time and rollout lag,
version spread; and the constants automation lag and its evidence chart (§4.3,
dora.metrics.automation) share with them."""

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
    number,
    require_columns,
    text,
    utc,
)
from dora.metrics.levels import graded
from dora.metrics.stats import Duration, duration_summary

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
