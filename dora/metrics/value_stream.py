"""Value stream (METRICS §5): per-change stage durations, process vs wait, flow efficiency."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from dora.metrics.frames import check_window, in_window, number, require_columns, utc
from dora.metrics.stats import percentiles

CHANGE_COLUMNS = (
    "change_id",
    "start",
    "created_at",
    "first_review_at",
    "merged_at",
    "build_at",
    "production_approved_at",
    "arrived_at",
    "estate_reached_at",
)
PREPROD_COLUMNS = ("change_id", "environment", "order", "first_live_at")
INTERVAL_COLUMNS = ("change_id", "started_at", "finished_at")

# (stage named after its end event, end-event column, class). A stage runs from the latest
# earlier event present to its own event. Process time: "machine" = job/deploy run intervals
# inside the stage; "active" = business hours of the stage; "wait" = none.
BEFORE_PREPROD = (
    ("issue", "issue_created_at", "wait"),  # E0: always the first event, so never a stage
    ("backlog", "start", "wait"),  # E0 issue created -> E2 first commit authored
    ("coding", "opened_at", "active"),  # -> PR ready for review
    ("pickup", "first_review_at", "wait"),  # -> first review by someone else
    ("review", "merged_at", "wait"),  # -> merged
    ("build", "build_at", "machine"),  # -> first successful CI on the merge sha
)
AFTER_PREPROD = (
    ("approval", "production_approved_at", "wait"),  # -> production approval, if recorded
    ("production", "arrived_at", "machine"),  # -> production arrival
    ("rollout", "estate_reached_at", "machine"),  # -> full-estate arrival
)
BUSINESS_HOURS = (9, 17)


@dataclass(frozen=True)
class ValueStream:
    """CONTRACT §4 `value_stream`: per-stage n, p50, p90 and the flow efficiency."""

    stages: pd.DataFrame = field(compare=False)
    flow_efficiency: float | None
    delivery_flow_efficiency: float | None = None
    median_item_flow_efficiency: float | None = None
    anomalies: int = 0
    bottleneck: str | None = None
    items: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stages": [
                {
                    "name": row.name,
                    "n": int(row.n),
                    "p50_seconds": number(row.p50_seconds),
                    "p90_seconds": number(row.p90_seconds),
                }
                for row in self.stages.itertuples(index=False)
            ],
            "flow_efficiency": self.flow_efficiency,
        }


def business_seconds(
    start: pd.Series, end: pd.Series, tz: str = "UTC", hours: tuple[int, int] = BUSINESS_HOURS
) -> pd.Series:
    """Seconds of working time (Monday–Friday, `hours` local) between start and end.

    Each moment maps to the working seconds elapsed since a fixed Monday; the difference of the
    two is the answer, without looping over days. NaT gives NaN.
    """
    day_seconds = (hours[1] - hours[0]) * 3600.0

    def clock(moments: pd.Series) -> np.ndarray:
        local = moments.dt.tz_convert(tz).dt.tz_localize(None)
        valid = local.notna().to_numpy()
        days = local.dt.normalize().to_numpy().astype("datetime64[D]")
        safe_days = np.where(valid, days, np.datetime64("1970-01-05", "D"))
        whole = np.busday_count(np.datetime64("1970-01-05", "D"), safe_days).astype(float)
        into_day = (local - local.dt.normalize()).dt.total_seconds().to_numpy()
        partial = np.clip(np.nan_to_num(into_day) - hours[0] * 3600.0, 0.0, day_seconds)
        partial = np.where(np.is_busday(safe_days), partial, 0.0)
        return np.where(valid, whole * day_seconds + partial, np.nan)

    return pd.Series(clock(end) - clock(start), index=start.index)


def _stage_events(
    changes: pd.DataFrame, preprod: pd.DataFrame | None
) -> tuple[list[tuple[str, str, str]], pd.DataFrame]:
    """The chain of stages (stage, end-event column, class) and the long frame of the present
    events: change_id, position (in the chain), at; sorted by change_id, then position.
    `changes` gains a `deploy:<environment>` column per pre-production environment."""
    chain: list[tuple[str, str, str]] = list(BEFORE_PREPROD)
    frame = changes
    if preprod is not None and len(preprod):
        require_columns(preprod, PREPROD_COLUMNS, "preprod")
        pre = preprod.assign(first_live_at=utc(preprod["first_live_at"], "preprod.first_live_at"))
        order = pre.groupby("environment")["order"].min().sort_values(kind="stable")
        environments = pre["environment"].to_numpy()
        for environment in order.index:
            column = f"deploy:{environment}"
            first = pre[environments == environment].groupby("change_id")["first_live_at"].min()
            frame[column] = frame["change_id"].map(first)
            chain.append((column, column, "machine"))
    chain += list(AFTER_PREPROD)
    ids, positions, moments = [], [], []
    for position, (_, column, _) in enumerate(chain):
        if column not in frame.columns:
            continue
        present = frame[["change_id", column]].dropna()
        ids.append(present["change_id"])
        positions.append(np.full(len(present), position, dtype="int64"))
        moments.append(utc(present[column], column))
    events = pd.DataFrame(
        {
            "change_id": pd.concat(ids, ignore_index=True),
            "position": np.concatenate(positions),
            "at": pd.concat(moments, ignore_index=True),
        }
    )
    keys = events["change_id"].to_numpy()
    if keys.dtype.kind in "iu":  # as the stable sort below, without factorizing the keys
        ordered = np.lexsort((events["position"].to_numpy(), keys))
    else:
        ordered = events.sort_values(["change_id", "position"], kind="stable").index.to_numpy()
    return chain, events.take(ordered).reset_index(drop=True)


def _firsts(keys: np.ndarray) -> np.ndarray:
    """For rows sorted by key: True at the first row of each key."""
    first = np.ones(len(keys), dtype=bool)
    first[1:] = keys[1:] != keys[:-1]
    return first


def _running_max(values: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The running maximum of `values` within each run of rows that `first` starts."""
    return pd.Series(values).groupby(np.cumsum(first), sort=False).cummax().to_numpy()


