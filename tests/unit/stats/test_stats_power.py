"""Multiple-comparison adjustments and detectable differences, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.stats.compare import paired_difference
from harness.stats.multiple import FAMILY_CORRECTION, adjust, benjamini_hochberg, holm
from harness.stats.power import mdd_proportion, mdd_relative, power_relative, repeats_needed
from harness.stats.simulate import NoiseModel, measure_blocks, trials

P = [0.01, 0.04, 0.03, 0.005]


def test_holm_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 -> 0.02, 0.03, 0.06, 0.04 -> running max 0.02, 0.03, 0.06, 0.06
    assert holm(P) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0]) and holm([]) == []
    assert FAMILY_CORRECTION == "holm" and adjust(P) == holm(P)


def test_benjamini_hochberg_by_hand():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4/1, 4/2, 4/3, 4/4 -> 0.02, 0.02, 0.04, 0.04 (running min from the top)
    assert benjamini_hochberg(P) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert benjamini_hochberg([0.01, 0.02, 0.03]) == pytest.approx([0.03, 0.03, 0.03])
    assert adjust(P, "bh") == benjamini_hochberg(P) and adjust(P, "none") == P
    with pytest.raises(ValueError):
        adjust(P, "bonferroni-ish")
    with pytest.raises(ValueError):
        holm([1.5])


def test_mdd_proportion_matches_the_formula():
    z = 1.959964 + 0.841621  # z_{0.975} + z_{0.8}
    assert mdd_proportion(40) == pytest.approx(z * math.sqrt(2 * 0.25 / 40), rel=1e-5)  # 0.313
    assert mdd_proportion(40) == pytest.approx(0.3132, abs=1e-3)
    assert mdd_proportion(40, paired=True) == pytest.approx(mdd_proportion(40))  # independent errors
    assert mdd_proportion(40, paired=True, discordant=0.18) == pytest.approx(z * math.sqrt(0.18 / 40), rel=1e-5)
    assert mdd_proportion(40, paired=True, discordant=0.18) == pytest.approx(0.19, abs=0.005)
    assert mdd_proportion(400) == pytest.approx(mdd_proportion(40) / math.sqrt(10))
    assert mdd_proportion(40, p=0.9) < mdd_proportion(40, p=0.5)
    with pytest.raises(ValueError):
        mdd_proportion(0)


def test_mdd_proportion_has_the_stated_power():
    """Simulated unpaired binomial samples at p = 0.5 vs 0.5 - MDD: a z-test rejects in ~80%."""
    n, mdd = 200, mdd_proportion(200)
    rng = np.random.default_rng(0)
    a = rng.binomial(n, 0.5, 20000) / n
    b = rng.binomial(n, 0.5 - mdd, 20000) / n
    pooled = (a + b) / 2
    z = (a - b) / np.sqrt(2 * pooled * (1 - pooled) / n)
    assert np.mean(np.abs(z) > 1.959964) == pytest.approx(0.80, abs=0.02)


def test_repeats_needed_and_power_agree_with_simulation():
    """Log-normal noise without drift or outliers: the formula's power matches the simulated t-test."""
    iid = NoiseModel(drift_sd=0.0, noise_sd=0.08, outlier_p=0.0)
    n = repeats_needed(0.2, 0.08, power=0.9)  # per-block log-ratio sd sqrt(2) * 0.08: 7 blocks
    assert n == 7 and power_relative(n, 0.2, 0.08) >= 0.9 > power_relative(n - 1, 0.2, 0.08)
    hits = sum(paired_difference("m", *measure_blocks({"a": 1.0, "b": 1.2}, n, rng, noise=iid).values(),
                                 higher_is_better=False).verdict == "worse" for rng in trials(5, 2000))
    assert hits / 2000 == pytest.approx(power_relative(n, 0.2, 0.08), abs=0.03)
    assert repeats_needed(0.2, 0.08, paired=False) > repeats_needed(0.2, 0.08 / math.sqrt(2))
    assert mdd_relative(n, 0.08, power=0.9) <= 0.2
    assert power_relative(n, mdd_relative(n, 0.08), 0.08) == pytest.approx(0.8, abs=1e-6)
