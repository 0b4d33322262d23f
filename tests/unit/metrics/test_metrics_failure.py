"""dora.metrics.failure: change failure rate and deploy failure rate (METRICS §3.3)."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from dora.metrics.failure import change_failure_rate, deploy_failure_rate

SINCE = datetime(2026, 3, 1, tzinfo=UTC)
UNTIL = datetime(2026, 3, 29, tzinfo=UTC)
LONG_AFTER = UNTIL + timedelta(days=30)
Z = 1.959963984540054


def example_rollouts() -> pd.DataFrame:
    """metrics-background §4.3: D1..D21 daily; D8 is the rollback of D7; INC-9 names D13."""
    rows = []
    for i in range(1, 22):
        rows.append(
            {
                "rollout_id": i,
                "service": "checkout",
                "environment": "production",
                "kind": "rollback" if i == 8 else "change",
                "first_live_at": SINCE + timedelta(days=i, hours=10),
                "failure": "confirmed" if i in (7, 13) else "",
            }
        )
    return pd.DataFrame(rows)


def test_worked_example_4_3() -> None:
    result = change_failure_rate(
        example_rollouts(), since=SINCE, until=UNTIL, now=LONG_AFTER, benchmark=2024
    )
    # Denominator: 21 rollouts minus the rollback D8 = 20; failed D7 (rolled back), D13 (INC-9).
    assert (result.failed, result.confirmed, result.inferred, result.rollouts) == (2, 2, 0, 20)
    assert result.rate == 0.1
    # Wilson for 2/20 by formula: centre (0.1 + z^2/40)/(1 + z^2/20), half as below.
    z2 = Z * Z
    centre = (0.1 + z2 / 40) / (1 + z2 / 20)
    half = Z / (1 + z2 / 20) * math.sqrt(0.1 * 0.9 / 20 + z2 / 1600)
    assert result.ci95 == pytest.approx((centre - half, centre + half))
    assert (round(result.ci95[0], 3), round(result.ci95[1], 3)) == (0.028, 0.301)
    # n = 20 meets the badge minimum; 10% in 2024 is high (<= 20, not <= 5).
    assert result.level == "high"
    assert result.as_dict() == {
        "failed": 2,
        "confirmed": 2,
        "inferred": 0,
        "rollouts": 20,
        "rate": 0.1,
        "ci95": list(result.ci95),
        "provisional": False,
        "level": "high",
    }


@pytest.mark.parametrize(("year", "level"), [(2021, "elite"), (2022, "high"), (2023, "high")])
def test_worked_example_4_3_levels_by_year(year: int, level: str) -> None:
    # 10%: 2021 <= 15 elite; 2022 <= 15 high; 2023 <= 10 high.
    result = change_failure_rate(
        example_rollouts(), since=SINCE, until=UNTIL, now=LONG_AFTER, benchmark=year
    )
    assert result.level == level


def test_each_failure_counts_once_however_many_causes() -> None:
    links = pd.DataFrame(
        {
            "rollout_id": [13, 13, 13, 13, 7],
            "cause": ["incident", "hotfix", "revert", "incident", "rollback"],
            "status": ["confirmed"] * 5,
        }
    )
    result = change_failure_rate(
        example_rollouts(), since=SINCE, until=UNTIL, now=LONG_AFTER, failure_links=links
    )
    assert result.failed == 2
    causes = result.items.set_index("rollout_id")["causes"]
    assert causes[13] == "hotfix,incident,revert"
    assert causes[7] == "rollback"
    assert causes[1] == ""


def test_inferred_failures_are_counted_apart() -> None:
    frame = example_rollouts()
    frame.loc[frame["rollout_id"] == 3, "failure"] = "inferred"
    result = change_failure_rate(frame, since=SINCE, until=UNTIL, now=LONG_AFTER)
    assert (result.failed, result.confirmed, result.inferred) == (3, 2, 1)


def test_provisional_until_72_hours_after_the_window() -> None:
    frame = example_rollouts()
    early = change_failure_rate(frame, since=SINCE, until=UNTIL, now=UNTIL + timedelta(hours=71))
    settled = change_failure_rate(frame, since=SINCE, until=UNTIL, now=UNTIL + timedelta(hours=72))
    assert (early.provisional, settled.provisional) == (True, False)


def test_badge_needs_twenty_rollouts() -> None:
    frame = example_rollouts()
    frame = frame[frame["rollout_id"] != 21]  # 19 counted rollouts
    result = change_failure_rate(frame, since=SINCE, until=UNTIL, now=LONG_AFTER)
    assert (result.rollouts, result.level) == (19, None)


def test_redeploys_and_config_rollouts() -> None:
    frame = pd.DataFrame(
        {
            "rollout_id": [1, 2, 3],
            "service": "s",
            "environment": "production",
            "kind": ["config", "redeploy", "change"],
            "first_live_at": [SINCE + timedelta(hours=h) for h in (1, 2, 3)],
            "failure": ["confirmed", "", ""],
        }
    )
    result = change_failure_rate(frame, since=SINCE, until=UNTIL, now=LONG_AFTER)
    # config counts, redeploy does not: 1 failed of 2.
    assert (result.failed, result.rollouts, result.rate) == (1, 2, 0.5)


def test_no_rollouts_no_rate() -> None:
    frame = example_rollouts().iloc[0:0]
    result = change_failure_rate(frame, since=SINCE, until=UNTIL, now=LONG_AFTER)
    assert (result.rollouts, result.rate, result.ci95, result.level) == (0, None, None, None)


def test_deploy_failure_rate_counts_finished_attempts() -> None:
    statuses = ["success", "success", "success", "failure", "cancelled", "running", "failure"]
    finished = [SINCE + timedelta(hours=h) for h in range(6)] + [UNTIL]
    deployments = pd.DataFrame(
        {
            "service": "s",
            "environment": "production",
            "target": "eu-1",
            "status": statuses,
            "finished_at": pd.to_datetime(finished, utc=True),
        }
    )
    result = deploy_failure_rate(deployments, since=SINCE, until=UNTIL)
    # In the window: 3 successes + 1 failure = 4 attempts (cancelled and running are neither;
    # the last failure finished at `until`, outside the half-open window).
    assert result.as_dict() == {"failed": 1, "attempts": 4, "rate": 0.25}
