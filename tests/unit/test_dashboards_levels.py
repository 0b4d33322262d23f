"""dora.reads.dashboards.Headline computes levels with the report's own definitions
(DoraFigures)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from dora.metrics import failure, frequency, lead_time, recovery, rework
from dora.reads.dashboards import Headline

SINCE = datetime(2026, 1, 5, tzinfo=UTC)
UNTIL = datetime(2026, 3, 30, tzinfo=UTC)


def empty(*column_sets: tuple[str, ...]) -> pd.DataFrame:
    columns = list(dict.fromkeys(c for columns in column_sets for c in columns))
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in columns})


def restored_incidents(n: int, minutes: int) -> pd.DataFrame:
    opened = [SINCE + timedelta(days=3 * i) for i in range(n)]
    return pd.DataFrame(
        {
            "incident_id": [f"INC-{i}" for i in range(n)],
            "service": ["shop"] * n,
            "environment": ["production"] * n,
            "opened_at": opened,
            "impact_started_at": [None] * n,
            "mitigated_at": [t + timedelta(minutes=minutes) for t in opened],
            "resolved_at": [t + timedelta(hours=5) for t in opened],
        }
    )


def headline(benchmark: int, incidents: pd.DataFrame | None) -> Headline:
    rollouts = empty(
        frequency.ROLLOUT_COLUMNS,
        failure.ROLLOUT_COLUMNS,
        recovery.ROLLOUT_COLUMNS,
        rework.ROLLOUT_COLUMNS,
    )
    return Headline(
        rollouts,
        empty(lead_time.ARRIVAL_COLUMNS),
        since=SINCE,
        until=UNTIL,
        now=UNTIL,
        tz="UTC",
        benchmark=benchmark,
        first_rollout_at=None,
        incidents=incidents,
    )


def test_headline_2022_level_uses_time_to_restore_like_the_report() -> None:
    # 30 incidents restored (mitigated) 30 minutes after opening: time to restore < 1 hour,
    # the 2022 table's top recovery band; no rollouts, so recovery time earns no badge.
    incidents = restored_incidents(30, minutes=30)

    with_restore = headline(2022, incidents)
    with_recovery = headline(2024, incidents)

    assert with_restore.restore.duration.level is not None
    assert with_restore.level == with_restore.restore.duration.level
    assert with_recovery.level is None  # 2024: failed deployment recovery time, none here


def test_headline_2022_level_needs_the_incidents() -> None:
    with pytest.raises(ValueError, match="time to restore"):
        headline(2022, None).level  # noqa: B018 - the property raises
