"""The items behind each figure of the metrics report, and its table and CSV rows."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd

from dora.failure_words import failure_reasons
from dora.metrics.frames import iso
from dora.metrics.levels import (
    FIGURE_KEYS,
    percentile_text,
)
from dora.reads import selectors
from dora.reads.report import MetricsComputation
from dora.reads.report_query import MetricsQuery
from dora.units import duration_human, plural

# The figures a 2025 report places (METRICS §3.6).
PLACED_FIGURES = tuple(FIGURE_KEYS.values())


# ---------------------------------------------------------------------------------------------
# Items behind each figure
# ---------------------------------------------------------------------------------------------


def _change_label(frame: pd.DataFrame) -> pd.Series:
    """`repo#number` for a PR, the sha for a direct push."""
    if frame.empty:
        return pd.Series([], dtype=object)
    labels = frame["repo"].astype(str) + "#" + frame["number"].astype("Int64").astype(str)
    return labels.where(frame["change_id"].notna(), frame["commit_sha"])


def _with_change(items: pd.DataFrame, arrivals: pd.DataFrame) -> pd.DataFrame:
    """Items keyed by (service, rollout_id, change_id, commit_sha) with repo, number, title."""
    keys = ["service", "rollout_id", "change_id", "commit_sha"]
    extra = ["repo", "number", "title", "environment", "version", "sha"]
    desc = arrivals[keys + extra].drop_duplicates(keys)
    merged = items.drop(columns=[c for c in extra if c in items.columns]).merge(
        desc, on=keys, how="left"
    )
    merged["change"] = _change_label(merged)
    return merged


def _lead_time_items(c: MetricsComputation) -> pd.DataFrame:
    items = _with_change(c.lead_time.items, c.arrivals)
    return items.rename(columns={"arrived_at": "arrival"})


def _failure_items(c: MetricsComputation) -> pd.DataFrame:
    items = c.change_failure.items
    links = selectors.failure_links_frame(c.scope, since=c.since, until=c.until)
    if len(links):
        live_at = dict(zip(items["rollout_id"].astype(int), items["first_live_at"], strict=True))
        why = failure_reasons(links, live_at)
        items = items.assign(why=items["rollout_id"].astype(int).map(why))
    return items


def _recovery_items(c: MetricsComputation) -> pd.DataFrame:
    restored = c.recovery.items.assign(restored=True)
    unrestored = c.recovery.unrestored_items.assign(restored=False)
    return pd.concat([f for f in (restored, unrestored) if len(f)] or [restored])


def _estate_items(c: MetricsComputation) -> pd.DataFrame:
    items = c.estate_with_targets.items
    return _with_change(items, c.arrivals).rename(columns={"arrived_at": "arrival"})


def _value_stream_items(c: MetricsComputation) -> pd.DataFrame:
    items = c.stream.items
    return items[items["in_window"]] if len(items) else items


ROLLOUT_ITEM = ["rollout_id", "service", "environment", "kind", "version", "sha", "first_live_at"]
CHANGE_ITEM = ["change", "change_id", "commit_sha", "title", "service", "rollout_id"]

# name -> (the items frame, the columns listed): every figure of CONTRACT §4.
ITEMS: dict[str, tuple[Callable[[MetricsComputation], pd.DataFrame], list[str]]] = {
    "deployment_frequency": (
        lambda c: c.frequency.items.merge(
            c.rollouts[["rollout_id", "version", "sha"]], on="rollout_id", how="left"
        ),
        [*ROLLOUT_ITEM, "counted", "gap_seconds"],
    ),
    "lead_time": (
        _lead_time_items,
        [
            *CHANGE_ITEM,
            "start",
            "merged_at",
            "arrival",
            "lead_time_seconds",
            "invalid",
            "unattributed",
        ],
    ),  # fmt: skip
    "merge_to_production": (
        _lead_time_items,
        [*CHANGE_ITEM, "merged_at", "arrival", "merge_to_production_seconds", "unattributed"],
    ),
    "change_failure_rate": (
        _failure_items,
        [*ROLLOUT_ITEM, "failed", "confirmed", "inferred", "causes", "why"],
    ),
    "deploy_failure_rate": (
        lambda c: c.deploy_failure.items,
        [
            "deployment_id",
            "service",
            "environment",
            "target",
            "version",
            "sha",
            "status",
            "finished_at",
            "failed",
        ],
    ),  # fmt: skip
    "recovery_time": (
        _recovery_items,
        [
            *ROLLOUT_ITEM,
            "failure",
            "restored",
            "restored_at",
            "recovery_seconds",
            "age_seconds",
            "invalid",
        ],
    ),  # fmt: skip
    "time_to_restore": (
        lambda c: c.restore.items,
        [
            "incident_id",
            "service",
            "environment",
            "title",
            "severity",
            "cause",
            "impact_start",
            "restored_at",
            "restore_seconds",
            "invalid",
        ],
    ),  # fmt: skip
    "rework_rate": (
        lambda c: c.rework.items,
        [*ROLLOUT_ITEM, "remediation", "rework"],
    ),
    "lead_time_all_targets": (
        _estate_items,
        [
            *CHANGE_ITEM,
            "start",
            "arrival",
            "estate_reached_at",
            "complete",
            "lead_time_all_targets_seconds",
            "age_seconds",
            "targets_reached",
        ],
    ),  # fmt: skip
    "rollout_lag": (
        _estate_items,
        [
            *CHANGE_ITEM,
            "arrival",
            "estate_reached_at",
            "complete",
            "rollout_lag_seconds",
            "targets_reached",
        ],
    ),  # fmt: skip
    "version_spread": (
        lambda c: c.spread.items,
        ["service", "environment", "target", "version", "finished_at", "released_at"],
    ),
    "automation_lag": (
        lambda c: c.automation.instances,
        [
            "service",
            "environment",
            "target",
            "last_success_at",
            "lag_seconds",
            "stale",
            "manual",
            "last_action",
        ],
    ),  # fmt: skip
    # Added (METRICS §4.5): each change made outside the pipeline in the window.
    "out_of_band_changes": (
        lambda c: c.out_of_band.items,
        ["changed_at", "service", "environment", "target", "what", "actor", "source"],
    ),
    "value_stream": (
        _value_stream_items,
        [
            "change_id",
            "stage",
            "kind",
            "stage_start",
            "stage_end",
            "elapsed_seconds",
            "process_seconds",
            "wait_seconds",
            "anomaly",
        ],
    ),  # fmt: skip
}
METRIC_NAMES = tuple(ITEMS)


def _plain(value: Any) -> Any:
    """A JSON-ready value: ISO timestamps, None for missing, Python numbers."""
    if value is None:
        return None
    if isinstance(value, datetime | pd.Timestamp):
        return iso(value)
    if isinstance(value, float | int) and not isinstance(value, bool):
        if isinstance(value, float) and math.isnan(value):
            return None
    elif pd.api.types.is_scalar(value) and pd.isna(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _plain(value.item())
    return value


def frame_records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    """Rows of `frame` as plain dicts with `columns` (absent columns are None)."""
    table = frame.reindex(columns=list(columns))
    integral = {c for c in columns if c.endswith("_id") or c in ("number", "targets_reached")}
    rows = []
    for values in table.itertuples(index=False, name=None):
        row = {}
        for name, value in zip(columns, values, strict=True):
            plain = _plain(value)
            if name in integral and isinstance(plain, float):
                plain = int(plain)
            row[name] = plain
        rows.append(row)
    return rows


def metric_items(name: str, query: MetricsQuery, *, now: datetime) -> list[dict[str, Any]]:
    """The items behind one figure of the report; KeyError for an unknown name."""
    build, columns = ITEMS[name]
    return frame_records(build(MetricsComputation(query, now=now)), columns)


# ---------------------------------------------------------------------------------------------
# Table and CSV rows
# ---------------------------------------------------------------------------------------------


def duration_text(seconds: float | None) -> str:
    """Seconds for people (dora.units.duration_human): "40 min", "47 h", "2.0 days"; "-" for
    none, as the terminal table writes every missing value."""
    return "-" if seconds is None else duration_human(seconds)


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def summary_rows(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per figure: figure, value (raw number), value_text, n, level and percentile (the
    2025 placement, 0..100; None for a tier year, below the badge minimum and for figures DORA
    does not place). The overall rows: `level` (tier years) and `percentile` (2025)."""
    rows: list[dict[str, Any]] = []

    def add(figure: str, value: Any, text: str, n: Any, level: Any = None) -> None:
        percentile = report[figure].get("percentile") if figure in PLACED_FIGURES else None
        rows.append(
            {
                "figure": figure,
                "value": value,
                "value_text": text,
                "n": n,
                "level": level,
                "percentile": percentile,
            }
        )

    freq = report["deployment_frequency"]
    add(
        "deployment_frequency",
        freq["per_week"],
        f"{freq['per_week']:.2f}/week",
        freq["rollouts"],
        freq["level"],
    )
    for key in ("lead_time", "merge_to_production", "recovery_time", "time_to_restore"):
        fig = report[key]
        add(key, fig["p50_seconds"], duration_text(fig["p50_seconds"]), fig["n"], fig["level"])
    cfr = report["change_failure_rate"]
    add("change_failure_rate", cfr["rate"], _percent(cfr["rate"]), cfr["rollouts"], cfr["level"])
    dfr = report["deploy_failure_rate"]
    add("deploy_failure_rate", dfr["rate"], _percent(dfr["rate"]), dfr["attempts"])
    rework = report["rework_rate"]
    add("rework_rate", rework["rate"], _percent(rework["rate"]), rework["rollouts"])
    for key in ("lead_time_all_targets", "rollout_lag"):
        fig = report[key]
        add(key, fig["p50_seconds"], duration_text(fig["p50_seconds"]), fig["n"])
    spread = report["version_spread"]
    most = max((row["versions"] for row in spread), default=None)
    add(
        "version_spread",
        most,
        "-" if most is None else f"max {plural(most, 'version')}",
        len(spread),
    )
    lag = report["automation_lag"]
    add(
        "automation_lag",
        lag["p50_seconds"],
        duration_text(lag["p50_seconds"]),
        len(lag["instances"]),
    )
    flow = report["value_stream"]["flow_efficiency"]
    changes = max((s["n"] for s in report["value_stream"]["stages"]), default=0)
    add("value_stream", flow, _percent(flow), changes)
    if "out_of_band_changes" in report:  # added: a report built before it has none
        changes = report["out_of_band_changes"]["count"]
        add("out_of_band_changes", changes, plural(changes, "change"), changes)
    add("level", report["level"], report["level"] or "-", None, report["level"])
    overall = report.get("percentile")
    rows.append(
        {
            "figure": "percentile",
            "value": overall,
            "value_text": "-" if overall is None else percentile_text(overall),
            "n": None,
            "level": None,
            "percentile": overall,
        }
    )
    return rows