def _ticks(moments: pd.Series, unit: str) -> np.ndarray:
    """Aware moments (no NaT) as integers in `unit` since the epoch."""
    return moments.array.as_unit(unit).asi8


def _moments(ticks: np.ndarray, unit: str) -> pd.Series:
    """Integers in `unit` since the epoch as UTC moments."""
    return pd.Series(pd.array(ticks.view(f"M8[{unit}]")).tz_localize("UTC"))


def _seconds(ticks: np.ndarray, unit: str) -> pd.Series:
    """Durations in `unit` as seconds, as pandas' `total_seconds` gives them."""
    return pd.Series(pd.array(ticks.view(f"m8[{unit}]")).total_seconds())


def _finer(*units: str) -> str:
    """The finest of datetime units."""
    return min(units, key=lambda unit: np.timedelta64(1, unit).astype("m8[ns]").astype("int64"))


@dataclass(frozen=True)
class _Blocks:
    """The union of each change's run intervals, as sorted arrays: change_id, start, end
    (integers in `unit`), sorted by change_id, then start."""

    change_id: np.ndarray
    start: np.ndarray
    end: np.ndarray
    unit: str


def _merged_intervals(intervals: pd.DataFrame) -> _Blocks:
    """Union of each change's run intervals (`_Blocks`)."""
    require_columns(intervals, INTERVAL_COLUMNS, "intervals")
    frame = pd.DataFrame(
        {
            "change_id": intervals["change_id"],
            "started_at": utc(intervals["started_at"], "intervals.started_at"),
            "finished_at": utc(intervals["finished_at"], "intervals.finished_at"),
        }
    ).dropna()
    unit = _finer(frame["started_at"].dtype.unit, frame["finished_at"].dtype.unit)
    keys = frame["change_id"].to_numpy()
    started, finished = _ticks(frame["started_at"], unit), _ticks(frame["finished_at"], unit)
    if keys.dtype.kind in "iu":  # as the stable sort below, without factorizing the keys
        ordered = np.lexsort((started, keys))
    else:
        by = frame.reset_index(drop=True).sort_values(["change_id", "started_at"], kind="stable")
        ordered = by.index.to_numpy()
    keys, started, finished = keys[ordered], started[ordered], finished[ordered]
    first = _firsts(keys)
    reach = _running_max(finished, first)
    # A block starts a change's runs, or a run starting after all before it have finished.
    starts = first.copy()
    starts[1:] |= started[1:] > reach[:-1]
    bounds = np.flatnonzero(starts)
    if not len(bounds):
        empty = np.array([], dtype="int64")
        return _Blocks(keys[:0], empty, empty, unit)
    return _Blocks(
        change_id=keys[bounds],
        start=np.minimum.reduceat(started, bounds),
        end=np.maximum.reduceat(finished, bounds),
        unit=unit,
    )


