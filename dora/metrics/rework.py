"""Deployment rework rate (METRICS §3.5): unplanned remediation among production rollouts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd

from dora.metrics.frames import (
    as_bool,
    check_window,
    in_window,
    require_columns,
    text,
    trues,
    utc,
)
from dora.metrics.levels import MIN_ROLLOUTS_REWORK
from dora.metrics.stats import rate

REWORK_KINDS = ("change", "config", "rollback")
# DORA Quick Check 2025 industry mean of the rework rate; no level table exists (§3.5).
INDUSTRY_REFERENCE_RATE = 0.22
ROLLOUT_COLUMNS = ("rollout_id", "service", "environment", "kind", "first_live_at", "remediation")


@dataclass(frozen=True)
class ReworkRate:
    """CONTRACT §4 `rework_rate`; the industry reference and badge sufficiency beside it."""

    rework: int
    rollouts: int
    rate: float | None
    ci95: tuple[float, float] | None
    reference_rate: float = INDUSTRY_REFERENCE_RATE
    sufficient: bool = False
    items: pd.DataFrame = field(default_factory=pd.DataFrame, compare=False, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "rework": self.rework,
            "rollouts": self.rollouts,
            "rate": self.rate,
            "ci95": list(self.ci95) if self.ci95 else None,
        }


def rework_rate(rollouts: pd.DataFrame, *, since: datetime, until: datetime) -> ReworkRate:
    """Share of production rollouts (change, config, rollback) live in [since, until) that are
    unplanned remediation.

    rollouts: dora.models.Rollout rows: rollout_id (int), service (str), environment (str),
      kind (str), first_live_at (aware datetime), remediation (bool, set by derivation: a
      rollback, a change labelled hotfix or incident, or a deployment that `remediates` an
      incident). Redeploys are not in the denominator. A rollback is rework even if the
      remediation flag is missing. An incident's caused_by link makes a rollout failed, not
      rework, so `failure` plays no part here. `sufficient` is False below 20 rollouts.
    """
    return rework_of(rework_items(rollouts, since=since, until=until))


def rework_items(rollouts: pd.DataFrame, *, since: datetime, until: datetime) -> pd.DataFrame:
    """The rework rate's denominator (see `rework_rate`) with `rework` (bool), by first_live_at."""
    start, end = check_window(since, until)
    require_columns(rollouts, ROLLOUT_COLUMNS, "rollouts")
    live = utc(rollouts["first_live_at"], "rollouts.first_live_at")
    kind = text(rollouts["kind"])
    mask = kind.isin(REWORK_KINDS) & in_window(live, start, end)
    items = rollouts.loc[mask].copy()
    items["first_live_at"] = live[mask]
    items["rework"] = as_bool(items["remediation"]) | (kind[mask] == "rollback")
    return items.sort_values("first_live_at").reset_index(drop=True)


def rework_of(items: pd.DataFrame) -> ReworkRate:
    """`rework_rate` of a scope from its rows of `rework_items` (row-wise, so one pass over many
    services serves each); `rework` is counted on its array, as `lead_time_of`."""
    result = rate(trues(items["rework"]), len(items))
    return ReworkRate(
        rework=result.numerator,
        rollouts=result.denominator,
        rate=result.rate,
        ci95=result.ci95,
        sufficient=result.denominator >= MIN_ROLLOUTS_REWORK,
        items=items,
    )
