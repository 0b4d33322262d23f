"""Out-of-band changes (METRICS §4.5): changes made outside the pipeline, per environment and
per week."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import pandas as pd

from dora.metrics.frames import check_window, in_window, iso, local_days, require_columns, utc

OUT_OF_BAND_COLUMNS = ("service", "environment", "changed_at", "actor", "what")


@dataclass(frozen=True)
class EnvironmentChanges:
    environment: str
    count: int
    weeks: tuple[tuple[date, int], ...]  # (local Monday, changes that week), every week

    def as_dict(self) -> dict[str, Any]:
        return {
            "environment": self.environment,
            "count": self.count,
            "weeks": [{"week": week.isoformat(), "count": n} for week, n in self.weeks],
        }


@dataclass(frozen=True)
class OutOfBandChanges:
    count: int
    weeks: tuple[date, ...]
    environments: tuple[EnvironmentChanges, ...]
    items: pd.DataFrame

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "weeks": [week.isoformat() for week in self.weeks],
            "environments": [e.as_dict() for e in self.environments],
        }

    def item_dicts(self) -> list[dict[str, Any]]:
        """The changes, newest first: when (ISO UTC), who, what, where, source."""
        rows = self.items.sort_values("changed_at", ascending=False, kind="stable")
        return [
            {
                "changed_at": iso(row["changed_at"]),
                "service": row["service"],
                "environment": row["environment"],
                "target": row.get("target") or "",
                "actor": row["actor"],
                "what": row["what"],
                "source": row.get("source") or "",
            }
            for row in rows.to_dict("records")
        ]


def _monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def out_of_band_changes(
    changes: pd.DataFrame, *, since: datetime, until: datetime, tz: str = "UTC"
) -> OutOfBandChanges:
    """Changes made outside the pipeline in [since, until), per environment and per ISO week.

    changes: one row per out-of-band change; columns service, environment, changed_at (aware
    UTC), actor, what (target and source optional). Weeks start on Monday in `tz`; every week
    the window touches is listed, zero weeks included, so a week without changes reads 0.
    Environments are listed by name; one without changes in the window is not listed.
    """
    require_columns(changes, OUT_OF_BAND_COLUMNS, "changes")
    start, end = check_window(since, until)
    frame = changes.copy()
    frame["changed_at"] = utc(frame["changed_at"], "changed_at")
    frame = frame[in_window(frame["changed_at"], start, end)]
    first = _monday(start.tz_convert(tz).date())
    last = _monday((end - pd.Timedelta(microseconds=1)).tz_convert(tz).date())
    weeks = tuple(first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1))
    if len(frame):
        frame["week"] = [_monday(d.date()) for d in local_days(frame["changed_at"], tz)]
    environments = []
    for environment, rows in sorted(frame.groupby("environment"), key=lambda g: str(g[0])):
        per_week = rows["week"].value_counts().to_dict()
        environments.append(
            EnvironmentChanges(
                environment=str(environment),
                count=len(rows),
                weeks=tuple((week, int(per_week.get(week, 0))) for week in weeks),
            )
        )
    return OutOfBandChanges(
        count=len(frame),
        weeks=weeks,
        environments=tuple(environments),
        items=frame.drop(columns=["week"], errors="ignore"),
    )
