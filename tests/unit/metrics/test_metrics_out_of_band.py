"""dora.metrics.out_of_band: changes made outside the pipeline per environment per week."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from dora.metrics.out_of_band import out_of_band_changes


def changes(*rows: tuple[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "service": "network",
                "environment": env,
                "target": "",
                "changed_at": pd.Timestamp(when),
                "actor": "alice",
                "what": "DeleteRoute",
                "source": "cloudtrail",
            }
            for env, when in rows
        ],
        columns=["service", "environment", "target", "changed_at", "actor", "what", "source"],
    )


ROWS = (
    ("production", "2026-11-03T10:00:00Z"),  # Tue, week of 2 Nov
    ("staging", "2026-11-08T23:30:00Z"),  # Sun 23:30 UTC = Mon 9 Nov 00:30 in Berlin
    ("production", "2026-11-10T23:30:00Z"),  # Tue, week of 9 Nov either way
    ("production", "2026-11-01T22:00:00Z"),  # before the window in both readings
)


def test_counts_per_environment_per_utc_week_with_zero_weeks() -> None:
    result = out_of_band_changes(
        changes(*ROWS),
        since=datetime(2026, 11, 2, tzinfo=UTC),
        until=datetime(2026, 11, 16, tzinfo=UTC),
    )

    assert result.count == 3
    assert result.as_dict() == {
        "count": 3,
        "weeks": ["2026-11-02", "2026-11-09"],
        "environments": [
            {
                "environment": "production",
                "count": 2,
                "weeks": [{"week": "2026-11-02", "count": 1}, {"week": "2026-11-09", "count": 1}],
            },
            {
                "environment": "staging",
                "count": 1,
                "weeks": [{"week": "2026-11-02", "count": 1}, {"week": "2026-11-09", "count": 0}],
            },
        ],
    }


def test_weeks_are_read_in_the_scopes_time_zone() -> None:
    # Berlin is UTC+1 in November: the window is its local Mondays 2 Nov to 16 Nov.
    result = out_of_band_changes(
        changes(*ROWS),
        since=datetime(2026, 11, 1, 23, tzinfo=UTC),
        until=datetime(2026, 11, 15, 23, tzinfo=UTC),
        tz="Europe/Berlin",
    )

    staging = next(e for e in result.environments if e.environment == "staging")
    assert result.weeks == (date(2026, 11, 2), date(2026, 11, 9))
    assert staging.weeks == ((date(2026, 11, 2), 0), (date(2026, 11, 9), 1))
    assert result.count == 3


def test_no_changes_gives_zero_and_every_week() -> None:
    result = out_of_band_changes(
        changes(),
        since=datetime(2026, 11, 2, tzinfo=UTC),
        until=datetime(2026, 11, 23, tzinfo=UTC),
    )

    assert result.as_dict() == {
        "count": 0,
        "weeks": ["2026-11-02", "2026-11-09", "2026-11-16"],
        "environments": [],
    }
    assert result.item_dicts() == []


def test_items_are_newest_first_with_who_what_when() -> None:
    result = out_of_band_changes(
        changes(*ROWS[:3]),
        since=datetime(2026, 11, 2, tzinfo=UTC),
        until=datetime(2026, 11, 16, tzinfo=UTC),
    )

    assert [(i["changed_at"], i["environment"]) for i in result.item_dicts()] == [
        ("2026-11-10T23:30:00Z", "production"),
        ("2026-11-08T23:30:00Z", "staging"),
        ("2026-11-03T10:00:00Z", "production"),
    ]
    assert result.item_dicts()[0]["actor"] == "alice"


def test_naive_times_are_rejected() -> None:
    frame = changes(("production", "2026-11-03T10:00:00Z"))
    frame["changed_at"] = frame["changed_at"].dt.tz_localize(None)

    with pytest.raises(ValueError, match="naive"):
        out_of_band_changes(
            frame, since=datetime(2026, 11, 2, tzinfo=UTC), until=datetime(2026, 11, 9, tzinfo=UTC)
        )
