"""dora.reads.page_reads.rollout_status: what the recent-rollouts table says of each rollout. A
rollback a week old must never read "rolling out"."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dora.reads.page_reads import rollout_status

AT = datetime(2026, 3, 2, 12, tzinfo=UTC)


def status(**overrides: object) -> tuple[str, str]:
    values: dict[str, object] = {
        "kind": "change",
        "failure": "",
        "completed": False,
        "last_live_at": AT - timedelta(hours=2),
        "targets_live": 2,
        "targets_active": 3,
        "at": AT,
    }
    values.update(overrides)
    return rollout_status(**values)  # type: ignore[arg-type]


def test_a_rollout_deploying_within_the_last_day_is_rolling_out() -> None:
    assert status() == ("rolling", "rolling out (2 of 3 targets)")
    # Exactly at the bound (24 h) it still counts as moving.
    assert status(last_live_at=AT - timedelta(hours=24))[0] == "rolling"


def test_a_rollout_quiet_for_longer_than_a_day_is_partial() -> None:
    assert status(last_live_at=AT - timedelta(hours=24, seconds=1)) == (
        "partial",
        "partial (2 of 3 targets)",
    )
    assert status(last_live_at=None) == ("partial", "partial (2 of 3 targets)")


def test_a_week_old_rollback_reads_rolled_back_never_rolling_out() -> None:
    week_old = AT - timedelta(days=7)

    assert status(kind="rollback", last_live_at=week_old) == (
        "partial",
        "rolled back, partial (2 of 3 targets)",
    )
    assert status(kind="rollback", last_live_at=week_old, completed=True, targets_live=3) == (
        "complete",
        "rolled back",
    )
    # One still deploying says so, in its own words.
    assert status(kind="rollback") == ("rolling", "rolling back (2 of 3 targets)")


@pytest.mark.parametrize("kind", ["change", "rollback", "redeploy", "config"])
def test_a_failure_wins_and_completion_is_complete(kind: str) -> None:
    assert status(kind=kind, failure="confirmed") == ("failed", "failed (confirmed)")
    if kind != "rollback":
        assert status(kind=kind, completed=True) == ("complete", "complete")


def test_without_known_targets_no_count_is_shown() -> None:
    assert status(targets_live=0, targets_active=0) == ("rolling", "rolling out")
