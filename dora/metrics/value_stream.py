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


def _stage_events(changes: pd.DataFrame, preprod: pd.DataFrame | None) -> pd.DataFrame:
    """Long frame: change_id, position, stage, kind, at (present events only)."""
    chain: list[tuple[str, str, str]] = list(BEFORE_PREPROD)
    frame = changes.copy()
    if preprod is not None and len(preprod):
        require_columns(preprod, PREPROD_COLUMNS, "preprod")
        pre = preprod.assign(first_live_at=utc(preprod["first_live_at"], "preprod.first_live_at"))
        wide = pre.pivot_table(
            index="change_id", columns="environment", values="first_live_at", aggfunc="min"
        )
        order = pre.groupby("environment")["order"].min().sort_values(kind="stable")
        for environment in order.index:
            column = f"deploy:{environment}"
            frame[column] = frame["change_id"].map(wide[environment])
            chain.append((column, column, "machine"))
    chain += list(AFTER_PREPROD)
    parts = []
    for position, (stage, column, kind) in enumerate(chain):
        if column not in frame.columns:
            continue
        present = frame[["change_id", column]].dropna()
        parts.append(
            pd.DataFrame(
                {
                    "change_id": present["change_id"],
                    "position": position,
                    "stage": stage,
                    "kind": kind,
                    "at": utc(present[column], column),
                }
            )
        )
    return pd.concat(parts, ignore_index=True).sort_values(["change_id", "position"], kind="stable")


def _merged_intervals(intervals: pd.DataFrame) -> pd.DataFrame:
    """Union of each change's run intervals: change_id, block_start, block_end."""
    require_columns(intervals, INTERVAL_COLUMNS, "intervals")
    frame = pd.DataFrame(
        {
            "change_id": intervals["change_id"],
            "started_at": utc(intervals["started_at"], "intervals.started_at"),
            "finished_at": utc(intervals["finished_at"], "intervals.finished_at"),
        }
    ).dropna()
    frame = frame.sort_values(["change_id", "started_at"], kind="stable")
    reach = frame.groupby("change_id")["finished_at"].cummax()
    previous = reach.groupby(frame["change_id"]).shift()
    block = (previous.isna() | (frame["started_at"] > previous)).cumsum()
    return (
        frame.assign(block=block)
        .groupby(["change_id", "block"], as_index=False)
        .agg(block_start=("started_at", "min"), block_end=("finished_at", "max"))
    )


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
    events = _stage_events(frame, preprod)

    group = events.groupby("change_id")["at"]
    reach = group.cummax()
    events["stage_start"] = reach.groupby(events["change_id"]).shift()
    events["stage_end"] = reach
    stages = events[events["stage_start"].notna()].copy()
    raw = (stages["at"] - stages["stage_start"]).dt.total_seconds()
    stages["anomaly"] = raw < 0
    stages["elapsed_seconds"] = raw.clip(lower=0)

    stages["process_seconds"] = 0.0
    active = stages["kind"] == "active"
    stages.loc[active, "process_seconds"] = business_seconds(
        stages.loc[active, "stage_start"], stages.loc[active, "stage_end"], tz, business_hours
    )
    machine = stages["kind"] == "machine"
    if intervals is not None and len(intervals) and machine.any():
        blocks = _merged_intervals(intervals)
        pairs = (
            stages.loc[machine, ["change_id", "stage_start", "stage_end"]]
            .reset_index()
            .merge(blocks, on="change_id")
        )
        lo = pairs[["stage_start", "block_start"]].max(axis=1)
        hi = pairs[["stage_end", "block_end"]].min(axis=1)
        pairs["overlap"] = (hi - lo).dt.total_seconds().clip(lower=0)
        overlap = pairs.groupby("index")["overlap"].sum()
        stages.loc[overlap.index, "process_seconds"] = overlap
    stages["wait_seconds"] = stages["elapsed_seconds"] - stages["process_seconds"]
    stages["in_window"] = in_window(stages["at"], start, end)

    placed = stages[stages["in_window"]]
    order = stages.drop_duplicates("stage").sort_values("position")["stage"]
    # Each stage's rows in the window, found once (comparing the stage names row by row for
    # each stage was a quarter of this function on the bench estate's 300,000 stages).
    positions = placed.groupby("stage", sort=False).indices
    table = []
    for stage in order:  # a handful of stages; each aggregate is vectorized
        rows = placed.iloc[positions.get(stage, [])]
        values = rows["elapsed_seconds"]
        p50, p90 = percentiles(values, (0.5, 0.9))
        table.append(
            {
                "name": stage,
                "n": len(values),
                "p50_seconds": p50,
                "p90_seconds": p90,
                "elapsed_seconds": float(rows["elapsed_seconds"].sum()),
                "process_seconds": float(rows["process_seconds"].sum()),
                "wait_seconds": float(rows["wait_seconds"].sum()),
                "anomalies": int(rows["anomaly"].sum()),
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

    flow, delivery, median_item = _flow_efficiency(stages, frame, start, end)
    bottleneck = None
    if len(summary) and summary["elapsed_seconds"].max() > 0:
        bottleneck = str(summary.loc[summary["elapsed_seconds"].idxmax(), "name"])
    return ValueStream(
        stages=summary,
        flow_efficiency=flow,
        delivery_flow_efficiency=delivery,
        median_item_flow_efficiency=median_item,
        anomalies=int(placed["anomaly"].sum()),
        bottleneck=bottleneck,
        items=stages.drop(columns=["position"]).reset_index(drop=True),
    )


def _flow_efficiency(
    stages: pd.DataFrame, changes: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp
) -> tuple[float | None, float | None, float | None]:
    """Pooled process / elapsed up to production arrival for changes arriving in the window."""
    arrived = utc(changes["arrived_at"], "changes.arrived_at")
    arriving = changes.loc[in_window(arrived, start, end), "change_id"]
    # Up to production arrival: every stage but the rollout to the full estate after it.
    upto = stages[stages["change_id"].isin(arriving) & (stages["stage"] != "rollout")]
    if upto.empty:
        return None, None, None
    per_item = upto.groupby("change_id")[["process_seconds", "elapsed_seconds"]].sum()
    per_item = per_item[per_item["elapsed_seconds"] > 0]
    if per_item.empty:
        return None, None, None
    flow = float(per_item["process_seconds"].sum() / per_item["elapsed_seconds"].sum())
    median_item = float((per_item["process_seconds"] / per_item["elapsed_seconds"]).median())
    # Delivery: from the first commit on, i.e. without the backlog stage that ends at it.
    totals = upto.loc[upto["stage"] != "backlog", ["process_seconds", "elapsed_seconds"]].sum()
    delivery = (
        float(totals["process_seconds"] / totals["elapsed_seconds"])
        if totals["elapsed_seconds"] > 0
        else None
    )
    return flow, delivery, median_item
