"""`frequency_of` on arrays against the pandas definition it replaced, on random scopes: the
same figures bit for bit (compared by repr, which tells 1 from 1.0 and prints floats exactly),
the same weeks and items frames and window rows.

The scopes come from the real row-wise pass (`frequency_frame`) over random rollouts with null
moments and kinds, ties, moments on the window's bounds and a half-year of history, split by
service as dora.reads.dashboards splits them, and also shuffled (the re-sorting path); windows
are whole local days in zones with daylight saving (one whose clocks fall back across midnight)
and with a half-hour offset, or start mid-day. The reference below is the pandas code as it was
(before the overview's ~600 scopes were measured at pandas' fixed cost per call), kept verbatim
but for its names."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from dora.metrics.frames import DAY_SECONDS, WEEK_SECONDS, check_window
from dora.metrics.frequency import (
    MONTH_DAYS,
    Frequency,
    _day_range,
    _monday,
    frequency_frame,
    frequency_of,
)
from dora.metrics.levels import (
    DEPLOYMENT_FREQUENCY,
    HALF_YEAR,
    LATEST_BENCHMARK,
    frequency_badge_allowed,
    frequency_category,
    level_for_category,
)
from dora.metrics.stats import poisson_ci

SEEDS = range(300)
ZONES = ("UTC", "UTC", "Europe/Berlin", "America/Asuncion", "Asia/Kolkata", "Pacific/Chatham")
SERVICES = ("shop", "cart", "search")
# Around the March and October clock changes of both hemispheres.
FIRST_DAY = date(2026, 2, 20)


def reference_frequency_of(
    frame: pd.DataFrame,
    *,
    since: datetime,
    until: datetime,
    tz: str = "UTC",
    benchmark: int = LATEST_BENCHMARK,
    first_rollout_at: datetime | None = None,
) -> Frequency:
    start, end = check_window(since, until)
    live = frame["first_live_at"]
    if not live.is_monotonic_increasing:  # rows without a moment never count
        frame = frame[live.notna()].sort_values("first_live_at", kind="stable")
        live = frame["first_live_at"]
    # In integer ns: the column's unit (seconds, say) may not hold the window's microseconds.
    nanos = live.array.as_unit("ns").asi8
    first, last = (int(i) for i in np.searchsorted(nanos, [start.value, end.value]))
    counted_flags = frame["counted"].to_numpy(dtype=bool)
    counted = counted_flags[first:last]

    n = int(counted.sum())
    window_seconds = (end - start).total_seconds()
    per_day = n / (window_seconds / DAY_SECONDS)
    weeks_in_window = window_seconds / WEEK_SECONDS
    per_week = n / weeks_in_window
    lo, hi = poisson_ci(n)

    days = reference_day_numbers(live.array[first:last][counted], tz)
    deploy_days = len(days)
    local_start = start.tz_convert(tz).tz_localize(None)
    local_end = end.tz_convert(tz).tz_localize(None)
    mondays, week_counts = reference_deploy_days_per_week(days, local_start, local_end)
    median_per_week = float(np.median(week_counts))
    median_per_month = reference_median_deploy_days_per_month(days, local_start, local_end)
    gaps = frame["gap_seconds"].to_numpy(dtype=float)[first:last][counted]
    gap = gaps[~np.isnan(gaps)]

    history = int(counted_flags[:last].sum())  # counted rollouts before the window's end
    half_year_ago = np.searchsorted(nanos, (end - pd.Timedelta(seconds=HALF_YEAR)).value)
    recent = int(counted_flags[half_year_ago:last].sum())
    category = None
    if history:
        category = frequency_category(
            median_deploy_days_per_week=median_per_week,
            rollouts_per_deploy_day=n / deploy_days if deploy_days else 0.0,
            median_deploy_days_per_month=median_per_month,
            rollouts_last_half_year=recent,
        )
    if first_rollout_at is None and len(live):
        first_rollout_at = live.iloc[0]
    sufficient = category is not None and frequency_badge_allowed(first_rollout_at, end)
    level = level_for_category(DEPLOYMENT_FREQUENCY, category, benchmark) if sufficient else None

    kinds = frame["kind"].to_numpy()[first:last]
    return Frequency(
        rollouts=n,
        per_day=per_day,
        per_week=per_week,
        deploy_days_per_week=median_per_week if n or history else None,
        median_gap_seconds=float(np.median(gap)) if len(gap) else None,
        category=category,
        level=level,
        redeploys=int((kinds == "redeploy").sum()),
        rollbacks=int((kinds == "rollback").sum()),
        deploy_days=deploy_days,
        per_week_ci95=(lo / weeks_in_window, hi / weeks_in_window),
        sufficient=sufficient,
        _frame=frame,
        _window_rows=(first, last),
        _week_counts=(mondays, week_counts),
    )


def reference_day_numbers(moments: Any, tz: str) -> np.ndarray:
    """The distinct local dates in `tz` of aware moments (an array) as days since 1970-01-01,
    sorted."""
    local = pd.DatetimeIndex(moments).tz_convert(tz).tz_localize(None)
    return np.unique(local.to_numpy().astype("datetime64[D]").astype(np.int64))


def reference_deploy_days_per_week(
    days: np.ndarray, local_start: pd.Timestamp, local_end: pd.Timestamp
) -> tuple[np.ndarray, np.ndarray]:
    """Distinct deploy days (`days`: distinct day numbers, see `_day_numbers`) per ISO week
    (Monday start) for the weeks the window covers: the weeks' Mondays (day numbers) and
    their counts.

    A week counts when at least half of it lies in the window, so a window edge a few hours
    into a week does not add a spurious zero; when no week qualifies (a window under 3.5 days)
    every week it touches counts.
    """
    first_day, last_day = _day_range(local_start, local_end)
    mondays = np.arange(_monday(first_day), int(_monday(last_day)) + 1, 7, dtype=np.int64)
    day_ns = 86_400 * 10**9
    start_ns, end_ns = local_start.value, local_end.value  # naive local wall time, in ns
    overlap = np.minimum((mondays + 7) * day_ns, end_ns) - np.maximum(mondays * day_ns, start_ns)
    kept = mondays[overlap >= day_ns * 7 // 2]
    if not kept.size:
        kept = mondays
    at = np.searchsorted(kept, _monday(days))
    inside = at < kept.size
    inside[inside] = kept[at[inside]] == _monday(days)[inside]
    return kept, np.bincount(at[inside], minlength=kept.size)


def reference_median_deploy_days_per_month(
    days: np.ndarray, local_start: pd.Timestamp, local_end: pd.Timestamp
) -> float:
    """Median deploy days (`days`: distinct day numbers) per 30-day block, counted back from
    the window's last local day."""
    first_day, last_day = _day_range(local_start, local_end)
    blocks = max(1, (last_day - first_day + 1) // MONTH_DAYS)
    back = (last_day - days) // MONTH_DAYS
    return float(np.median(np.bincount(back[(back >= 0) & (back < blocks)], minlength=blocks)))


# -- random scopes ----------------------------------------------------------------------------


def random_window(rng: random.Random) -> tuple[datetime, datetime, str]:
    """Whole local days of a zone (the pages' windows), or a window starting mid-day in UTC;
    1 to 120 days, some under 3.5 days (no week half inside)."""
    zone = rng.choice(ZONES)
    first = FIRST_DAY + timedelta(days=rng.randrange(0, 240))
    days = rng.choice((1, 2, 3, 4, 7, 10, 28, 30, 31, 61, 90, 120))
    if rng.random() < 0.2:
        since = datetime.combine(first, time(rng.randrange(24), 30), tzinfo=UTC)
        return since, since + timedelta(days=days, hours=rng.choice((0, 5))), zone
    local = ZoneInfo(zone)
    since = datetime.combine(first, time(), tzinfo=local)
    until = datetime.combine(first + timedelta(days=days), time(), tzinfo=local)
    return since, until, zone


def random_rollouts(rng: random.Random, since: datetime, until: datetime) -> pd.DataFrame:
    """Rollouts from 200 days before the window to 10 days after it; some exactly on its
    bounds, some sharing a moment, some without one."""
    n = rng.choice((0, 1, 2, 6, 25, 80, 300))
    span = (until - since).total_seconds() + 210 * DAY_SECONDS
    shared = [since - timedelta(days=rng.randrange(200)) for _ in range(3)]
    live: list[datetime | None] = []
    for _ in range(n):
        pick = rng.random()
        if pick < 0.08:
            live.append(rng.choice((since, until)))
        elif pick < 0.16:
            live.append(rng.choice(shared))
        elif pick < 0.2:
            live.append(None)
        elif pick < 0.6:  # inside the window
            live.append(since + (until - since) * rng.random())
        else:
            live.append(since - timedelta(days=200) + timedelta(seconds=rng.uniform(0, span)))
    kinds = ("change", "change", "config", "redeploy", "rollback", None)
    return pd.DataFrame(
        {
            "rollout_id": range(1, n + 1),
            "service": [rng.choice(SERVICES) for _ in range(n)],
            "environment": [rng.choice(("production", "production-eu")) for _ in range(n)],
            "kind": [rng.choice(kinds) for _ in range(n)],
            "first_live_at": pd.Series(pd.to_datetime(live, utc=True), dtype="datetime64[us, UTC]"),
        }
    )


def scopes(frame: pd.DataFrame, rng: random.Random) -> list[pd.DataFrame]:
    """The frame, its rows per service as dora.reads.dashboards._split gives them (a slice in
    the frame's order, indexed from 0), its empty slice, and a shuffled copy (not in time
    order, so `frequency_of` sorts it)."""
    parts = [frame, frame.iloc[0:0].reset_index(drop=True)]
    for service in SERVICES:
        part = frame[frame["service"] == service]
        part.index = pd.RangeIndex(len(part))
        parts.append(part)
    order = list(range(len(frame)))
    rng.shuffle(order)
    parts.append(frame.iloc[order].reset_index(drop=True))
    return parts


def assert_same(got: Frequency, want: Frequency) -> None:
    assert repr(got) == repr(want)
    assert got._window_rows == want._window_rows
    pd.testing.assert_frame_equal(got.weeks, want.weeks)
    pd.testing.assert_frame_equal(got.items, want.items)


# -- the tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_frequency_of_is_the_pandas_definition(seed: int) -> None:
    rng = random.Random(seed)
    since, until, tz = random_window(rng)
    rows = frequency_frame(random_rollouts(rng, since, until))
    benchmark = rng.choice((2021, 2022, 2023, 2024, 2025))
    first = rng.choice((None, since - timedelta(weeks=rng.choice((1, 8, 30)))))
    for scope in scopes(rows, rng):
        arguments: dict[str, Any] = {
            "since": since,
            "until": until,
            "tz": tz,
            "benchmark": benchmark,
            "first_rollout_at": first,
        }
        assert_same(frequency_of(scope, **arguments), reference_frequency_of(scope, **arguments))


def test_frequency_of_frames_without_a_moment() -> None:
    """All-null moments, and one row: nothing counted, as the pandas definition."""
    since = datetime(2026, 3, 2, tzinfo=UTC)
    until = since + timedelta(days=28)
    rollouts = pd.DataFrame(
        {
            "rollout_id": [1, 2, 3],
            "service": "shop",
            "environment": "production",
            "kind": ["change", "config", "change"],
            "first_live_at": pd.Series([pd.NaT] * 3, dtype="datetime64[us, UTC]"),
        }
    )
    for frame in (rollouts, rollouts.iloc[:1], rollouts.iloc[:0]):
        for tz in ("UTC", "Europe/Berlin"):
            rows = frequency_frame(frame)
            got = frequency_of(rows, since=since, until=until, tz=tz, benchmark=2024)
            want = reference_frequency_of(rows, since=since, until=until, tz=tz, benchmark=2024)
            assert_same(got, want)
            assert got.rollouts == 0 and got.deploy_days_per_week is None


@pytest.mark.parametrize(
    ("offset", "category"), [(timedelta(0), "F2"), (timedelta(microseconds=-1), "F1")]
)
def test_frequency_of_half_year_bound(offset: timedelta, category: str) -> None:
    """The F2 rule counts a rollout exactly 182.5 days before `until`, not one a microsecond
    earlier: the one rollout decides between F2 and F1."""
    until = datetime(2026, 9, 1, tzinfo=UTC)
    since = until - timedelta(days=28)
    at = until - timedelta(days=182.5) + offset
    rows = frequency_frame(
        pd.DataFrame(
            {
                "rollout_id": [1],
                "service": "shop",
                "environment": "production",
                "kind": ["change"],
                "first_live_at": pd.Series([at], dtype="datetime64[us, UTC]"),
            }
        )
    )
    arguments: dict[str, Any] = {"since": since, "until": until, "benchmark": 2024}
    got = frequency_of(rows, **arguments)
    assert got.category == category
    assert_same(got, reference_frequency_of(rows, **arguments))
