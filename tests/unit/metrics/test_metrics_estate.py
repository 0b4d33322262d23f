"""dora.metrics.estate: full-estate lead time, rollout lag, version spread, automation lag."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from dora.metrics.automation import (
    automation_evidence,
    automation_lag,
)
from dora.metrics.estate import (
    full_estate_lead_time,
    version_spread,
    version_spread_series,
)
from dora.metrics.stats import wilson

H = 3600.0
D = 86400.0


def t(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# §6.1 full-estate lead time and rollout lag
# ---------------------------------------------------------------------------------------------

# Change C: first commit Mar 1 09:00; eu-1 Mar 1 15:00, eu-2 Mar 2 10:00, us-1 Mar 4 12:00,
# ap-1 Mar 8 09:00, us-2 Mar 11 09:00 (the last active target: the estate is reached then).
REACHED = pd.DataFrame(
    {
        "rollout_id": 1,
        "target": ["eu-1", "eu-2", "us-1", "ap-1", "us-2"],
        "reached_at": pd.to_datetime(
            [t(3, 1, 15), t(3, 2, 10), t(3, 4, 12), t(3, 8, 9), t(3, 11, 9)], utc=True
        ),
    }
)


def change_c(**extra: object) -> pd.DataFrame:
    row = {
        "change_id": 7,
        "commit_sha": "",
        "service": "shop",
        "rollout_id": 1,
        "start": t(3, 1, 9),
        "arrived_at": t(3, 1, 15),
        "estate_reached_at": t(3, 11, 9),
        "unattributed": False,
        "targets_active": 5,
        **extra,
    }
    frame = pd.DataFrame([row])
    for column in ("start", "arrived_at", "estate_reached_at"):
        frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def test_worked_example_6_1() -> None:
    result = full_estate_lead_time(change_c(), since=t(3, 1), until=t(4, 1), reached=REACHED)
    # clt_all = Mar 11 09:00 - Mar 1 09:00 = 10 d; rollout_lag = Mar 11 09:00 - Mar 1 15:00
    # = 9 d 18 h. (clt_first = 6 h is the ordinary lead time.)
    assert result.duration.p50 == 10 * D
    assert result.rollout_lag.p50 == 9 * D + 18 * H
    assert (result.incomplete, result.oldest_incomplete_seconds) == (0, None)
    # 10 d -> D3; no DORA level for estate figures.
    assert (result.duration.category, result.duration.level) == ("D3", None)
    assert result.as_dict()["incomplete"] == 0


def test_worked_example_6_1_incomplete_on_march_10() -> None:
    result = full_estate_lead_time(change_c(), since=t(3, 1), until=t(3, 10, 9), reached=REACHED)
    # On Mar 10 09:00: 4 of 5 targets (us-2 comes on Mar 11); age Mar 1 09:00 -> Mar 10 09:00 = 9 d.
    assert (result.duration.n, result.incomplete) == (0, 1)
    assert result.oldest_incomplete_seconds == 9 * D
    item = result.items.iloc[0]
    assert (item["targets_reached"], item["targets_active"]) == (4, 5)


def test_incomplete_changes_from_before_the_window_are_not_dropped() -> None:
    never = change_c(change_id=8, start=t(1, 1), arrived_at=t(1, 2), estate_reached_at=None)
    frame = pd.concat([change_c(), never], ignore_index=True)
    result = full_estate_lead_time(frame, since=t(3, 1), until=t(4, 1))
    # Change 8 arrived in January on some targets and never everywhere: age Jan 1 -> Apr 1 = 90 d.
    assert (result.duration.n, result.incomplete) == (1, 1)
    assert result.oldest_incomplete_seconds == 90 * D


def test_unattributed_changes_are_left_out_of_the_estate_figures() -> None:
    result = full_estate_lead_time(change_c(unattributed=True), since=t(3, 1), until=t(4, 1))
    assert (result.duration.n, result.incomplete) == (0, 0)


# ---------------------------------------------------------------------------------------------
# §6.2 version spread
# ---------------------------------------------------------------------------------------------


def deployments(rows: list[tuple[str, str, datetime]], status: str = "success") -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["target", "version", "finished_at"])
    frame["finished_at"] = pd.to_datetime(frame["finished_at"], utc=True)
    return frame.assign(service="shop", environment="production", sha="", status=status)


def example_6_2() -> pd.DataFrame:
    # Releases in order v1.39 (Mar 1), v1.40 (Mar 3), v1.41 (Mar 5), v1.42 (Mar 8).
    # At Mar 10: eu-1, eu-2, ap-1 on v1.42; us-1 on v1.41; us-2 left on v1.39.
    return deployments(
        [
            ("us-2", "v1.39", t(3, 1)),
            ("eu-1", "v1.39", t(3, 1, 1)),
            ("eu-1", "v1.40", t(3, 3)),
            ("eu-1", "v1.41", t(3, 5)),
            ("us-1", "v1.41", t(3, 5, 1)),
            ("eu-1", "v1.42", t(3, 8)),
            ("eu-2", "v1.42", t(3, 8, 1)),
            ("ap-1", "v1.42", t(3, 8, 2)),
        ]
    )


def test_worked_example_6_2() -> None:
    result = version_spread(example_6_2(), at=t(3, 10))
    # 3 distinct live versions; v1.39 -> v1.42 is 3 releases behind (v1.40 counts though no target
    # runs it now); 3 of 5 targets on v1.42 = 60%; v1.39 first went out Mar 1: 9 days old.
    assert result.as_dict() == [
        {
            "service": "shop",
            "environment": "production",
            "targets": 5,
            "versions": 3,
            "versions_behind": 3,
            "oldest_live_age_seconds": 9 * D,
            "share_on_newest": 0.6,
        }
    ]
    live = result.items.set_index("target")["version"].to_dict()
    assert live == {
        "ap-1": "v1.42",
        "eu-1": "v1.42",
        "eu-2": "v1.42",
        "us-1": "v1.41",
        "us-2": "v1.39",
    }


def test_version_spread_ignores_failed_and_future_deployments() -> None:
    frame = pd.concat(
        [
            example_6_2(),
            deployments([("us-2", "v1.42", t(3, 9))], status="failure"),
            deployments([("us-1", "v1.42", t(3, 12))]),
        ]
    )
    row = version_spread(frame, at=t(3, 10)).as_dict()[0]
    assert (row["versions"], row["share_on_newest"]) == (3, 0.6)


def test_version_spread_active_targets_rule() -> None:
    # us-2 last deployed Mar 1; evaluated Apr 5 (35 days on) it is outside a 30-day
    # target_idle_after and drops out; the others are inside it. Remaining 4: v1.42 x3,
    # v1.41 x1 -> 2 versions, 1 behind.
    frame = example_6_2()
    frame.loc[frame["target"] != "us-2", "finished_at"] += pd.Timedelta(days=10)
    thirty = {"production": timedelta(days=30)}
    row = version_spread(frame, at=t(4, 5), idle_after_by_environment=thirty).as_dict()[0]
    assert (row["targets"], row["versions"], row["versions_behind"]) == (4, 2, 1)
    # Within the default 90 days (METRICS §2, definitions 2) us-2 stays: all 5, 3 versions.
    row = version_spread(frame, at=t(4, 5)).as_dict()[0]
    assert (row["targets"], row["versions"], row["versions_behind"]) == (5, 3, 3)
    # Configured targets are active whatever their age.
    configured = pd.DataFrame(
        {"environment": "production", "target": ["eu-1", "eu-2", "ap-1", "us-1", "us-2"]}
    )
    row = version_spread(frame, at=t(4, 5), configured_targets=configured).as_dict()[0]
    assert (row["targets"], row["versions"], row["versions_behind"]) == (5, 3, 3)


def test_version_spread_daily_series() -> None:
    series = version_spread_series(example_6_2(), since=t(3, 7), until=t(3, 9))
    # End of Mar 7: eu-1 v1.41, us-1 v1.41, us-2 v1.39 -> 2 versions. End of Mar 8: 3 versions.
    assert list(series["versions"]) == [2, 3]
    assert [str(d) for d in series["day"]] == ["2026-03-07", "2026-03-08"]


# ---------------------------------------------------------------------------------------------
# §6.3 automation lag
# ---------------------------------------------------------------------------------------------

NOW = t(6, 1)


def runs(rows: list[tuple[str, str, str, datetime, str]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["service", "action", "status", "finished_at", "trigger"])
    frame["finished_at"] = pd.to_datetime(frame["finished_at"], utc=True)
    return frame.assign(environment="prod", target="")


def test_worked_example_6_3_lag() -> None:
    frame = runs(
        [
            ("net", "apply", "success", NOW - timedelta(days=2), "schedule"),
            # A plan an hour ago does not reset net's lag; a failed apply does not either.
            ("net", "plan", "success", NOW - timedelta(hours=1), "schedule"),
            ("net", "apply", "failure", NOW - timedelta(hours=2), "schedule"),
            ("db", "apply", "success", NOW - timedelta(days=45), "change"),
            ("dns", "apply", "success", NOW - timedelta(hours=3), "manual"),
        ]
    )
    result = automation_lag(frame, now=NOW)
    # Lags 3 h, 2 d, 45 d: p50 = 2 d; p90 at position 1.8 -> 2 d + 0.8 * 43 d = 36.4 d; max 45 d.
    assert result.p50_seconds == 2 * D
    assert result.p90_seconds == pytest.approx(36.4 * D)
    assert result.max_seconds == 45 * D
    # Only db is over 7 days.
    assert result.stale == 1
    by_service = result.instances.set_index("service")
    assert by_service.loc["net", "lag_seconds"] == 2 * D
    # dns's last reset was a manual apply: it counts, and is flagged.
    assert bool(by_service.loc["dns", "manual"]) and not bool(by_service.loc["net", "manual"])
    first = result.as_dict()["instances"][0]
    assert first == {
        "service": "db",
        "environment": "prod",
        "target": "",
        "lag_seconds": 45 * D,
        "last_success_at": "2026-04-17T00:00:00Z",
        "stale": True,
    }


def test_plan_only_instance_never_resets() -> None:
    frame = runs([("drift", "plan", "success", NOW - timedelta(hours=1), "schedule")])
    result = automation_lag(frame, now=NOW)
    row = result.instances.iloc[0]
    assert pd.isna(row["lag_seconds"]) and bool(row["stale"])
    assert (result.never_succeeded, result.p50_seconds) == (1, None)


def test_stale_after_per_environment() -> None:
    frame = runs([("net", "apply", "success", NOW - timedelta(days=2), "schedule")])
    tight = automation_lag(frame, now=NOW, stale_after_by_environment={"prod": timedelta(days=1)})
    loose = automation_lag(frame, now=NOW)
    assert (tight.stale, loose.stale) == (1, 0)


def test_runs_after_now_are_ignored() -> None:
    frame = runs(
        [
            ("net", "apply", "success", NOW - timedelta(days=10), "schedule"),
            ("net", "apply", "success", NOW + timedelta(days=1), "schedule"),
        ]
    )
    assert automation_lag(frame, now=NOW).p50_seconds == 10 * D


def test_worked_example_6_3_evidence() -> None:
    # Instance "often": 151 runs 12 h apart -> 150 gaps <= 1 d, 3 of those runs failed.
    # Instance "rarely": 17 runs 31 d apart -> 16 gaps > 30 d, 4 failed.
    start = t(1, 1)
    often = [
        (
            "often",
            "apply",
            "failure" if i in (10, 50, 90) else "success",
            start + i * timedelta(hours=12),
            "",
        )
        for i in range(151)
    ]
    rarely = [
        (
            "rarely",
            "apply",
            "failure" if i in (2, 5, 9, 14) else "success",
            start - timedelta(days=600) + i * timedelta(days=31),
            "",
        )
        for i in range(17)
    ]
    frame = runs(often + rarely)
    result = automation_evidence(frame, since=start - timedelta(days=700), until=t(12, 31))
    buckets = result.buckets.set_index("gap")
    assert (buckets.loc["<=1d", "runs"], buckets.loc["<=1d", "failures"]) == (150, 3)
    assert buckets.loc["<=1d", "rate"] == pytest.approx(0.02)
    assert (buckets.loc[">30d", "runs"], buckets.loc[">30d", "failures"]) == (16, 4)
    assert buckets.loc[">30d", "rate"] == 0.25
    assert (buckets.loc["1-7d", "runs"], buckets.loc["7-30d", "runs"]) == (0, 0)
    rows = {row["gap"]: row for row in result.as_dict()}
    assert rows[">30d"]["ci95"] == pytest.approx(list(wilson(4, 16)))
    assert rows["1-7d"]["ci95"] is None and rows["1-7d"]["rate"] is None


def test_evidence_gap_edges_are_inclusive_above() -> None:
    start = t(1, 1)
    frame = runs(
        [
            ("a", "apply", "success", start, ""),
            ("a", "apply", "failure", start + timedelta(days=1), ""),  # gap exactly 1 d
            ("a", "apply", "success", start + timedelta(days=8), ""),  # gap 7 d
            ("a", "apply", "success", start + timedelta(days=38), ""),  # gap 30 d
        ]
    )
    buckets = automation_evidence(frame, since=start, until=t(12, 1)).buckets.set_index("gap")
    assert list(buckets["runs"]) == [1, 1, 1, 0]
    assert list(buckets["failures"]) == [1, 0, 0, 0]
