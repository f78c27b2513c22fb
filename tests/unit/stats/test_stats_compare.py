"""Differences against the baseline: hand-computed intervals, direction, margin, the block schedule."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.stats.compare import Difference, paired_difference, request_difference, unpaired_difference, verdict
from harness.stats.design import DEFAULT_REPEATS, block_schedule


def test_verdict_direction_and_margin():
    assert verdict(1.2, 1.1, 1.3, higher_is_better=False) == "worse"  # latency up
    assert verdict(1.2, 1.1, 1.3, higher_is_better=True) == "better"  # throughput up
    assert verdict(0.8, 0.7, 0.9, higher_is_better=False) == "better"
    assert verdict(0.8, 0.7, 0.9, higher_is_better=True) == "worse"
    assert verdict(1.2, 0.9, 1.5, higher_is_better=False) == "inconclusive"  # interval holds 1
    assert verdict(1.01, 1.005, 1.015, higher_is_better=False) == "worse"
    assert verdict(1.01, 1.005, 1.015, higher_is_better=False, margin=0.02) == "inconclusive"  # too small
    assert verdict(0.985, 0.98, 0.99, higher_is_better=True, margin=0.02) == "inconclusive"
    assert verdict(1.03, 1.01, 1.05, higher_is_better=False, margin=0.02) == "worse"
    assert verdict(math.nan, math.nan, math.nan, higher_is_better=False) == "inconclusive"


def test_paired_difference_by_hand():
    base = [100.0, 80.0, 120.0]
    var = [b * math.exp(d) for b, d in zip(base, [0.1, 0.2, 0.3])]  # per-block log-ratios 0.1, 0.2, 0.3
    d = paired_difference("ttft_p50_ms", base, var, higher_is_better=False)
    # mean 0.2, sd 0.1, se 0.1/sqrt(3), t_{2, 0.975} = 4.302653
    half = 4.302653 * 0.1 / math.sqrt(3)
    assert d.ratio == pytest.approx(math.exp(0.2))
    assert d.low == pytest.approx(math.exp(0.2 - half), rel=1e-6) and d.high == pytest.approx(math.exp(0.2 + half), rel=1e-6)
    # df = 2: P(T <= t) = 1/2 + t / (2 sqrt(2 + t^2)) at t = 0.2 / (0.1 / sqrt 3)
    t = 0.2 / (0.1 / math.sqrt(3))
    assert d.p_value == pytest.approx(2 * (0.5 - t / (2 * math.sqrt(2 + t * t))), rel=1e-6)
    assert d.verdict == "inconclusive" and d.n == 3 and d.level == 0.95 and not d.significant
    assert d.method == "paired t on log-ratios" and d.change == pytest.approx(math.exp(0.2) - 1)
    five = paired_difference("ttft_p50_ms", base + [90.0, 95.0],
                             var + [90.0 * math.exp(0.2), 95.0 * math.exp(0.2)], higher_is_better=False)
    assert five.verdict == "worse" and five.significant and isinstance(five, Difference) and "worse" in str(five)


def test_paired_drift_cancels_where_unpaired_cannot_see_it():
    """Each block shares the machine's state: a steady 10% gap under 40% drift is clear when paired."""
    drift = np.array([1.0, 1.4, 0.8, 1.2, 0.9, 1.3])
    base, var = 50 * drift, 50 * drift * 1.1 * np.array([1.01, 0.99, 1.0, 1.02, 0.98, 1.0])
    paired = paired_difference("tok_s", base, var, higher_is_better=True)
    unpaired = unpaired_difference("tok_s", base, var, higher_is_better=True)
    assert paired.verdict == "better" and paired.low > 1.05
    assert unpaired.verdict == "inconclusive" and unpaired.low < 1.0 < unpaired.high


def test_unpaired_welch_by_hand():
    a, b = np.exp([0.0, 0.1, 0.2]), np.exp([0.3, 0.5, 0.7, 0.5])
    d = unpaired_difference("e2e", a, b, higher_is_better=False)
    va, vb = 0.01 / 3, np.var([0.3, 0.5, 0.7, 0.5], ddof=1) / 4
    assert d.ratio == pytest.approx(math.exp(0.5 - 0.1))
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 3)
    stats = pytest.importorskip("scipy.stats")
    half = stats.t.ppf(0.975, df) * se
    assert d.low == pytest.approx(math.exp(0.4 - half), rel=1e-6) and d.high == pytest.approx(math.exp(0.4 + half), rel=1e-6)
    assert d.p_value == pytest.approx(stats.ttest_ind(np.log(b), np.log(a), equal_var=False).pvalue, rel=1e-6)
    assert d.verdict == "worse" and d.method == "unpaired Welch t on logs"


def test_degenerate_inputs():
    one = paired_difference("m", [1.0], [2.0], higher_is_better=False)
    assert one.ratio == 2.0 and one.verdict == "inconclusive" and math.isnan(one.low)
    same = paired_difference("m", [1.0, 2.0], [1.0, 2.0], higher_is_better=False)
    assert same.ratio == 1.0 and same.verdict == "inconclusive" and same.p_value == 1.0
    # zero spread (issue 17): no zero-width interval and no p = 0, the exact sign test instead
    exact = paired_difference("m", [1.0, 2.0], [1.5, 3.0], higher_is_better=False)
    assert math.isnan(exact.low) and math.isnan(exact.high) and exact.p_value == 0.5
    assert exact.verdict == "inconclusive" and "sign test" in exact.method
    six = paired_difference("m", [1.0, 2.0] * 3, [1.5, 3.0] * 3, higher_is_better=False)
    assert six.verdict == "worse" and six.p_value == pytest.approx(2 * 0.5**6) and math.isnan(six.low)
    assert unpaired_difference("m", [1.0], [2.0, 3.0], higher_is_better=True).verdict == "inconclusive"
    for bad in (dict(baseline=[1.0, 2.0], variant=[1.0]), dict(baseline=[-1.0, 1.0], variant=[1.0, 1.0]),
                dict(baseline=[1.0, math.nan], variant=[1.0, 1.0])):
        with pytest.raises(ValueError):
            paired_difference("m", higher_is_better=False, **bad)
    with pytest.raises(ValueError):
        paired_difference("m", [1.0, 2.0], [1.0, 2.0], higher_is_better=False, margin=-0.1)


