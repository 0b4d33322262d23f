"""The per-scope steps of lead time, recovery, time to restore, change failure and rework on
arrays (dora.metrics `*_of`, `duration_summary`, `percentiles`) against the pandas definitions
they replaced, on random small scopes: the same figures bit for bit, types included (compared by
repr, which tells 1 from 1.0 and prints floats exactly), and the items frame passed in.

The reference functions below are the pandas code as it was (before the overview's ~600 scopes
were measured at pandas' fixed cost per call), kept verbatim but for their names. The rows come
from the real row-wise passes (`*_items`) over random frames with nulls, invalid and
unattributed rows and ties, split by service as dora.reads.dashboards splits them."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from dora.metrics.failure import (
    REMEDIATION_WINDOW,
    ChangeFailureRate,
    change_failure_items,
    change_failure_of,
)
from dora.metrics.frames import check_aware, floats, trues
from dora.metrics.lead_time import ARRIVAL_COLUMNS, LeadTime, lead_time_items, lead_time_of
from dora.metrics.levels import (
    LATEST_BENCHMARK,
    LEAD_TIME,
    MIN_CHANGES_LEAD_TIME,
    MIN_RESTORED_RECOVERY,
    MIN_ROLLOUTS_CFR,
    MIN_ROLLOUTS_REWORK,
    RECOVERY,
    graded,
    level_for_failure_rate,
)
from dora.metrics.recovery import (
    RecoveryTime,
    TimeToRestore,
    recovery_items,
    recovery_of,
    restore_items,
    restore_of,
)
from dora.metrics.rework import ReworkRate, rework_items, rework_of
from dora.metrics.stats import (
    Duration,
    _clean,
    _median_ci_sorted,
    duration_summary,
    percentiles,
    rate,
)

SEEDS = range(150)
BASE = datetime(2026, 9, 1, tzinfo=UTC)
SERVICES = ("shop", "cart", "search")
YEARS = (2021, 2022, 2023, 2024, 2025)

# -- the pandas definitions -----------------------------------------------------------------


def reference_percentiles(
    values: pd.Series | np.ndarray, qs: tuple[float, ...] = (0.5, 0.75, 0.9)
) -> list[float | None]:
    clean = _clean(values)
    if not clean.size:
        return [None] * len(qs)
    return [float(v) for v in np.quantile(clean, qs, method="linear")]


def reference_duration_summary(values: pd.Series | np.ndarray) -> Duration:
    sample = np.sort(_clean(values))
    p50, p75, p90 = reference_percentiles(sample)
    return Duration(n=len(sample), p50=p50, p75=p75, p90=p90, median_ci95=_median_ci_sorted(sample))


def reference_lead_time_of(items: pd.DataFrame, *, benchmark: int = LATEST_BENCHMARK) -> LeadTime:
    lead = graded(
        reference_duration_summary(items["lead_time_seconds"]),
        LEAD_TIME,
        year=benchmark,
        min_n=MIN_CHANGES_LEAD_TIME,
    )
    merge = graded(
        reference_duration_summary(items["merge_to_production_seconds"]),
        LEAD_TIME,
        year=benchmark,
        min_n=MIN_CHANGES_LEAD_TIME,
    )
    return LeadTime(
        duration=lead,
        invalid=int(items["invalid"].sum()),
        unattributed=int(items["unattributed"].sum()),
        merge_to_production=merge,
        items=items,
    )


def reference_recovery_of(
    items: pd.DataFrame, unrestored: pd.DataFrame, *, benchmark: int = LATEST_BENCHMARK
) -> RecoveryTime:
    duration = graded(
        reference_duration_summary(items["recovery_seconds"]),
        RECOVERY,
        year=benchmark,
        min_n=MIN_RESTORED_RECOVERY,
    )
    return RecoveryTime(
        duration=duration,
        unrestored=len(unrestored),
        invalid=int(items["invalid"].sum()),
        items=items,
        unrestored_items=unrestored,
    )


def reference_restore_of(
    items: pd.DataFrame, still_open: pd.DataFrame, *, benchmark: int = LATEST_BENCHMARK
) -> TimeToRestore:
    duration = graded(
        reference_duration_summary(items["restore_seconds"]),
        RECOVERY,
        year=benchmark,
        min_n=MIN_RESTORED_RECOVERY,
    )
    return TimeToRestore(
        duration=duration,
        unrestored=len(still_open),
        invalid=int(items["invalid"].sum()),
        items=items,
    )


def reference_change_failure_of(
    items: pd.DataFrame, *, until: datetime, now: datetime, benchmark: int = LATEST_BENCHMARK
) -> ChangeFailureRate:
    moment = check_aware(now, "now")
    confirmed = int(items["confirmed"].sum())
    inferred = int(items["inferred"].sum())
    result = rate(confirmed + inferred, len(items))
    level = None
    if result.denominator >= MIN_ROLLOUTS_CFR:
        level = level_for_failure_rate(result.rate, benchmark)
    return ChangeFailureRate(
        failed=result.numerator,
        confirmed=confirmed,
        inferred=inferred,
        rollouts=result.denominator,
        rate=result.rate,
        ci95=result.ci95,
        provisional=bool(moment - check_aware(until, "until") < REMEDIATION_WINDOW),
        level=level,
        items=items,
    )


def reference_rework_of(items: pd.DataFrame) -> ReworkRate:
    result = rate(int(items["rework"].sum()), len(items))
    return ReworkRate(
        rework=result.numerator,
        rollouts=result.denominator,
        rate=result.rate,
        ci95=result.ci95,
        sufficient=result.denominator >= MIN_ROLLOUTS_REWORK,
        items=items,
    )


# -- random scopes ----------------------------------------------------------------------------


def moment(rng: random.Random, spread_days: int = 120) -> datetime:
    """A moment in the 120 days from BASE, often on a shared whole hour (ties)."""
    if rng.random() < 0.3:
        return BASE + timedelta(hours=rng.randrange(0, spread_days * 24, 24))
    return BASE + timedelta(seconds=rng.uniform(0, spread_days * 86_400))


def maybe(rng: random.Random, value: datetime, null: float = 0.15) -> datetime | None:
    return None if rng.random() < null else value


def stamps(values: list[datetime | None]) -> pd.Series:
    return pd.Series(pd.to_datetime(values, utc=True), dtype="datetime64[us, UTC]")


def random_rollouts(rng: random.Random) -> pd.DataFrame:
    n = rng.choice((0, 1, 2, 5, 20, 60, 250))
    live = [moment(rng) for _ in range(n)]
    restored: list[datetime | None] = []
    for at in live:
        # Restored after going live, before it (invalid), or never.
        offset = timedelta(seconds=rng.choice((-3600.0, 0.0, rng.uniform(0, 5 * 86_400))))
        restored.append(maybe(rng, at + offset, 0.25))
    return pd.DataFrame(
        {
            "rollout_id": range(1, n + 1),
            "service": [rng.choice(SERVICES) for _ in range(n)],
            "environment": "production",
            "kind": [rng.choice(("change", "config", "redeploy", "rollback", None)) for _ in live],
            "first_live_at": stamps([maybe(rng, at, 0.05) for at in live]),
            "failure": [rng.choice(("", "", "confirmed", "inferred", None)) for _ in live],
            "restored_at": stamps(restored),
            "remediation": [rng.choice((True, False, False, None)) for _ in live],
        }
    )


def random_arrivals(rng: random.Random) -> pd.DataFrame:
    n = rng.choice((0, 1, 3, 12, 40, 150))
    arrived = [moment(rng) for _ in range(n)]
    rows = []
    for i, at in enumerate(arrived):
        # Starts before the arrival, after it (invalid), at it (a zero duration) or unknown.
        start = at - timedelta(seconds=rng.choice((rng.uniform(0, 9e5), -60.0, 0.0)))
        merged = at - timedelta(seconds=rng.choice((rng.uniform(0, 2e5), -5.0)))
        rows.append(
            {
                "change_id": float(rng.randrange(1, 30)) if rng.random() < 0.8 else np.nan,
                "commit_sha": f"sha{i}" if rng.random() < 0.2 else "",
                "service": rng.choice(SERVICES),
                "rollout_id": rng.randrange(1, 50),
                "start": maybe(rng, start, 0.1),
                "merged_at": maybe(rng, merged, 0.2),
                "arrived_at": at,
                "unattributed": rng.random() < 0.15,
            }
        )
    frame = pd.DataFrame(rows, columns=list(ARRIVAL_COLUMNS))
    for column in ("start", "merged_at", "arrived_at"):
        frame[column] = stamps(list(frame[column]))
    return frame


def random_incidents(rng: random.Random) -> pd.DataFrame:
    n = rng.choice((0, 1, 4, 15, 60))
    rows = []
    for i in range(n):
        opened = moment(rng)
        rows.append(
            {
                "incident_id": f"inc-{i}",
                "service": rng.choice(SERVICES),
                "environment": "production",
                "opened_at": opened,
                "impact_started_at": maybe(rng, opened - timedelta(minutes=rng.randrange(90))),
                "mitigated_at": maybe(rng, opened + timedelta(hours=rng.uniform(-1, 30)), 0.4),
                "resolved_at": maybe(rng, opened + timedelta(hours=rng.uniform(0, 60)), 0.3),
            }
        )
    frame = pd.DataFrame(rows, columns=["incident_id", "service", "environment", "opened_at"])
    frame = pd.DataFrame(rows) if rows else frame
    for column in ("opened_at", "impact_started_at", "mitigated_at", "resolved_at"):
        frame[column] = stamps(list(frame[column])) if rows else stamps([])
    return frame


def window(rng: random.Random) -> tuple[datetime, datetime]:
    since = BASE + timedelta(days=rng.randrange(0, 60), hours=rng.choice((0, 0, 7)))
    return since, since + timedelta(days=rng.choice((1, 7, 30, 90)))


def scopes(frame: pd.DataFrame) -> list[pd.DataFrame]:
    """The frame, its rows per service as dora.reads.dashboards._split gives them (a slice
    indexed from 0, in the frame's order), and the frame's empty slice."""
    parts = [frame, frame.iloc[0:0].reset_index(drop=True)]
    for service in SERVICES:
        part = frame[frame["service"] == service]
        part.index = pd.RangeIndex(len(part))
        parts.append(part)
    return parts


def same(got: object, want: object) -> None:
    assert repr(got) == repr(want)


# -- the tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_percentiles_and_duration_summary_are_numpys(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.choice((0, 1, 2, 3, 5, 6, 7, 10, 11, 40, 250))
    kind = rng.choice(("spread", "ties", "seconds", "nan"))
    if kind == "spread":
        values = [rng.expovariate(1e-5) for _ in range(n)]
    elif kind == "ties":
        values = [float(rng.randrange(4)) for _ in range(n)]
    elif kind == "seconds":
        values = [round(rng.uniform(0, 1e6), 6) for _ in range(n)]
    else:
        values = [rng.choice((np.nan, rng.uniform(0, 1e4))) for _ in range(n)]
    qs = tuple(rng.random() for _ in range(rng.randrange(1, 5))) + (0.0, 1.0, 0.5)
    for given in (np.array(values, dtype=float), pd.Series(values, dtype=float)):
        same(percentiles(given, qs), reference_percentiles(given, qs))
        same(percentiles(given), reference_percentiles(given))
        same(duration_summary(given), reference_duration_summary(given))
    shuffled = list(values)
    rng.shuffle(shuffled)
    same(percentiles(np.array(shuffled)), reference_percentiles(np.array(values)))


def test_percentiles_reject_a_quantile_outside_0_1_as_numpy() -> None:
    with pytest.raises(ValueError, match="range"):
        reference_percentiles(np.array([1.0, 2.0]), (1.5,))
    with pytest.raises(ValueError, match="range"):
        percentiles(np.array([1.0, 2.0]), (1.5,))


@pytest.mark.parametrize("seed", SEEDS)
def test_lead_time_of_is_the_pandas_definition(seed: int) -> None:
    rng = random.Random(seed)
    since, until = window(rng)
    items = lead_time_items(random_arrivals(rng), since=since, until=until)
    benchmark = rng.choice(YEARS)
    for scope in scopes(items):
        got = lead_time_of(scope, benchmark=benchmark)
        same(got, reference_lead_time_of(scope, benchmark=benchmark))
        assert got.items is scope


@pytest.mark.parametrize("seed", SEEDS)
def test_recovery_and_restore_of_are_the_pandas_definitions(seed: int) -> None:
    rng = random.Random(seed)
    since, until = window(rng)
    benchmark = rng.choice(YEARS)
    items, unrestored = recovery_items(random_rollouts(rng), since=since, until=until)
    for scope, open_ in zip(scopes(items), scopes(unrestored), strict=True):
        got = recovery_of(scope, open_, benchmark=benchmark)
        same(got, reference_recovery_of(scope, open_, benchmark=benchmark))
        assert got.items is scope and got.unrestored_items is open_
    restored, still_open = restore_items(random_incidents(rng), since=since, until=until)
    for scope, open_ in zip(scopes(restored), scopes(still_open), strict=True):
        got_restore = restore_of(scope, open_, benchmark=benchmark)
        same(got_restore, reference_restore_of(scope, open_, benchmark=benchmark))
        assert got_restore.items is scope


@pytest.mark.parametrize("seed", SEEDS)
def test_change_failure_and_rework_of_are_the_pandas_definitions(seed: int) -> None:
    rng = random.Random(seed)
    since, until = window(rng)
    now = until + timedelta(hours=rng.choice((1, 71, 72, 500)))
    benchmark = rng.choice(YEARS)
    rollouts = random_rollouts(rng)
    for scope in scopes(change_failure_items(rollouts, since=since, until=until)):
        got = change_failure_of(scope, until=until, now=now, benchmark=benchmark)
        want = reference_change_failure_of(scope, until=until, now=now, benchmark=benchmark)
        same(got, want)
        assert got.items is scope
    for scope in scopes(rework_items(rollouts, since=since, until=until)):
        got_rework = rework_of(scope)
        same(got_rework, reference_rework_of(scope))
        assert got_rework.items is scope


def test_columns_of_other_dtypes_count_as_pandas_counts_them() -> None:
    """A nullable boolean column with missing values, an object column of bools and None, and
    a float column holding None (object) or pd.NA (Float64): `trues` and `floats` fall back to
    pandas' own reading of them."""
    for flags in (
        pd.Series([True, None, False, True, True], dtype="boolean"),
        pd.Series([True, None, False, True, True], dtype=object),
        pd.Series([1, 0, 1, 1], dtype="int64"),
    ):
        assert trues(flags) == int(flags.sum()) == 3
    for seconds in (
        pd.Series([3.0, None, 1.0], dtype=object),
        pd.Series([3.0, None, 1.0], dtype="Float64"),
    ):
        got = floats(seconds)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, [3.0, np.nan, 1.0])
        same(duration_summary(got), reference_duration_summary(seconds))
    frame = pd.DataFrame(
        {
            "lead_time_seconds": pd.Series([5.0, None, 7.0], dtype=object),
            "merge_to_production_seconds": pd.Series([1.0, 2.0, None], dtype="Float64"),
            "invalid": pd.Series([False, True, None], dtype="boolean"),
            "unattributed": pd.Series([True, None, True], dtype=object),
        }
    )
    same(lead_time_of(frame), reference_lead_time_of(frame))
