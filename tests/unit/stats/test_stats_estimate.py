"""Intervals over repeats and over requests: exact values, methods by n, and coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.stats.compare import paired_difference
from harness.stats.estimate import (Estimate, log_t_interval, median_ci, order_statistic_coverage, order_statistic_rank,
                                    request_bootstrap_ci)
from harness.stats.simulate import trials

T_TABLE = {(1, 0.975): 12.7062, (2, 0.975): 4.3027, (4, 0.975): 2.7764, (9, 0.975): 2.2622,
           (30, 0.975): 2.0423, (5, 0.9): 1.4759, (3, 0.995): 5.8409}


@pytest.mark.parametrize("df_q", sorted(T_TABLE))
def test_t_intervals_and_p_values_use_the_tabled_quantile(df_q):
    """n = df + 1 values: the half-width is t_{df, q} standard errors, and a mean that many away has p = 2 (1 - q)."""
    df, q = df_q
    logs = np.linspace(-0.2, 0.3, df + 1) ** 2
    se = float(np.std(logs, ddof=1)) / math.sqrt(df + 1)
    low, high = log_t_interval(np.exp(logs), 2 * q - 1)
    assert math.log(high) - logs.mean() == pytest.approx(T_TABLE[df_q] * se, rel=1e-4)
    assert logs.mean() - math.log(low) == pytest.approx(T_TABLE[df_q] * se, rel=1e-4)
    shifted = logs - logs.mean() + T_TABLE[df_q] * se  # per-block log-ratios whose t statistic is the tabled value
    d = paired_difference("m", np.ones(df + 1), np.exp(shifted), higher_is_better=True, level=2 * q - 1)
    assert d.p_value == pytest.approx(2 * (1 - q), rel=1e-3) and d.low == pytest.approx(1.0, abs=1e-4 * se)


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