def _machine_seconds(
    keys: np.ndarray, start: np.ndarray, end: np.ndarray, unit: str, blocks: _Blocks
) -> pd.Series:
    """Per stage (change ids `keys`, sorted; `start`, `end` integers in `unit`): the seconds of
    its change's run blocks inside it, summed block by block in their order; indexed by the
    stage's position in `keys`."""
    common = _finer(unit, blocks.unit)
    scale = np.timedelta64(1, unit) // np.timedelta64(1, common)
    block_scale = np.timedelta64(1, blocks.unit) // np.timedelta64(1, common)
    lo = np.searchsorted(blocks.change_id, keys, side="left")
    counts = np.searchsorted(blocks.change_id, keys, side="right") - lo
    # Each stage against each block of its change: the stage repeated, its blocks in order.
    left = np.repeat(np.arange(len(keys)), counts)
    right = np.repeat(lo - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    begin = np.maximum(start[left] * scale, blocks.start[right] * block_scale)
    finish = np.minimum(end[left] * scale, blocks.end[right] * block_scale)
    # Clipped at 0 before the conversion, as after it: most blocks lie outside the stage.
    ticks = finish - begin
    inside = ticks > 0
    overlap = np.zeros(len(ticks))
    overlap[inside] = _seconds(ticks[inside], common).to_numpy()
    return pd.Series(overlap).groupby(left).sum()


def value_stream(
    changes: pd.DataFrame,
    *,
    since: datetime,
    until: datetime,
    preprod: pd.DataFrame | None = None,
    intervals: pd.DataFrame | None = None,
    tz: str = "UTC",
    business_hours: tuple[int, int] = BUSINESS_HOURS,
) -> ValueStream:
    """Stage durations per change, and where the time goes.

    changes: one row per change (a PR), aware datetimes, any may be null:
      change_id, start (E2 first commit authored: Change.started_at), created_at (E3 PR opened;
      an optional `ready_at` column, draft -> ready, wins when present), first_review_at (E4,
      by someone other than the author), merged_at (E6), build_at (E7: first successful CI run
      on the merge sha finished), production_approved_at (E9, if recorded), arrived_at (E10
      production arrival), estate_reached_at (E11 full-estate arrival); optional
      issue_created_at (E0).
    preprod (optional): change_id, environment, order (promotion position), first_live_at (E8:
      first live in that pre-production environment); one stage per environment, by order.
    intervals (optional): change_id, started_at, finished_at: machine work on the change's path
      (CI jobs, deployment and apply runs); their union inside a machine stage is process time.

    Rules (METRICS §5, metrics-background §7.2):
    - A stage ends at its event and starts at the latest earlier event present; a stage whose
      event is missing is skipped (not zero-filled), and its time falls in the next stage.
    - An event earlier than one before it clamps the stage to 0 and counts as an anomaly; the
      next stage starts from the latest time seen, so stages add up to last - first event.
    - Per stage: n, p50, p90 of the changes whose stage end event is in [since, until).
    - Process time: machine stages, the union of run intervals inside the stage; coding (an
      active human stage), its working hours (Mon–Fri, business_hours local in `tz`); wait
      stages none. Wait = elapsed - process.
    - flow_efficiency = sum process / sum elapsed from the first event to production arrival,
      pooled over changes arriving in the window; delivery_flow_efficiency the same from the
      first commit (E2); median_item_flow_efficiency the median of the per-change ratios.
    """
    start, end = check_window(since, until)
    require_columns(changes, CHANGE_COLUMNS, "changes")
    frame = changes.copy()
    opened = utc(frame["created_at"], "changes.created_at")
    if "ready_at" in frame.columns:
        ready = utc(frame["ready_at"], "changes.ready_at")
        opened = ready.where(ready.notna(), opened)
    frame["opened_at"] = opened
    chain, events = _stage_events(frame, preprod)

    # Events sorted by change: a stage starts at the latest event before its own.
    unit = events["at"].dtype.unit
    keys = events["change_id"].to_numpy()
    ticks = _ticks(events["at"], unit)
    first = _firsts(keys)
    reach = _running_max(ticks, first)
    staged = np.flatnonzero(~first)
    positions = events["position"].to_numpy()[staged]
    stage_start, stage_end, moment = reach[staged - 1], reach[staged], ticks[staged]
    kinds = np.array([kind for _, _, kind in chain])[positions]
    stages = pd.DataFrame(
        {
            "change_id": events["change_id"].take(staged).reset_index(drop=True),
            "stage": pd.Series([stage for stage, _, _ in chain])
            .take(positions)
            .reset_index(drop=True),
            "kind": pd.Series([kind for _, _, kind in chain])
            .take(positions)
            .reset_index(drop=True),
            "at": _moments(moment, unit),
            "stage_start": _moments(stage_start, unit),
            "stage_end": _moments(stage_end, unit),
        }
    )
    raw = _seconds(moment - stage_start, unit)
    stages["anomaly"] = raw < 0
    stages["elapsed_seconds"] = raw.clip(lower=0)

    process = np.zeros(len(stages))
    active = kinds == "active"
    process[active] = business_seconds(
        stages.loc[active, "stage_start"], stages.loc[active, "stage_end"], tz, business_hours
    ).to_numpy()
    machine = np.flatnonzero(kinds == "machine")
    if intervals is not None and len(intervals) and len(machine):
        overlap = _machine_seconds(
            keys[staged][machine],
            stage_start[machine],
            stage_end[machine],
            unit,
            _merged_intervals(intervals),
        )
        process[machine[overlap.index.to_numpy()]] = overlap.to_numpy()
    stages["process_seconds"] = process
    stages["wait_seconds"] = stages["elapsed_seconds"] - stages["process_seconds"]
    stages["in_window"] = in_window(stages["at"], start, end)

    placed = stages["in_window"].to_numpy()
    elapsed, processed = stages["elapsed_seconds"].to_numpy(), stages["process_seconds"].to_numpy()
    waits, anomalies = stages["wait_seconds"].to_numpy(), stages["anomaly"].to_numpy()
    table = []
    for position in np.unique(positions):  # a handful of stages; each aggregate is vectorized
        rows = np.flatnonzero(placed & (positions == position))
        values = elapsed[rows]
        p50, p90 = percentiles(values, (0.5, 0.9))
        table.append(
            {
                "name": chain[position][0],
                "n": len(values),
                "p50_seconds": p50,
                "p90_seconds": p90,
                "elapsed_seconds": float(values.sum()),
                "process_seconds": float(processed[rows].sum()),
                "wait_seconds": float(waits[rows].sum()),
                "anomalies": int(anomalies[rows].sum()),
            }
        )
    summary = pd.DataFrame(
        table,
        columns=[
            "name",
            "n",
            "p50_seconds",
            "p90_seconds",
            "elapsed_seconds",
            "process_seconds",
            "wait_seconds",
            "anomalies",
        ],
    )

    flow, delivery, median_item = _flow_efficiency(stages, positions, frame, start, end, chain)
    bottleneck = None
    if len(summary) and summary["elapsed_seconds"].max() > 0:
        bottleneck = str(summary.loc[summary["elapsed_seconds"].idxmax(), "name"])
    return ValueStream(
        stages=summary,
        flow_efficiency=flow,
        delivery_flow_efficiency=delivery,
        median_item_flow_efficiency=median_item,
        anomalies=int(anomalies[placed].sum()),
        bottleneck=bottleneck,
        items=stages,
    )


def _flow_efficiency(
    stages: pd.DataFrame,
    positions: np.ndarray,
    changes: pd.DataFrame,
    start: pd.Timestamp,
    end: pd.Timestamp,
    chain: list[tuple[str, str, str]],
) -> tuple[float | None, float | None, float | None]:
    """Pooled process / elapsed up to production arrival for changes arriving in the window.
    positions: each stage's in `chain`."""
    arrived = utc(changes["arrived_at"], "changes.arrived_at")
    arriving = changes.loc[in_window(arrived, start, end), "change_id"]
    position = {stage: i for i, (stage, _, _) in enumerate(chain)}
    # Up to production arrival: every stage but the rollout to the full estate after it.
    upto = stages["change_id"].isin(arriving).to_numpy() & (positions != position["rollout"])
    if not upto.any():
        return None, None, None
    columns = ["process_seconds", "elapsed_seconds"]
    frame = pd.DataFrame({"change_id": stages["change_id"].to_numpy()[upto]})
    for column in columns:
        frame[column] = stages[column].to_numpy()[upto]
    per_item = frame.groupby("change_id")[columns].sum()
    per_item = per_item[per_item["elapsed_seconds"] > 0]
    if per_item.empty:
        return None, None, None
    flow = float(per_item["process_seconds"].sum() / per_item["elapsed_seconds"].sum())
    median_item = float((per_item["process_seconds"] / per_item["elapsed_seconds"]).median())
    # Delivery: from the first commit on, i.e. without the backlog stage that ends at it.
    totals = frame.loc[positions[upto] != position["backlog"], columns].sum()
    delivery = (
        float(totals["process_seconds"] / totals["elapsed_seconds"])
        if totals["elapsed_seconds"] > 0
        else None
    )
    return flow, delivery, median_item
