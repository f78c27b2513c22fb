"""One rule stated once in harness.stats: the t/TOST outcome of harness.stats.decide is the one every design of
harness.stats.compare reaches (paired on logs, Welch, raw differences), and the normal MDD of a bootstrap or a
stderr comparison is harness.stats.power's."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.stats.compare import paired_difference, unpaired_difference
from harness.stats.decide import decide, sign_test, t_outcome
from harness.stats.multiple import FAMILY_CORRECTION, adjust, holm
from harness.stats.plan import log_margin
from harness.stats.power import mdd_normal, n_to_detect


def test_welch_comparison_reaches_decides_outcome():
    rng = np.random.default_rng(11)
    for shift in (0.0, 0.01, 0.08, -0.08):
        a, b = 100 * np.exp(rng.normal(0, 0.03, 6)), 100 * np.exp(shift + rng.normal(0, 0.03, 6))
        d = unpaired_difference("perf/x", list(a), list(b), higher_is_better=True)
        la, lb = np.log(a), np.log(b)
        va, vb = la.var(ddof=1) / 6, lb.var(ddof=1) / 6
        df = (va + vb) ** 2 / (va**2 / 5 + vb**2 / 5)
        outcome, low, high, p = t_outcome(lb.mean() - la.mean(), math.sqrt(va + vb), df, delta=log_margin(0.05),
                                          higher_is_better=True, alpha=0.05, relevant=True)
        assert d.verdict == outcome and d.p_value == pytest.approx(p) and d.low == pytest.approx(math.exp(low))
    base, noise = [100.0, 102.0, 98.0, 101.0, 99.0], [1.0, 1.01, 0.99, 1.02, 0.98]
    var = [1.3 * v * e for v, e in zip(base, noise)]
    paired = paired_difference("perf/x", base, var, higher_is_better=False)
    assert paired.verdict == decide(base, var, higher_is_better=False).outcome == "worse"


def test_sign_test_and_normal_mdd():
    assert sign_test(0.2, 6, higher_is_better=True, alpha=0.05, relevant=True) == ("better", 2 * 0.5**6)
    assert sign_test(0.2, 4, higher_is_better=True, alpha=0.05, relevant=True)[0] == "inconclusive"  # p = 0.125
    assert sign_test(0.2, 6, higher_is_better=True, alpha=0.05, relevant=False)[0] == "inconclusive"
    assert mdd_normal(0.01) == pytest.approx((1.959964 + 0.841621) * 0.01, rel=1e-6)
    assert n_to_detect(100, 0.04, 0.02) == 400 and n_to_detect(100, 0.0, 0.02) is None
    assert FAMILY_CORRECTION == "holm" and adjust([0.01, 0.04]) == holm([0.01, 0.04])
