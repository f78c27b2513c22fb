"""Intervals over repeats and over requests: exact values, methods by n, and coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.stats.dist import betainc, binom_cdf, norm_ppf, t_cdf, t_ppf
from harness.stats.estimate import (Estimate, median_ci, order_statistic_coverage, order_statistic_rank,
                                    request_bootstrap_ci)
from harness.stats.simulate import trials

T_TABLE = {(1, 0.975): 12.7062, (2, 0.975): 4.3027, (4, 0.975): 2.7764, (9, 0.975): 2.2622,
           (30, 0.975): 2.0423, (5, 0.9): 1.4759, (3, 0.995): 5.8409}


@pytest.mark.parametrize("df_q", sorted(T_TABLE))
def test_t_quantiles_match_the_table(df_q):
    df, q = df_q
    assert t_ppf(q, df) == pytest.approx(T_TABLE[df_q], abs=1e-4)
    assert t_cdf(T_TABLE[df_q], df) == pytest.approx(q, abs=1e-5)
    assert t_ppf(1 - q, df) == pytest.approx(-T_TABLE[df_q], abs=1e-4)


def test_other_distributions():
    assert norm_ppf(0.975) == pytest.approx(1.959964, abs=1e-6)
    assert binom_cdf(1, 9) == pytest.approx(10 / 512) and binom_cdf(-1, 5) == 0 and binom_cdf(5, 5) == 1
    assert betainc(2, 3, 0.4) == pytest.approx(0.5248, abs=1e-4)  # 1 - sum_{k<2} C(4,k) .4^k .6^(4-k)
    assert t_cdf(0.0, 3) == pytest.approx(0.5)


def test_order_statistic_ranks():
    # coverage of [x_(k), x_(n+1-k)] = 1 - 2 P(Bin(n, 1/2) <= k - 1)
    assert [order_statistic_rank(n, 0.95) for n in range(2, 13)] == [None] * 4 + [1, 1, 1, 2, 2, 2, 3]
    assert order_statistic_coverage(5, 1) == pytest.approx(1 - 2 / 32)
    assert order_statistic_coverage(6, 1) == pytest.approx(1 - 2 / 64)
    assert order_statistic_coverage(9, 2) == pytest.approx(1 - 2 * 10 / 512)


def test_median_ci_method_by_n():
    one = median_ci([5.0])
    assert one.value == 5.0 and not one.has_interval and one.method == "single"
    small = median_ci([10.0, 11.0, 12.0])
    logs = np.log([10.0, 11.0, 12.0])
    half = 4.302653 * logs.std(ddof=1) / math.sqrt(3)
    assert small.method == "t on logs" and small.value == 11.0
    assert small.low == pytest.approx(math.exp(logs.mean() - half), rel=1e-6)
    assert small.high == pytest.approx(math.exp(logs.mean() + half), rel=1e-6)
    nine = median_ci([9, 1, 8, 2, 7, 3, 6, 4, 5])
    assert (nine.value, nine.low, nine.high, nine.n) == (5.0, 2.0, 8.0, 9) and nine.method == "order-statistic k=2"
    assert median_ci([3.0, 1.0, float("nan"), 2.0]).n == 3
    zero = median_ci([0.0, 1.0, 2.0])
    assert (zero.low, zero.high) == (0.0, 2.0) and zero.method.startswith("range")
    with pytest.raises(ValueError):
        median_ci([])
    with pytest.raises(ValueError):
        median_ci([1.0, 2.0], level=1.0)
    assert "[" in str(nine) and "no interval" in str(one)


def test_median_ci_covers_at_small_n():
    """Independent log-normal repeats (sd 0.1) with 3% outlier runs: coverage >= ~95% at n = 2..10."""
    for n in range(2, 11):
        hits = 0
        for rng in trials(100 + n, 1500):
            x = np.exp(rng.normal(0.0, 0.1, n)) * np.where(rng.random(n) < 0.03, 1.45, 1.0)
            e = median_ci(x)
            hits += e.low <= 1.0 <= e.high
        assert hits / 1500 >= 0.93, (n, hits / 1500)


def test_request_bootstrap_known_values_and_seed():
    x = np.arange(1.0, 1001.0)
    e = request_bootstrap_ci(x, "p50", seed=1, resamples=1000)
    assert isinstance(e, Estimate) and e.value == pytest.approx(500.5) and e.n == 1000
    # sd of a sample median ~ 1.2533 * sd / sqrt(n) for a near-normal; uniform: 1/(2 f sqrt(n)) = 15.8
    assert e.low < 500.5 < e.high and 40 < e.high - e.low < 85
    assert e == request_bootstrap_ci(x, "p50", seed=1, resamples=1000)
    assert e != request_bootstrap_ci(x, "p50", seed=2, resamples=1000)
    assert "within-run" in e.method
    m = request_bootstrap_ci(x, "mean", seed=1, resamples=2000)
    se = x.std(ddof=0) / math.sqrt(1000)
    assert m.value == pytest.approx(500.5) and (m.high - m.low) == pytest.approx(2 * 1.96 * se, rel=0.12)
    p99 = request_bootstrap_ci(x, "p99", seed=1, resamples=500)
    assert p99.value == pytest.approx(np.percentile(x, 99)) and p99.low <= p99.value <= p99.high
    custom = request_bootstrap_ci(x, np.max, seed=1, resamples=200)
    assert custom.value == 1000.0 and custom.high == 1000.0
    assert not request_bootstrap_ci([3.0], "p50").has_interval
    with pytest.raises(ValueError):
        request_bootstrap_ci(x, "p101")
    with pytest.raises(ValueError):
        request_bootstrap_ci(x, "pXX")
