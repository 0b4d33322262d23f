"""METRICS §3.6, 2025: each figure's Quick Check score placed in the 2025 industry distribution.

The means and standard deviations below were read by hand from DORA's published file
(dora-team/dora.dev, svelte/quick-check/src/lib/data/editions/2025/industry_metrics.json, shipped as
dora/metrics/data/quick_check_2025.json); `test_the_hand_read_values_are_the_published_ones`
checks them against the file, and every other test works the arithmetic out from them.
"""

from __future__ import annotations

import json
import math

import pytest

from dora.metrics import levels
from dora.metrics.levels import (
    CHANGE_FAILURE_RATE,
    DEPLOYMENT_FREQUENCY,
    LEAD_TIME,
    RECOVERY,
    REWORK_RATE,
    industry,
    metric_score,
    overall_level,
    overall_placement,
    placement,
)

# Read by hand from the file ("all" and "technology"): (mean, std) per key. changefailure and
# rework are on the file's instability scale (p/10: higher is worse).
ALL = {
    "leadtime": (5.5, 2.4),
    "deployfreq": (4.8, 2.8),
    "failurerecovery": (7.4, 2.1),
    "changefailure": (1.9, 2.1),
    "rework": (2.2, 2.2),
    "performance_average": (4.3, 1.2),
    "software_delivery_throughput": (6.0, 2.1),
    "software_delivery_instability": (2.1, 2.0),
}
TECHNOLOGY_LEADTIME = (5.7, 2.4)


def phi(z: float) -> float:
    """Φ(z) written out: ½(1 + erf(z/√2))."""
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def test_the_hand_read_values_are_the_published_ones() -> None:
    published = json.loads(levels.QUICK_CHECK_2025.read_text())
    for key, (mean, std) in ALL.items():
        assert (published["all"][key]["mean"], published["all"][key]["std"]) == (mean, std), key
    tech = published["technology"]["leadtime"]
    assert (tech["mean"], tech["std"]) == TECHNOLOGY_LEADTIME
    assert published["all"]["name"] == "All industries"
    assert levels.industry_keys()[0] == "all" and "technology" in levels.industry_keys()


def test_scores_follow_the_quick_check_rule() -> None:
    # category c -> (c - 1)·2; proportion r (percentage p = 100r) -> 10 - p/10.
    assert metric_score(LEAD_TIME, "D5") == 8.0
    assert metric_score(DEPLOYMENT_FREQUENCY, "F1") == 0.0
    assert metric_score(RECOVERY, "D6") == 10.0
    assert metric_score(CHANGE_FAILURE_RATE, 0.10) == pytest.approx(9.0)
    assert metric_score(REWORK_RATE, 0.22) == pytest.approx(7.8)
    assert metric_score(LEAD_TIME, None) is None


def test_lead_time_d5_against_all_industries() -> None:
    # score 8; z = (8 - 5.5) / 2.4 = 1.041666...; Φ(1.0417) = 0.8512 -> better than about 85%.
    mean, std = ALL["leadtime"]
    z = (8 - mean) / std
    result = placement(LEAD_TIME, 8.0)
    assert result.z == pytest.approx(z)
    assert result.percentile == pytest.approx(100 * phi(z))
    assert round(result.percentile) == 85
    assert levels.percentile_text(result.percentile) == "better than about 85% of 2025 respondents"


def test_deployment_frequency_f3_is_below_the_mean() -> None:
    # F3 -> score 4; z = (4 - 4.8) / 2.8 = -0.285714...; Φ = 0.3875.
    mean, std = ALL["deployfreq"]
    result = placement(DEPLOYMENT_FREQUENCY, metric_score(DEPLOYMENT_FREQUENCY, "F3"))
    assert result.percentile == pytest.approx(100 * phi((4 - mean) / std))
    assert round(result.percentile) == 39


def test_change_failure_uses_the_mean_turned_to_higher_is_better() -> None:
    # CFR 10% -> score 9. The file's mean 1.9 is on the instability scale (19%): as Quick Check
    # does, the reference is 10 - 1.9 = 8.1 with std 2.1. z = (9 - 8.1) / 2.1 = 0.428571...;
    # Φ = 0.6659. (Against the raw 1.9 it would read 99.96%: the bug this guards against.)
    mean, std = ALL["changefailure"]
    z = (9 - (10 - mean)) / std
    result = placement(CHANGE_FAILURE_RATE, metric_score(CHANGE_FAILURE_RATE, 0.10))
    assert (result.mean, result.std) == (pytest.approx(8.1), 2.1)
    assert result.percentile == pytest.approx(100 * phi(z))
    assert round(result.percentile) == 67


