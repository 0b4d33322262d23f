"""dora.metrics.levels: categories, levels per report year, badges, Quick Check overall level."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from dora.metrics.levels import (
    category_score,
    duration_category,
    frequency_badge_allowed,
    frequency_category,
    graded,
    level_for_category,
    level_for_failure_rate,
    overall_level,
    percent_score,
)
from dora.metrics.stats import Duration

H = 3600.0
D = 86400.0


@pytest.mark.parametrize(
    ("seconds", "category"),
    [
        (H - 1, "D6"),
        (H, "D5"),  # 1 h is not < 1 h
        (D - 1, "D5"),
        (D, "D4"),
        (7 * D - 1, "D4"),
        (7 * D, "D3"),
        (30 * D - 1, "D3"),
        (30 * D, "D2"),
        (182.5 * D - 1, "D2"),
        (182.5 * D, "D1"),
        (None, None),
    ],
)
def test_duration_category_boundaries(seconds: float | None, category: str | None) -> None:
    assert duration_category(seconds) == category


@pytest.mark.parametrize(
    ("per_week", "per_day", "per_month", "half_year", "category"),
    [
        (3, 2.0, 12, 30, "F6"),
        (3, 1.9, 12, 30, "F5"),  # many deploy days, but fewer than 2 rollouts per deploy day
        (5, 1.0, 20, 30, "F5"),
        (2.5, 3.0, 10, 30, "F4"),  # the F6 ratio alone is not enough
        (1, 1.0, 4, 10, "F4"),
        (0.5, 1.0, 1, 3, "F3"),
        (0, 1.0, 0.5, 1, "F2"),
        (0, 0.0, 0, 0, "F1"),
    ],
)
def test_frequency_category_rule(
    per_week: float, per_day: float, per_month: float, half_year: int, category: str
) -> None:
    assert (
        frequency_category(
            median_deploy_days_per_week=per_week,
            rollouts_per_deploy_day=per_day,
            median_deploy_days_per_month=per_month,
            rollouts_last_half_year=half_year,
        )
        == category
    )


# Expected levels read off METRICS §3.6: best level whose category the value meets or beats;
# below every cluster, the lowest level.
@pytest.mark.parametrize(
    ("year", "metric", "expected"),
    [
        # 2021 DF: elite F6, high F3, medium F2, low F1.
        (2021, "deployment_frequency", {6: "elite", 5: "high", 3: "high", 2: "medium", 1: "low"}),
        # 2022 DF (no elite): high F6, medium F3, low F2; F1 meets nothing -> lowest.
        (2022, "deployment_frequency", {6: "high", 5: "medium", 3: "medium", 2: "low", 1: "low"}),
        # 2023 DF: elite F6, high F4, medium and low both F3 (medium is better), F2 -> lowest.
        (2023, "deployment_frequency", {6: "elite", 4: "high", 3: "medium", 2: "low"}),
        (2024, "deployment_frequency", {6: "elite", 5: "high", 4: "high", 3: "medium", 1: "low"}),
        (2021, "lead_time", {6: "elite", 5: "high", 4: "high", 3: "medium", 2: "medium", 1: "low"}),
        (2022, "lead_time", {6: "high", 4: "high", 3: "medium", 2: "low", 1: "low"}),
        (2023, "lead_time", {6: "elite", 5: "elite", 4: "high", 3: "medium", 2: "low"}),
        (2024, "lead_time", {5: "elite", 4: "high", 3: "medium", 2: "low", 1: "low"}),
        (2021, "recovery", {6: "elite", 5: "high", 4: "medium", 3: "low", 1: "low"}),
        (2022, "recovery", {6: "high", 5: "high", 4: "medium", 3: "low", 1: "low"}),
        (2023, "recovery", {6: "elite", 5: "high", 4: "medium", 3: "low", 2: "low", 1: "low"}),
        # 2024 recovery: high and medium both D5 -> high; D4 and D3 -> low.
        (2024, "recovery", {6: "elite", 5: "high", 4: "low", 3: "low", 1: "low"}),
    ],
)
def test_level_for_category_each_year(year: int, metric: str, expected: dict[int, str]) -> None:
    prefix = "F" if metric == "deployment_frequency" else "D"
    got = {c: level_for_category(metric, f"{prefix}{c}", year) for c in expected}
    assert got == expected


@pytest.mark.parametrize(
    ("year", "expected"),
    [
        # 2021: elite <= 15%, high/medium/low all 30% -> high wins; above 30% -> lowest.
        (2021, {0.15: "elite", 0.16: "high", 0.30: "high", 0.31: "low"}),
        (2022, {0.15: "high", 0.16: "medium", 0.30: "medium", 0.45: "low", 0.61: "low"}),
        (2023, {0.05: "elite", 0.10: "high", 0.12: "medium", 0.15: "medium", 0.16: "low"}),
        # 2024 inversion: high 20%, medium 10%. 8% meets both, high is better; medium never wins.
        (2024, {0.05: "elite", 0.08: "high", 0.10: "high", 0.20: "high", 0.21: "low", 0.9: "low"}),
    ],
)
def test_level_for_failure_rate_each_year(year: int, expected: dict[float, str]) -> None:
    assert {r: level_for_failure_rate(r, year) for r in expected} == expected


def test_no_failure_rate_no_level() -> None:
    assert level_for_failure_rate(None) is None


def test_unknown_benchmark_year_is_an_error() -> None:
    with pytest.raises(ValueError, match="2021, 2022, 2023, 2024"):
        level_for_failure_rate(0.1, 2019)


def test_graded_withholds_the_level_below_the_badge_minimum() -> None:
    nine = Duration(n=9, p50=2 * H, p75=None, p90=None, median_ci95=None)
    ten = Duration(n=10, p50=2 * H, p75=None, p90=None, median_ci95=None)
    # 2 h -> D5 -> 2024 lead time elite; shown only from n = 10.
    assert (
        graded(nine, "lead_time", year=2024, min_n=10).category,
        graded(nine, "lead_time", year=2024, min_n=10).level,
    ) == (
        "D5",
        None,
    )
    assert graded(ten, "lead_time", year=2024, min_n=10).level == "elite"


def test_frequency_badge_needs_eight_weeks_of_history() -> None:
    until = datetime(2026, 6, 1, tzinfo=UTC)
    assert frequency_badge_allowed(until - timedelta(weeks=8), until)
    assert not frequency_badge_allowed(until - timedelta(weeks=8) + timedelta(seconds=1), until)
    assert not frequency_badge_allowed(None, until)


def test_quick_check_scores() -> None:
    # c -> (c - 1) * 2; p -> 10 - p / 10.
    assert (category_score("F1"), category_score("D4"), category_score("D6")) == (0, 6, 10)
    assert percent_score(19) == pytest.approx(8.1)


def test_overall_level_nearest_cluster() -> None:
    # Team: DF F4 -> 6, LT D4 -> 6, recovery D5 -> 8, CFR 10% -> 9.
    # 2024 clusters (DF, LT, FDRT, CFR scores): elite (10, 8, 10, 9.5), high (6, 6, 8, 8),
    # medium (4, 4, 8, 9), low (2, 2, 4, 6). Squared distances: elite 16+4+4+0.25 = 24.25,
    # high 0+0+0+1 = 1, medium 4+4+0+0 = 8, low 16+16+16+9 = 57 -> high.
    assert (
        overall_level(
            2024,
            deployment_frequency="F4",
            lead_time="D4",
            recovery="D5",
            change_failure_rate=0.10,
        )
        == "high"
    )


def test_overall_level_tie_goes_to_the_lower_level() -> None:
    # DF F5 alone -> 8: 2024 elite F6 -> 10 (distance 2), high F4 -> 6 (distance 2): tie -> high.
    assert overall_level(2024, deployment_frequency="F5") == "high"
    # 2023 lead time D3 -> 4: medium and low both publish D3 (distance 0) -> low.
    assert overall_level(2023, lead_time="D3") == "low"


def test_overall_level_2022_has_no_elite() -> None:
    assert overall_level(2022, deployment_frequency="F6", lead_time="D6") == "high"


def test_overall_level_without_metrics_is_null() -> None:
    assert overall_level(2024) is None
