"""dora.metrics.stats: percentiles, the order-statistic median CI, Wilson and Poisson intervals."""

from __future__ import annotations

import math
import random

import pandas as pd
import pytest

from dora.metrics.stats import (
    duration_summary,
    median_ci,
    median_ci_rank,
    percentiles,
    poisson_cdf,
    poisson_ci,
    rate,
    wilson,
)

Z = 1.959963984540054


def test_percentiles_interpolate_linearly() -> None:
    # [1, 2, 3, 4]: position q * (n - 1). p50 at 1.5 -> 2.5; p75 at 2.25 -> 3 + 0.25 * 1 = 3.25;
    # p90 at 2.7 -> 3 + 0.7 * 1 = 3.7.
    assert percentiles(pd.Series([4.0, 1.0, 3.0, 2.0])) == pytest.approx([2.5, 3.25, 3.7])


def test_percentiles_of_nothing_are_none() -> None:
    assert percentiles(pd.Series([], dtype=float)) == [None, None, None]


@pytest.mark.parametrize(
    ("n", "k"),
    [
        # n = 5: P(B <= 0) = 1/32 = 0.03125 > 0.025: no k, no interval.
        (5, None),
        # n = 6: P(B <= 0) = 1/64 = 0.0156 <= 0.025; P(B <= 1) = 7/64 = 0.109 > 0.025 -> k = 1.
        (6, 1),
        # n = 10: P(B <= 1) = 11/1024 = 0.0107; P(B <= 2) = 56/1024 = 0.0547 -> k = 2.
        (10, 2),
        # n = 17: P(B <= 4) = (1 + 17 + 136 + 680 + 2380) / 2^17 = 3214/131072 = 0.02452 <= 0.025;
        # P(B <= 5) adds C(17,5) = 6188: 9402/131072 = 0.0717 -> k = 5 (just under the bound).
        (17, 5),
    ],
)
def test_median_ci_rank_by_binomial_tail(n: int, k: int | None) -> None:
    assert median_ci_rank(n) == k


def test_median_ci_rank_large_n_matches_the_exact_integer_tail() -> None:
    # Beyond n = 1000 the function sums in log space; the exact tail here is integer arithmetic.
    n = 1001
    total, k = 0, 0
    while 40 * (total + math.comb(n, k)) <= 2**n:
        total += math.comb(n, k)
        k += 1
    assert median_ci_rank(n) == k
    # Normal approximation as a sanity bound: n/2 - 1.96 * sqrt(n)/2 = 500.5 - 31.0 = 469.5.
    assert abs(k - 469.5) <= 2


def test_median_ci_is_x2_to_x9_for_ten_values() -> None:
    values = list(range(1, 11))
    random.Random(3).shuffle(values)
    # k = 2 (above): [x_2, x_(10-2+1)] = [x_2, x_9] = [2, 9]; coverage 1 - 2 * 11/1024 = 97.9%.
    assert median_ci(pd.Series(values, dtype=float)) == (2.0, 9.0)


def test_median_ci_is_null_below_six() -> None:
    assert median_ci(pd.Series([1.0, 2.0, 3.0, 4.0, 5.0])) is None


def test_duration_summary_drops_missing_values() -> None:
    summary = duration_summary(pd.Series([10.0, None, 20.0]))
    assert (summary.n, summary.p50, summary.median_ci95) == (2, 15.0, None)
    assert summary.as_dict()["median_ci95_seconds"] is None


def test_wilson_two_of_twenty() -> None:
    # p = 0.1, z^2/n = 3.8415/20 = 0.19207. centre = (0.1 + 0.096037)/1.19207 = 0.164454.
    # half = z/1.19207 * sqrt(0.1*0.9/20 + 3.8415/1600) = 1.644172 * sqrt(0.0069009) = 0.136584.
    lo, hi = wilson(2, 20)
    z2 = Z * Z
    centre = (0.1 + z2 / 40) / (1 + z2 / 20)
    half = Z / (1 + z2 / 20) * math.sqrt(0.1 * 0.9 / 20 + z2 / 1600)
    assert (lo, hi) == pytest.approx((centre - half, centre + half))
    # The published example (metrics-background §9): 2.8% to 30.1%.
    assert (round(lo, 3), round(hi, 3)) == (0.028, 0.301)


def test_wilson_zero_successes_starts_at_zero() -> None:
    # p = 0: centre = half = (z^2/2n)/(1 + z^2/n); upper = (z^2/n)/(1 + z^2/n) = 0.38415/1.38415.
    lo, hi = wilson(0, 10)
    assert lo == pytest.approx(0.0, abs=1e-12)
    assert hi == pytest.approx((Z * Z / 10) / (1 + Z * Z / 10))


def test_rate_without_denominator_is_null() -> None:
    empty = rate(0, 0)
    assert (empty.rate, empty.ci95) == (None, None)
    assert rate(1, 4).as_dict() == {
        "numerator": 1,
        "denominator": 4,
        "rate": 0.25,
        "ci95": list(wilson(1, 4)),
    }


def test_poisson_ci_zero_events() -> None:
    # Upper U: P(X <= 0; U) = e^-U = 0.025 -> U = -ln(0.025) = 3.68888.
    assert poisson_ci(0) == pytest.approx((0.0, -math.log(0.025)))


def test_poisson_ci_one_event() -> None:
    lo, hi = poisson_ci(1)
    # Lower L: P(X >= 1; L) = 1 - e^-L = 0.025 -> L = -ln(0.975) = 0.025318.
    assert lo == pytest.approx(-math.log(0.975))
    # Upper U: P(X <= 1; U) = e^-U (1 + U) = 0.025 (U ~ 5.5716).
    assert math.exp(-hi) * (1 + hi) == pytest.approx(0.025)
    assert hi == pytest.approx(5.5716, abs=1e-4)


def test_poisson_ci_three_events_solves_the_tail_equations() -> None:
    lo, hi = poisson_ci(3)

    def cdf(k: int, m: float) -> float:
        return math.exp(-m) * sum(m**j / math.factorial(j) for j in range(k + 1))

    assert 1 - cdf(2, lo) == pytest.approx(0.025)
    assert cdf(3, hi) == pytest.approx(0.025)
    assert poisson_cdf(3, hi) == pytest.approx(cdf(3, hi))
