"""dora.metrics.rework: deployment rework rate (METRICS §3.5)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd

from dora.metrics.rework import rework_rate

SINCE = datetime(2026, 3, 1, tzinfo=UTC)
UNTIL = datetime(2026, 3, 29, tzinfo=UTC)


def example_rollouts() -> pd.DataFrame:
    """§4.3/§4.5 window: D1..D21 with D8 a rollback; D14 the hotfix for INC-9; D13 failed."""
    return pd.DataFrame(
        {
            "rollout_id": list(range(1, 22)),
            "service": "checkout",
            "environment": "production",
            "kind": ["rollback" if i == 8 else "change" for i in range(1, 22)],
            "first_live_at": [SINCE + timedelta(days=i, hours=10) for i in range(1, 22)],
            "remediation": [i in (8, 14) for i in range(1, 22)],
            "failure": ["confirmed" if i in (7, 13) else "" for i in range(1, 22)],
        }
    )


def test_worked_example_4_5() -> None:
    result = rework_rate(example_rollouts(), since=SINCE, until=UNTIL)
    # 20 change rollouts + 1 rollback = 21; rework = rollback D8 + hotfix D14 = 2; 2/21 = 9.5%.
    assert (result.rework, result.rollouts) == (2, 21)
    assert round(result.rate, 3) == 0.095
    assert result.sufficient
    assert set(result.as_dict()) == {"rework", "rollouts", "rate", "ci95"}


def test_rollbacks_are_rework_even_unflagged_and_redeploys_are_out() -> None:
    frame = example_rollouts()
    frame.loc[frame["rollout_id"] == 8, "remediation"] = False
    extra = frame.iloc[[0]].assign(rollout_id=99, kind="redeploy", remediation=True)
    result = rework_rate(pd.concat([frame, extra]), since=SINCE, until=UNTIL)
    assert (result.rework, result.rollouts) == (2, 21)


def test_a_failed_rollout_is_not_rework() -> None:
    result = rework_rate(example_rollouts(), since=SINCE, until=UNTIL)
    failed_d13 = result.items.set_index("rollout_id").loc[13]
    assert failed_d13["failure"] == "confirmed" and not failed_d13["rework"]


def test_below_twenty_rollouts_is_insufficient() -> None:
    frame = example_rollouts().iloc[:19]
    assert not rework_rate(frame, since=SINCE, until=UNTIL).sufficient