def test_request_difference():
    rng = np.random.default_rng(0)
    a = np.exp(rng.normal(0.0, 0.3, 2000))
    b = 1.3 * np.exp(rng.normal(0.0, 0.3, 2000))
    d = request_difference("ttft", a, b, "p50", higher_is_better=False, seed=1, resamples=500)
    assert d.verdict == "worse" and 1.2 < d.low < d.ratio < d.high < 1.4 and "within-run" in d.method
    assert d == request_difference("ttft", a, b, "p50", higher_is_better=False, seed=1, resamples=500)
    same = request_difference("ttft", a, a, "p95", higher_is_better=False, seed=1, resamples=500)
    assert same.ratio == 1.0 and same.verdict == "inconclusive"
    with pytest.raises(ValueError):
        request_difference("ttft", [1.0], b, higher_is_better=False)


def test_block_schedule():
    s = block_schedule(["a", "b", "c"], seed=7)
    assert len(s) == DEFAULT_REPEATS and all(sorted(block) == ["a", "b", "c"] for block in s)
    assert s == block_schedule(["a", "b", "c"], seed=7) and s != block_schedule(["a", "b", "c"], seed=8)
    firsts = [block[0] for block in block_schedule(["a", "b"], 400, seed=1)]
    assert 160 < firsts.count("a") < 240  # each variant goes first about half the time
    with pytest.raises(ValueError):
        block_schedule(["a", "a"])
    with pytest.raises(ValueError):
        block_schedule(["a"], 0)


def test_a_zero_capacity_is_compared_on_differences_not_dropped():
    """Capacity 0 (the SLO failed even at the search's lowest point: censored, "< lo") has no log: a paired t on
    differences instead; an interval whose lower bound would be <= 0 is refused (issue 17: the CPU decide run's
    second pass printed x0.965 [-0.03, 1.96])."""
    from harness.stats.compare import paired_difference

    tie = paired_difference("cap", [0.25, 0.297, 0.5, 0.297], [0.297, 0.5, 0.5, 0.0], higher_is_better=True)
    assert tie.verdict == "inconclusive" and math.isnan(tie.low) and math.isnan(tie.high)
    assert "differences" in tie.method and "no ratio interval" in tie.method and tie.ratio == pytest.approx(0.965, abs=1e-3)
    clear = paired_difference("cap", [1.0, 1.1, 0.9, 1.0, 0.0], [3.0, 3.2, 2.9, 3.1, 2.0], higher_is_better=True)
    assert clear.verdict == "better" and clear.low > 1 and clear.ratio > 2.5


def test_three_outcomes_paired_unpaired_and_after_holm():
    """issue 17: equivalent within +-m by TOST, better/worse, or inconclusive with what it would take; Holm demotes."""
    z = np.array([1.0, -1.0, 0.5, -0.5, 0.0, 0.8, -0.8, 0.3, -0.3, 0.0])
    base = 100.0 * np.exp(0.2 * z[::-1])
    tight = paired_difference("tok_s", base, base * np.exp(0.002 + 0.005 * z), higher_is_better=True)
    assert tight.verdict == "equivalent" and tight.outcome_text() == "equivalent within +-5%" and tight.significant is False
    noisy = paired_difference("tok_s", base[:3], base[:3] * np.exp(0.1 * z[:3]), higher_is_better=True)
    assert noisy.verdict == "inconclusive" and noisy.needed > 3
    assert noisy.outcome_text().startswith("inconclusive: could not detect less than") and "more blocks would detect 5%" in str(noisy)
    u = unpaired_difference("tok_s", 100 * np.exp(0.004 * z), 101 * np.exp(0.004 * z[::-1]), higher_is_better=True)
    assert u.verdict == "equivalent" and u.unit == "repeats"  # a precise 1% is equivalent within 5%, not "better"
    wide = unpaired_difference("tok_s", 100 * np.exp(0.3 * z[:4]), 100 * np.exp(0.3 * z[4:8]), higher_is_better=True)
    assert wide.verdict == "inconclusive" and "more repeats would detect 5%" in wide.outcome_text()
    clear = paired_difference("tok_s", base, base * 1.2 * np.exp(0.02 * z), higher_is_better=True)
    assert clear.verdict == "better" and clear.adjusted(clear.p_value * 3, 3).verdict == "better"
    borderline = paired_difference("tok_s", base, base * np.exp(0.03 + 0.038 * z / z.std(ddof=1)), higher_is_better=True)
    assert borderline.verdict == "better" and 0.01 < borderline.p_value < 0.05
    held = borderline.adjusted(min(1.0, 5 * borderline.p_value), 5)
    assert held.verdict == "inconclusive" and held.family == 5 and "after Holm over 5" in held.outcome_text()
    assert tight.adjusted(1.0, 5).verdict == "equivalent"  # equivalence is not a better/worse claim: it stays
