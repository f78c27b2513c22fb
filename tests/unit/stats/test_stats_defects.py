"""Issue 17, item 6, inside harness.stats: honest labels and no false certainty on degenerate data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.stats.compare import request_difference
from harness.stats.estimate import median_ci, range_coverage


def test_a_range_of_n_repeats_is_labelled_with_its_true_coverage():
    assert [range_coverage(n) for n in (2, 3, 4)] == [0.5, 0.75, 0.875]
    e = median_ci([0.0, 1.0, 2.0])  # a zero: no logs, so [min, max]
    assert (e.low, e.high) == (0.0, 2.0) and e.level == 0.75 and "75.0%" in e.method and "(75%" in str(e)
    assert median_ci([0.0, 1.0, 2.0, 3.0]).level == 0.875


def test_zero_spread_repeats_have_no_interval():
    for n in (3, 8):
        e = median_ci([2.5] * n)
        assert e.value == 2.5 and not e.has_interval and "zero spread" in e.method


def test_bootstrap_p_value_is_never_zero():
    """Far apart runs: every resample agrees, k = 0, p = 2 (0 + 1) / (B + 1), not 0."""
    rng = np.random.default_rng(0)
    a = np.exp(rng.normal(0.0, 0.1, 500))
    d = request_difference("ttft", a, 3.0 * a, "p50", higher_is_better=False, seed=1, resamples=499)
    assert d.p_value == pytest.approx(2.0 / 500.0) and d.verdict == "worse"
    assert math.isfinite(d.low) and d.low > 2.5
