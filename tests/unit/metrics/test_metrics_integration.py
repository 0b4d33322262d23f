"""dora.metrics.integration: integration frequency (METRICS §4.4, example §6.7)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from dora.metrics.integration import integration_frequency
from dora.metrics.stats import wilson

H = 3600.0
D = 86400.0
MON = datetime(2026, 3, 2, tzinfo=UTC)
SINCE, UNTIL = MON, MON + timedelta(days=14)
DEVS = ["ana", "ben", "cem", "dia", "eli"]
WORKDAYS = [0, 1, 2, 3, 4, 7, 8, 9, 10, 11]  # two ISO weeks, Monday to Friday


def commits() -> pd.DataFrame:
    # Every developer commits at 09:00 on each of the 10 working days: 5 x 10 = 50 developer-days.
    rows = [
        ("acme/shop", f"{dev}{day}", dev, MON + timedelta(days=day, hours=9))
        for dev in DEVS
        for day in WORKDAYS
    ]
    frame = pd.DataFrame(rows, columns=["repo", "sha", "author", "authored_at"])
    frame["authored_at"] = pd.to_datetime(frame["authored_at"], utc=True)
    return frame


def example_changes() -> pd.DataFrame:
    # 31 developer-days get a merge (ana, ben, cem: all 10 days; dia: 1 day) and 17 of them get a
    # second merge: 31 + 17 = 48 merges.
    merge_days = [(dev, day) for dev in DEVS[:3] for day in WORKDAYS] + [("dia", 0)]
    merges = merge_days + merge_days[:17]
    # Lifetimes chosen so linear p50 is 14 h and p90 is 3.2 d (76.8 h), n = 48 sorted:
    # [0..22] 5 h, [23..24] 14 h (p50 at position 23.5), [25..41] 30 h, [42..43] 76.8 h
    # (p90 at position 0.9 * 47 = 42.3), [44..47] 100 h.
    lifetimes = [5.0] * 23 + [14.0] * 2 + [30.0] * 17 + [76.8] * 2 + [100.0] * 4
    rows = []
    for i, ((dev, day), hours) in enumerate(zip(merges, lifetimes, strict=True)):
        merged = MON + timedelta(days=day, hours=16, minutes=i % 17)
        rows.append(
            {
                "change_id": i + 1,
                "repo": "acme/shop",
                "author": dev,
                "created_at": merged - timedelta(hours=1),
                "merged_at": merged,
                "closed_at": merged,
                "start": merged - timedelta(hours=hours),
            }
        )
    # Two PRs still open at `until`, one closed unmerged, one merged after the window.
    for n, (created, merged, closed) in enumerate(
        [
            (MON + timedelta(days=3), None, None),
            (MON + timedelta(days=4), None, None),
            (MON + timedelta(days=5), None, MON + timedelta(days=6)),
            (MON + timedelta(days=6), UNTIL + timedelta(hours=1), UNTIL + timedelta(hours=1)),
        ]
    ):
        rows.append(
            {
                "change_id": 100 + n,
                "repo": "acme/web" if n == 0 else "acme/shop",
                "author": "eli",
                "created_at": created,
                "merged_at": merged,
                "closed_at": closed,
                "start": created,
            }
        )
    frame = pd.DataFrame(rows)
    for column in ("created_at", "merged_at", "closed_at", "start"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def test_worked_example_6_7() -> None:
    result = integration_frequency(commits(), example_changes(), since=SINCE, until=UNTIL)
    # 50 developer-days, 31 with a merge: 62%; 48 merges / 50 = 0.96 per developer-day.
    assert result.developer_days == 50
    assert (result.daily_integration.numerator, result.daily_integration.rate) == (31, 0.62)
    assert result.daily_integration.ci95 == wilson(31, 50)
    assert (result.merges, result.merges_per_developer_day) == (48, 0.96)
    assert result.branch_lifetime.p50 == 14 * H
    assert round(result.branch_lifetime.p90 / D, 3) == 3.2
    # Open at until: web's Mar 5 PR, shop's Mar 6 PR and shop's PR merged only after `until`;
    # the Mar 7 PR closed unmerged is not open.
    assert result.open_branches == {"acme/shop": 2, "acme/web": 1}
    # Targets: 0.96 < 1 merge per developer-day; 14 h < 1 day; <= 3 open branches per repo.
    assert result.targets_met == {"daily": False, "branch_lifetime": True, "open_branches": True}
    assert result.as_dict()["daily_integration_rate"] == 0.62


def test_merges_are_matched_to_developer_days_in_the_reporting_zone() -> None:
    # Commit Mon 09:00 UTC; merge Mon 23:30 UTC, which is Tue 00:30 in Berlin.
    commit = commits().iloc[[0]]
    change = example_changes().iloc[[0]].copy()
    change["merged_at"] = pd.Timestamp(MON + timedelta(hours=23, minutes=30))
    utc = integration_frequency(commit, change, since=SINCE, until=UNTIL)
    berlin = integration_frequency(commit, change, since=SINCE, until=UNTIL, tz="Europe/Berlin")
    assert (utc.daily_integration.rate, berlin.daily_integration.rate) == (1.0, 0.0)


def test_no_commits_gives_null_rates() -> None:
    result = integration_frequency(
        commits().iloc[0:0], example_changes().iloc[0:0], since=SINCE, until=UNTIL
    )
    assert (result.developer_days, result.daily_integration.rate) == (0, None)
    assert result.merges_per_developer_day is None
