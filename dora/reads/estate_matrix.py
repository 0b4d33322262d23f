"""The estate matrix: services x environments with live versions, spread and automation lag.

Built on the metrics engine (METRICS §4.2-4.3): one `MetricsComputation` per environment tier
gives `version_spread` and `automation_lag` at `until` and the automation runs behind the
evidence chart; this module arranges them into cells (one per service and environment), grades
each cell's staleness against the environment's `stale_after`, and draws the evidence chart.
Nothing here renders HTML.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from dora.gates import OutOfBandChange
from dora.metrics.automation import (
    AutomationEvidence,
    automation_evidence,
)
from dora.metrics.estate import (
    GAP_BUCKETS,
)
from dora.models import AutomationInstance, Environment, Tier
from dora.out_of_band import drifted_instances, out_of_band_open
from dora.reads import charts
from dora.reads.report import MetricsComputation
from dora.reads.report_query import MetricsQuery
from dora.reads.scope import Scope
from dora.units import duration_axis_unit, duration_human

# A cell whose age passed this share of stale_after is "ageing" (amber) before it is stale.
AGEING_SHARE = 0.5
STATES = ("fresh", "ageing", "stale", "none")
STATE_LABELS = {"fresh": "Fresh", "ageing": "Ageing", "stale": "Stale", "none": "Not deployed"}
STATE_COLOURS = {"fresh": "#1a7f37", "ageing": "#9a6700", "stale": "#cf222e", "none": "#8c959f"}
GAP_LABELS = {"<=1d": "≤ 1 day", "1-7d": "1–7 days", "7-30d": "7–30 days", ">30d": "> 30 days"}
SHA = re.compile(r"^[0-9a-f]{40}$")


def age_text(seconds: float | None) -> str:
    """A duration as a glance reads it: 45m, 5h 10m, 3d 4h, 12d."""
    if seconds is None or pd.isna(seconds):
        return "–"
    minutes = int(max(0.0, float(seconds)) // 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    if days >= 10 or not hours:
        return f"{days}d"
    return f"{days}d {hours}h"


def version_label(version: Any) -> str:
    text = "" if version is None or pd.isna(version) else str(version)
    return text[:10] if SHA.match(text) else text


def cell_state(
    age_seconds: float | None, stale_after_seconds: float, *, never: bool = False
) -> str:
    """fresh, ageing (past half of stale_after) or stale (past stale_after); none without age.

    never: an automation instance that never succeeded is stale whatever its age.
    """
    if never:
        return "stale"
    if age_seconds is None or pd.isna(age_seconds):
        return "none"
    if age_seconds > stale_after_seconds:
        return "stale"
    if age_seconds > AGEING_SHARE * stale_after_seconds:
        return "ageing"
    return "fresh"


@dataclass(frozen=True)
class TargetDetail:
    """One target of a cell: its live version and the automation instance running there."""

    target: str
    version: str
    live_since: datetime | None
    version_age_text: str
    on_newest: bool
    lag_text: str
    lag_state: str
    last_action: str
    manual: bool


@dataclass(frozen=True)
class Cell:
    """One service in one environment."""

    environment: str
    stale_after_text: str
    state: str
    state_text: str
    reason: str
    versions: tuple[str, ...] = ()
    newest_age_text: str = "–"
    spread: int = 0
    targets: int = 0
    versions_behind: int = 0
    instances: int = 0
    stale_instances: int = 0
    lag_text: str = ""
    drifted: int = 0
    out_of_band: int = 0  # changes made outside the pipeline in the window (METRICS §4.5)
    details: tuple[TargetDetail, ...] = ()
    # What the state grades: "automation lag" (the cell has automation instances) or "newest
    # version". The cell shows the newest version's age only when that is what it grades, so a
    # "Fresh" cell never shows an age past its stale_after (an infra stack applied yesterday
    # may run a version a month old; its targets' details still show each version's age).
    graded_by: str = "newest version"

    @property
    def shows_newest_age(self) -> bool:
        return self.graded_by == "newest version"

    @property
    def spread_text(self) -> str:
        if not self.targets:
            return ""
        word = "version" if self.spread == 1 else "versions"
        target = "target" if self.targets == 1 else "targets"
        return f"{self.spread} {word} on {self.targets} {target}"


@dataclass(frozen=True)
class ServiceRow:
    name: str
    kind: str
    team: str | None
    cells: tuple[Cell, ...]

    @property
    def infra(self) -> bool:
        return self.kind == "infra"


@dataclass(frozen=True)
class EstateMatrix:
    """The matrix (rows grouped by team), its columns, and the frames behind it."""

    environments: tuple[dict[str, Any], ...]
    rows: tuple[ServiceRow, ...]
    evidence: AutomationEvidence
    lag: pd.DataFrame = field(compare=False)
    spread: pd.DataFrame = field(compare=False)
    out_of_band: int = 0  # changes made outside the pipeline in the window, every cell

    def teams(self) -> list[tuple[str | None, list[ServiceRow]]]:
        """Rows grouped by team (teams by name, services without a team last)."""
        groups: dict[str | None, list[ServiceRow]] = {}
        for row in self.rows:
            groups.setdefault(row.team, []).append(row)
        return sorted(groups.items(), key=lambda item: (item[0] is None, item[0] or ""))

    def counts(self) -> dict[str, int]:
        """Cells per state (the legend)."""
        totals = dict.fromkeys(STATES, 0)
        for row in self.rows:
            for cell in row.cells:
                totals[cell.state] += 1
        return totals


def environments_ordered() -> list[dict[str, Any]]:
    """Every environment in promotion order, with its tier and stale_after; one query."""
    return list(
        Environment.objects.values("name", "tier", "order", "stale_after").order_by("order", "name")
    )


def drift_by_pair(scope: Scope, *, until: datetime) -> dict[tuple[str, str], int]:
    """Per (service, environment): instances whose newest drift check before `until` found
    drift, from the instances kept at intake (dora.instances), and those an out-of-band change
    open at `until` drifted (dora.out_of_band); two queries. An instance keeps only its newest
    check, so one checked again after `until` is left out (unknown then)."""
    rows = AutomationInstance.objects.filter(drift_detected=True, drift_checked_at__lt=until)
    if scope.services:
        rows = rows.filter(service__name__in=scope.services)
    if scope.team:
        rows = rows.filter(service__team__name=scope.team)
    drifted: dict[tuple[str, str], set[str]] = {}
    for service, environment, target in rows.values_list(
        "service__name", "environment__name", "target__name"
    ).order_by():
        drifted.setdefault((service, environment), set()).add(target)
    by_hand = drifted_instances(open_by_pair(scope, until=until))
    for key, targets in by_hand.items():
        drifted.setdefault(key, set()).update(targets)
    return {key: len(targets) for key, targets in drifted.items()}


def open_by_pair(scope: Scope, *, until: datetime) -> list[OutOfBandChange]:
    """The out-of-band changes open at `until` of the scope's services (or team's)."""
    return out_of_band_open(now=until, services=scope.services or None, team=scope.team or None)


# Frames each tier's computation reads for the matrix (read at once on PostgreSQL outside a
# transaction: MetricsComputation.prefetch).
ESTATE_FRAMES = (
    "live_deployments",
    "automation_runs",
    "deploy_pipelines",
    "configured_targets",
    "environment_settings",
)


def estate_computations(
    scope: Scope, tiers: Iterable[str], *, since: datetime, until: datetime, now: datetime
) -> dict[str, MetricsComputation]:
    """One metrics computation per tier (the engine reads one tier at a time)."""
    return {
        tier: MetricsComputation(
            MetricsQuery(
                scope=dataclasses.replace(scope, tier=tier, tier_named=True),
                since=since,
                until=until,
            ),
            now=now,
        )
        for tier in dict.fromkeys(tiers)
    }


def _frames(computations: Mapping[str, MetricsComputation], name: str) -> pd.DataFrame:
    frames = [getattr(c, name) for c in computations.values()]
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def estate_matrix(
    services: Sequence[Mapping[str, Any]],
    environments: Sequence[Mapping[str, Any]],
    computations: Mapping[str, MetricsComputation],
    *,
    since: datetime,
    until: datetime,
    drift: Mapping[tuple[str, str], int] | None = None,
    out_of_band: pd.DataFrame | None = None,
) -> EstateMatrix:
    """The matrix of `services` (name, kind, team__name) x `environments` (name, tier,
    stale_after) from each tier's version spread and automation lag at `until`; `drift`
    (from `drift_by_pair`) counts the instances per cell whose drift check found drift;
    `out_of_band` (dora.out_of_band.out_of_band_frame of the whole scope, every environment: one
    read, not one per tier) the changes made outside the pipeline in the window.

    A cell's age is the worst automation lag of the service's instances there when it has any
    (an infra stack, a pipeline), else the age of its newest live version; its state grades
    that age against the environment's stale_after (see `cell_state`).
    """
    spread_items, spread_rows, lag = [], [], []
    for c in computations.values():
        spread_items.append(c.spread.items)
        spread_rows.append(c.spread.rows)
        lag.append(c.automation.instances)
    items = _concat(spread_items)
    rows = _concat(spread_rows)
    instances = _concat(lag)
    runs = _frames(computations, "automation_runs")
    evidence = automation_evidence(runs if len(runs) else _empty_runs(), since=since, until=until)
    moment = pd.Timestamp(until)
    by_pair_items = _rows_by_pair(items)
    by_pair_rows = (
        {(r.service, r.environment): r for r in rows.itertuples(index=False)} if len(rows) else {}
    )
    by_pair_lag = _rows_by_pair(instances)
    by_pair_hand = (
        out_of_band.groupby(["service", "environment"]).size().to_dict()
        if out_of_band is not None and len(out_of_band)
        else {}
    )

    matrix_rows = []
    for service in services:
        cells = []
        for env in environments:
            key = (service["name"], env["name"])
            cell = _cell(
                env,
                by_pair_rows.get(key),
                by_pair_items.get(key),
                by_pair_lag.get(key),
                moment,
            )
            if drift and drift.get(key):
                cell = dataclasses.replace(cell, drifted=int(drift[key]))
            if by_pair_hand.get(key):
                cell = dataclasses.replace(cell, out_of_band=int(by_pair_hand[key]))
            cells.append(cell)
        matrix_rows.append(
            ServiceRow(
                name=service["name"],
                kind=service.get("kind") or "app",
                team=service.get("team__name"),
                cells=tuple(cells),
            )
        )
    return EstateMatrix(
        environments=tuple(
            {**env, "stale_after_text": age_text(env["stale_after"].total_seconds())}
            for env in environments
        ),
        rows=tuple(matrix_rows),
        evidence=evidence,
        lag=instances,
        spread=rows,
        out_of_band=sum(c.out_of_band for row in matrix_rows for c in row.cells),
    )


def _rows_by_pair(frame: pd.DataFrame) -> dict[tuple[str, str], list[Any]]:
    """The frame's rows (named tuples, in the frame's order) per (service, environment): one
    pass for the whole matrix, instead of a frame per cell."""
    found: dict[tuple[str, str], list[Any]] = {}
    if len(frame):
        for row in frame.itertuples(index=False):
            found.setdefault((row.service, row.environment), []).append(row)
    return found


def _concat(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _empty_runs() -> pd.DataFrame:
    columns = ("service", "environment", "target", "action", "status", "finished_at", "trigger")
    frame = pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})
    frame["finished_at"] = pd.to_datetime(frame["finished_at"], utc=True)
    return frame


def _cell(
    env: Mapping[str, Any],
    spread: Any,
    items: list[Any] | None,
    lag: list[Any] | None,
    moment: pd.Timestamp,
) -> Cell:
    """One cell from its version spread row, its live items and its automation instances
    (rows of the spread's items and of the instances frame, see `_rows_by_pair`)."""
    stale_after = env["stale_after"] or timedelta(days=7)
    limit = stale_after.total_seconds()
    limit_text = age_text(limit)
    versions: tuple[str, ...] = ()
    newest_age = None
    details: dict[str, dict[str, Any]] = {}
    if items:
        ordered = sorted(items, key=lambda row: row.release_no, reverse=True)
        versions = tuple(dict.fromkeys(version_label(row.version) for row in ordered))
        newest_no = ordered[0].release_no
        released_first = min(
            pd.Timestamp(row.released_at) for row in ordered if row.release_no == newest_no
        )
        newest_age = (moment - released_first).total_seconds()
        for row in ordered:
            released = pd.Timestamp(row.released_at)
            details[str(row.target)] = {
                "version": version_label(row.version),
                "live_since": pd.Timestamp(row.finished_at).to_pydatetime(),
                "version_age_text": age_text((moment - released).total_seconds()),
                "on_newest": row.release_no == newest_no,
            }
    lags = []
    stale_instances = 0
    if lag:
        for row in lag:
            never = pd.isna(row.lag_seconds)
            seconds = None if never else float(row.lag_seconds)
            state = cell_state(seconds, float(row.stale_after_seconds), never=never)
            stale_instances += int(bool(row.stale))
            lags.append(seconds)
            entry = details.setdefault(
                str(row.target),
                {"version": "", "live_since": None, "version_age_text": "–", "on_newest": False},
            )
            entry.update(
                {
                    "lag_text": "never succeeded" if never else age_text(seconds),
                    "lag_state": state,
                    "last_action": "" if pd.isna(row.last_action) else str(row.last_action),
                    "manual": bool(row.manual),
                }
            )
    instances = len(lags)
    never_any = any(v is None for v in lags)
    worst_lag = max((v for v in lags if v is not None), default=None)
    if instances:
        state = cell_state(worst_lag, limit, never=never_any)
        age_for_text = worst_lag
        what = "automation lag"
    else:
        state = cell_state(newest_age, limit)
        age_for_text = newest_age
        what = "newest version"
    if state == "none":
        reason = "nothing live"
    elif never_any:
        reason = "an automation instance never succeeded"
    else:
        comparison = ">" if state == "stale" else "≤"
        reason = f"{what} {age_text(age_for_text)} {comparison} stale after {limit_text}"
    lag_text = ""
    if instances:
        lag_text = "never succeeded" if never_any else age_text(worst_lag)
    return Cell(
        environment=str(env["name"]),
        stale_after_text=limit_text,
        state=state,
        state_text=STATE_LABELS[state],
        reason=reason,
        versions=versions,
        newest_age_text=age_text(newest_age),
        spread=int(spread.versions) if spread is not None else 0,
        targets=int(spread.targets) if spread is not None else 0,
        versions_behind=int(spread.versions_behind) if spread is not None else 0,
        instances=instances,
        stale_instances=stale_instances,
        lag_text=lag_text,
        graded_by=what,
        details=tuple(
            TargetDetail(
                target=target or "(default)",
                version=entry["version"],
                live_since=entry["live_since"],
                version_age_text=entry["version_age_text"],
                on_newest=entry["on_newest"],
                lag_text=entry.get("lag_text", ""),
                lag_state=entry.get("lag_state", ""),
                last_action=entry.get("last_action", ""),
                manual=entry.get("manual", False),
            )
            for target, entry in sorted(details.items())
        ),
    )


def tiers_of(environments: Iterable[Mapping[str, Any]]) -> list[str]:
    """The tiers present, in the order Tier declares them."""
    present = {env["tier"] for env in environments}
    return [tier for tier in Tier.values if tier in present]


# ---------------------------------------------------------------------------------------------
# Charts
# ---------------------------------------------------------------------------------------------


def automation_evidence_figure(buckets: pd.DataFrame) -> dict[str, Any]:
    """METRICS §4.3's evidence chart: failure rate of runs by the gap since the instance's
    previous run, one bar per gap bucket with its Wilson 95% interval as an error bar and n.

    buckets: AutomationEvidence.buckets (gap, runs, failures, rate, ci_low, ci_high).
    """
    x, y, up, down, text, custom = [], [], [], [], [], []
    rows = {row.gap: row for row in buckets.itertuples(index=False)}
    for gap in GAP_BUCKETS:
        row = rows.get(gap)
        x.append(GAP_LABELS[gap])
        runs = int(row.runs) if row is not None else 0
        failures = int(row.failures) if row is not None else 0
        rate = None if row is None or pd.isna(row.rate) else float(row.rate) * 100
        y.append(None if rate is None else round(rate, 2))
        low = None if row is None or pd.isna(row.ci_low) else float(row.ci_low) * 100
        high = None if row is None or pd.isna(row.ci_high) else float(row.ci_high) * 100
        up.append(0 if rate is None or high is None else round(high - rate, 2))
        down.append(0 if rate is None or low is None else round(rate - low, 2))
        text.append(f"n={runs}")
        custom.append([failures, runs])
    total = int(buckets["runs"].sum()) if len(buckets) else 0
    return {
        "data": [
            {
                "type": "bar",
                "x": x,
                "y": y,
                "marker": {"color": charts.LINE},
                "error_y": {
                    "type": "data",
                    "symmetric": False,
                    "array": up,
                    "arrayminus": down,
                    "color": "#1f2328",
                    "thickness": 1.5,
                    "width": 6,
                },
                "text": text,
                "textposition": "inside",
                "insidetextanchor": "start",
                "customdata": custom,
                "hovertemplate": "gap %{x}: %{y:.1f}% failed (%{customdata[0]} of "
                "%{customdata[1]} runs)<extra></extra>",
                "name": "failure rate",
            }
        ],
        "layout": charts.base_layout(
            f"Failure rate by gap since the previous run (n={total} runs)",
            yaxis={
                "title": {"text": "% of runs failed"},
                "gridcolor": "#eaeef2",
                "rangemode": "tozero",
            },
            xaxis={"type": "category", "title": {"text": "gap since the instance's previous run"}},
            hovermode="closest",
            margin={"l": 56, "r": 16, "t": 40, "b": 56},
        ),
    }


def automation_lag_figure(instances: pd.DataFrame) -> dict[str, Any]:
    """Time since each automation instance's last successful run, coloured (and named in the
    hover text) by state against its environment's stale_after, which is drawn as a marker; in
    hours, or in days when a lag or limit is above 48 hours (dora.units)."""
    if instances.empty:
        return {"data": [], "layout": charts.base_layout("Automation lag per instance")}
    frame = instances.copy()
    frame["label"] = (
        frame["service"]
        + " · "
        + frame["environment"]
        + frame["target"].map(lambda t: f" · {t}" if t else "")
    )
    frame = frame.sort_values("lag_seconds", ascending=False, na_position="first")
    states = [
        cell_state(None if pd.isna(lag) else float(lag), float(limit), never=bool(pd.isna(lag)))
        for lag, limit in zip(frame["lag_seconds"], frame["stale_after_seconds"], strict=True)
    ]
    lag_seconds = [None if pd.isna(v) else float(v) for v in frame["lag_seconds"]]
    limit_seconds = [float(v) for v in frame["stale_after_seconds"]]
    unit, factor = duration_axis_unit([*lag_seconds, *limit_seconds])
    days = [None if v is None else round(v / factor, 2) for v in lag_seconds]
    limits = [round(v / factor, 2) for v in limit_seconds]
    labels = [str(v) for v in frame["label"]]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "y": labels,
                "x": days,
                "marker": {"color": [STATE_COLOURS[s] for s in states]},
                "customdata": [
                    [STATE_LABELS[s], duration_human(v)]
                    for s, v in zip(states, lag_seconds, strict=True)
                ],
                "text": [
                    f"{STATE_LABELS[s].lower()}" if d is not None else "never succeeded"
                    for s, d in zip(states, days, strict=True)
                ],
                "textposition": "outside",
                "hovertemplate": "%{y}: %{customdata[1]} (%{customdata[0]})<extra></extra>",
                "name": "time since last success",
            },
            {
                "type": "scatter",
                "mode": "markers",
                "y": labels,
                "x": limits,
                "marker": {"symbol": "line-ns-open", "size": 14, "color": "#1f2328"},
                "customdata": [duration_human(v) for v in limit_seconds],
                "hovertemplate": "stale after %{customdata}<extra></extra>",
                "name": "stale after",
            },
        ],
        "layout": charts.base_layout(
            f"Time since each instance's last successful run ({unit})",
            height=max(220, 60 + 24 * len(labels)),
            yaxis={"autorange": "reversed", "type": "category"},
            # Room right of the longest bar for its state in words.
            xaxis={
                "title": {"text": unit},
                "gridcolor": "#eaeef2",
                "range": [0, 1.3 * max([d for d in days if d is not None] + limits)],
            },
            hovermode="closest",
            margin={"l": 240, "r": 24, "t": 40, "b": 48},
        ),
    }
