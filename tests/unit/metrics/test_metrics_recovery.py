"""dora.metrics.recovery: failed deployment recovery time and time to restore (METRICS §3.4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from dora.metrics.recovery import recovery_time, time_to_restore

SINCE = datetime(2026, 3, 1, tzinfo=UTC)
UNTIL = datetime(2026, 3, 29, tzinfo=UTC)
MIN = 60.0
H = 3600.0


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def rollouts(rows: list[tuple[int, datetime, str, datetime | None]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        rows, columns=["rollout_id", "first_live_at", "failure", "restored_at"]
    ).assign(service="checkout", environment="production")
    for column in ("first_live_at", "restored_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def test_worked_example_4_4() -> None:
    # D7 live 10:00, rollback D8 live and incident mitigated 10:50 (ticket closed next day: ignored
    # by derivation, which took mitigated_at). D13 live 14:00, INC-9 mitigated 19:30 by hotfix D14.
    frame = rollouts(
        [
            (7, t(8, 10), "confirmed", t(8, 10, 50)),
            (8, t(8, 10, 50), "", None),
            (13, t(14, 14), "confirmed", t(14, 19, 30)),
            (14, t(14, 19, 30), "", None),
        ]
    )
    result = recovery_time(frame, since=SINCE, until=UNTIL)
    # 50 min and 5 h 30 min = 330 min -> p50 (50 + 330)/2 = 190 min.
    assert list(result.items["recovery_seconds"]) == [50 * MIN, 330 * MIN]
    assert result.duration.p50 == 190 * MIN
    # 190 min < 1 day -> D5; n = 2 < 5 restored failures: no badge.
    assert (result.duration.category, result.duration.level) == ("D5", None)
    assert result.as_dict()["unrestored"] == 0


def test_unrestored_failures_are_listed_with_their_age() -> None:
    frame = rollouts(
        [
            (1, t(20, 12), "confirmed", None),  # never restored
            (2, t(27, 0), "inferred", t(30, 0)),  # restored after the window ends
            (3, t(10, 0), "confirmed", t(10, 1)),
        ]
    )
    result = recovery_time(frame, since=SINCE, until=UNTIL)
    assert result.unrestored == 2
    ages = result.unrestored_items.set_index("rollout_id")["age_seconds"]
    # Ages to `until` (Mar 29 00:00): from Mar 20 12:00 = 8.5 d; from Mar 27 00:00 = 2 d.
    assert ages.to_dict() == {1: 8.5 * 24 * H, 2: 2 * 24 * H}
    assert (result.duration.n, result.duration.p50) == (1, 1 * H)


def test_recovery_is_placed_by_restored_at() -> None:
    # Went live before the window, restored inside it: counts here.
    frame = rollouts([(1, SINCE - timedelta(hours=2), "confirmed", SINCE + timedelta(hours=1))])
    result = recovery_time(frame, since=SINCE, until=UNTIL)
    assert (result.duration.n, result.duration.p50) == (1, 3 * H)


def test_five_restored_failures_earn_a_badge() -> None:
    frame = rollouts([(i, t(i, 0), "confirmed", t(i, 2)) for i in range(1, 6)])
    result = recovery_time(frame, since=SINCE, until=UNTIL, benchmark=2024)
    # 2 h each -> D5 -> 2024 high.
    assert (result.duration.n, result.duration.category, result.duration.level) == (5, "D5", "high")


def test_time_to_restore_per_incident() -> None:
    incidents = pd.DataFrame(
        {
            "incident_id": ["a", "b", "c", "d"],
            "service": "checkout",
            "environment": "production",
            "opened_at": [t(2, 10, 15), t(3, 12), t(4, 0), t(5, 0)],
            "impact_started_at": [t(2, 10), None, None, None],
            "mitigated_at": [t(2, 11), None, None, None],
            "resolved_at": [t(2, 18), t(3, 15), None, None],
            "cause": ["change", "external", "", ""],
        }
    )
    for column in ("opened_at", "impact_started_at", "mitigated_at", "resolved_at"):
        incidents[column] = pd.to_datetime(incidents[column], utc=True)
    result = time_to_restore(incidents, since=SINCE, until=UNTIL)
    # a: impact 10:00 -> mitigated 11:00 = 1 h. b (external, counted): opened 12:00 -> resolved
    # 15:00 = 3 h. c and d never restored. p50 = (1 + 3)/2 = 2 h.
    assert list(result.items["restore_seconds"]) == [1 * H, 3 * H]
    assert (result.duration.p50, result.unrestored) == (2 * H, 2)
    assert set(result.as_dict()) == {
        "n",
        "p50_seconds",
        "p75_seconds",
        "p90_seconds",
        "median_ci95_seconds",
        "category",
        "level",
    }
