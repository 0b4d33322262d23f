"""METRICS §3.6, 2025: each figure's Quick Check score placed in the 2025 industry distribution.

Against a SYNTHETIC file of the published file's shape (made-up round numbers:
tests/fixtures/quick_check_2025_synthetic.json and .md), read with the pure loader;
every test works the arithmetic out from the numbers below. DORA's published file is not needed.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from dora.metrics import levels
from dora.metrics.levels import (
    CHANGE_FAILURE_RATE,
    DEPLOYMENT_FREQUENCY,
    LEAD_TIME,
    RECOVERY,
    REWORK_RATE,
    load_quick_check,
    metric_score,
    overall_level,
    overall_placement,
    placement,
)

SYNTHETIC = Path(__file__).resolve().parents[2] / "fixtures" / "quick_check_2025_synthetic.json"
# The synthetic "all" (mean, std) per key; changefailure and rework are on the file's instability
# scale (p/10: higher is worse).
ALL = {
    "leadtime": (5.0, 2.0),
    "deployfreq": (4.0, 2.0),
    "failurerecovery": (7.0, 2.0),
    "changefailure": (2.0, 2.0),
    "rework": (2.0, 4.0),
    "performance_average": (4.0, 1.0),
    "software_delivery_throughput": (7.0, 4.0),
    "software_delivery_instability": (3.0, 4.0),
}
TECHNOLOGY_LEADTIME = (6.0, 2.0)


def phi(z: float) -> float:
    """Φ(z) written out: ½(1 + erf(z/√2))."""
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def industry(key: str = "all") -> levels.Industry:
    return load_quick_check(SYNTHETIC)[key]


def test_the_loader_reads_the_file_in_order() -> None:
    loaded = load_quick_check(SYNTHETIC)
    assert tuple(loaded) == ("all", "technology", "financial_services", "energy")
    assert loaded["all"].name == "All industries (synthetic)"
    assert loaded["all"].metrics[LEAD_TIME] == levels.Reference(5.0, 2.0)
    assert load_quick_check(SYNTHETIC) is loaded  # read once per path
    with pytest.raises(FileNotFoundError):
        load_quick_check(SYNTHETIC.with_name("absent.json"))


def test_scores_follow_the_quick_check_rule() -> None:
    # category c -> (c - 1)·2; proportion r (percentage p = 100r) -> 10 - p/10.
    assert metric_score(LEAD_TIME, "D5") == 8.0
    assert metric_score(DEPLOYMENT_FREQUENCY, "F1") == 0.0
    assert metric_score(RECOVERY, "D6") == 10.0
    assert metric_score(CHANGE_FAILURE_RATE, 0.10) == pytest.approx(9.0)
    assert metric_score(REWORK_RATE, 0.22) == pytest.approx(7.8)
    assert metric_score(LEAD_TIME, None) is None


def test_lead_time_d5_against_all_industries() -> None:
    # score 8; z = (8 - 5.0) / 2.0 = 1.5; Φ(1.5) = 0.9332 -> better than about 93%.
    mean, std = ALL["leadtime"]
    z = (8 - mean) / std
    assert z == 1.5
    result = placement(LEAD_TIME, 8.0, industry())
    assert result.z == pytest.approx(z)
    assert result.percentile == pytest.approx(100 * phi(z))
    assert round(result.percentile) == 93
    assert levels.percentile_text(result.percentile) == "better than about 93% of 2025 respondents"


def test_deployment_frequency_f3_is_below_the_mean() -> None:
    # F3 -> score 4; z = (4 - 4.0) / 2.0 = 0; Φ(0) = 0.5 exactly.
    mean, std = ALL["deployfreq"]
    result = placement(DEPLOYMENT_FREQUENCY, metric_score(DEPLOYMENT_FREQUENCY, "F3"), industry())
    assert result.percentile == pytest.approx(100 * phi((4 - mean) / std))
    assert result.percentile == pytest.approx(50.0)


def test_change_failure_uses_the_mean_turned_to_higher_is_better() -> None:
    # CFR 10% -> score 9. The file's mean 2.0 is on the instability scale (20%): as Quick Check
    # does, the reference is 10 - 2.0 = 8.0 with std 2.0. z = (9 - 8) / 2 = 0.5; Φ = 0.6915.
    # (Against the raw 2.0 it would read z = 3.5, 99.98%: the bug this guards against.)
    mean, std = ALL["changefailure"]
    z = (9 - (10 - mean)) / std
    assert z == 0.5
    result = placement(CHANGE_FAILURE_RATE, metric_score(CHANGE_FAILURE_RATE, 0.10), industry())
    assert (result.mean, result.std) == (pytest.approx(8.0), 2.0)
    assert result.percentile == pytest.approx(100 * phi(z))
    assert round(result.percentile) == 69


def test_rework_is_placed_too() -> None:
    # Rework 5% -> score 9.5; reference 10 - 2.0 = 8.0, std 4.0; z = 1.5 / 4 = 0.375;
    # Φ = 0.6462.
    mean, std = ALL["rework"]
    result = placement(REWORK_RATE, metric_score(REWORK_RATE, 0.05), industry())
    assert result.percentile == pytest.approx(100 * phi((9.5 - (10 - mean)) / std))
    assert round(result.percentile) == 65


def test_overall_is_the_mean_of_the_available_scores() -> None:
    # Lead time D5 (8), CFR 10% (9), rework 5% (9.5): frequency and recovery withheld.
    # Overall score (8 + 9 + 9.5) / 3 = 8.8333. Reference: Quick Check's recomputed mean of the
    # five turned means, (5 + 4 + 7 + (10 - 2) + (10 - 2)) / 5 = 32 / 5 = 6.4, with the file's
    # performance_average std 1.0 (the file's own mean, 4.0, is not used).
    # z = (8.8333 - 6.4) / 1.0 = 2.4333; Φ = 0.9925.
    scores = {LEAD_TIME: 8.0, CHANGE_FAILURE_RATE: 9.0, REWORK_RATE: 9.5, RECOVERY: None}
    result = overall_placement(scores, industry())
    reference = (5 + 4 + 7 + (10 - 2) + (10 - 2)) / 5
    assert reference == pytest.approx(6.4)
    score = (8 + 9 + 9.5) / 3
    z = (score - reference) / ALL["performance_average"][1]
    assert result.overall is not None
    assert result.overall.score == pytest.approx(score)
    assert result.overall.percentile == pytest.approx(100 * phi(z))
    assert round(result.overall.percentile) == 99
    assert set(result.metrics) == {LEAD_TIME, CHANGE_FAILURE_RATE, REWORK_RATE}


def test_groups_are_throughput_and_instability() -> None:
    # Throughput: lead time alone (8) against 7.0 ± 4.0: z = 1 / 4 = 0.25; Φ = 0.5987.
    # Instability, as stability (higher is better): (9 + 9.5) / 2 = 9.25 against 10 - 3.0 = 7.0
    # ± 4.0: z = 2.25 / 4 = 0.5625; Φ = 0.7131.
    result = overall_placement(
        {LEAD_TIME: 8.0, CHANGE_FAILURE_RATE: 9.0, REWORK_RATE: 9.5}, industry()
    )
    throughput, instability = result.groups["throughput"], result.groups["instability"]
    assert throughput is not None and instability is not None
    assert throughput.percentile == pytest.approx(100 * phi((8 - 7.0) / 4.0))
    assert instability.percentile == pytest.approx(100 * phi((9.25 - (10 - 3.0)) / 4.0))
    assert round(throughput.percentile) == 60 and round(instability.percentile) == 71
    assert levels.GROUPS == {
        "throughput": (LEAD_TIME, DEPLOYMENT_FREQUENCY, RECOVERY),
        "instability": (CHANGE_FAILURE_RATE, REWORK_RATE),
    }
    data = result.as_dict()
    assert data["groups"]["throughput"]["metrics"] == ["lead_time"]
    assert data["groups"]["instability"]["metrics"] == ["change_failure_rate", "rework_rate"]


def test_no_score_gives_no_overall_placement() -> None:
    result = overall_placement({LEAD_TIME: None}, industry())
    assert result.overall is None and result.metrics == {}
    assert result.groups == {"throughput": None, "instability": None}


def test_industry_changes_the_reference() -> None:
    # Technology lead time 6.0 ± 2.0: z = (8 - 6) / 2 = 1.0; Φ = 0.8413.
    mean, std = TECHNOLOGY_LEADTIME
    result = placement(LEAD_TIME, 8.0, industry("technology"))
    assert result.percentile == pytest.approx(100 * phi((8 - mean) / std))
    assert round(result.percentile) == 84
    assert industry("technology").name == "Technology (synthetic)"


def test_2025_is_the_latest_and_has_no_tiers() -> None:
    assert levels.LATEST_BENCHMARK == 2025
    assert levels.BENCHMARK_YEARS == (2021, 2022, 2023, 2024, 2025)
    assert not levels.has_tiers(2025) and levels.has_tiers(2024)
    assert levels.level_for_category(LEAD_TIME, "D6", 2025) is None
    assert levels.level_for_failure_rate(0.01, 2025) is None
    assert overall_level(2025, lead_time="D6") is None
    # The tier years keep their tables: D6 lead time is elite in 2024.
    assert levels.level_for_category(LEAD_TIME, "D6", 2024) == "elite"
    assert overall_level(2024, lead_time="D6") == "elite"
    with pytest.raises(ValueError, match="must be one of 2021, 2022, 2023, 2024, 2025"):
        levels.benchmark(2026)