def test_rework_is_placed_too() -> None:
    # Rework 5% -> score 9.5; reference 10 - 2.2 = 7.8, std 2.2; z = 1.7 / 2.2 = 0.772727...;
    # Φ = 0.7801.
    mean, std = ALL["rework"]
    result = placement(REWORK_RATE, metric_score(REWORK_RATE, 0.05))
    assert result.percentile == pytest.approx(100 * phi((9.5 - (10 - mean)) / std))
    assert round(result.percentile) == 78


def test_overall_is_the_mean_of_the_available_scores() -> None:
    # Lead time D5 (8), CFR 10% (9), rework 5% (9.5): frequency and recovery withheld.
    # Overall score (8 + 9 + 9.5) / 3 = 8.8333. Reference: Quick Check's recomputed mean of the
    # five turned means, (5.5 + 4.8 + 7.4 + (10 - 1.9) + (10 - 2.2)) / 5 = 33.6 / 5 = 6.72, with
    # the file's performance_average std 1.2 (its published mean, 4.3, averages the unturned
    # instability means). z = (8.8333 - 6.72) / 1.2 = 1.7611; Φ = 0.9609.
    scores = {LEAD_TIME: 8.0, CHANGE_FAILURE_RATE: 9.0, REWORK_RATE: 9.5, RECOVERY: None}
    result = overall_placement(scores)
    reference = (5.5 + 4.8 + 7.4 + (10 - 1.9) + (10 - 2.2)) / 5
    assert reference == pytest.approx(6.72)
    score = (8 + 9 + 9.5) / 3
    z = (score - reference) / ALL["performance_average"][1]
    assert result.overall is not None
    assert result.overall.score == pytest.approx(score)
    assert result.overall.percentile == pytest.approx(100 * phi(z))
    assert round(result.overall.percentile) == 96
    assert set(result.metrics) == {LEAD_TIME, CHANGE_FAILURE_RATE, REWORK_RATE}


def test_groups_are_throughput_and_instability() -> None:
    # Throughput: lead time alone (8) against 6.0 ± 2.1: z = 2 / 2.1 = 0.952381; Φ = 0.8295.
    # Instability, as stability (higher is better): (9 + 9.5) / 2 = 9.25 against 10 - 2.1 = 7.9
    # ± 2.0: z = 1.35 / 2.0 = 0.675; Φ = 0.7502.
    result = overall_placement({LEAD_TIME: 8.0, CHANGE_FAILURE_RATE: 9.0, REWORK_RATE: 9.5})
    throughput, instability = result.groups["throughput"], result.groups["instability"]
    assert throughput is not None and instability is not None
    assert throughput.percentile == pytest.approx(100 * phi((8 - 6.0) / 2.1))
    assert instability.percentile == pytest.approx(100 * phi((9.25 - (10 - 2.1)) / 2.0))
    assert levels.GROUPS == {
        "throughput": (LEAD_TIME, DEPLOYMENT_FREQUENCY, RECOVERY),
        "instability": (CHANGE_FAILURE_RATE, REWORK_RATE),
    }
    data = result.as_dict()
    assert data["groups"]["throughput"]["metrics"] == ["lead_time"]
    assert data["groups"]["instability"]["metrics"] == ["change_failure_rate", "rework_rate"]


def test_no_score_gives_no_overall_placement() -> None:
    result = overall_placement({LEAD_TIME: None})
    assert result.overall is None and result.metrics == {}
    assert result.groups == {"throughput": None, "instability": None}


def test_industry_changes_the_reference() -> None:
    # Technology lead time 5.7 ± 2.4: z = (8 - 5.7) / 2.4 = 0.958333; Φ = 0.8311.
    mean, std = TECHNOLOGY_LEADTIME
    result = placement(LEAD_TIME, 8.0, "technology")
    assert result.percentile == pytest.approx(100 * phi((8 - mean) / std))
    assert round(result.percentile) == 83
    assert industry("technology").name == "Technology"
    with pytest.raises(ValueError, match="industry 'retail' must be one of all, "):
        industry("retail")


def test_2025_is_the_default_and_has_no_tiers() -> None:
    assert levels.DEFAULT_BENCHMARK == 2025
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
