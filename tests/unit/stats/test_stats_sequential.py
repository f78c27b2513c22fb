"""Adaptive repeats (harness.stats.sequential): a test after every block inflates the false better/worse rate;
the group-sequential design (O'Brien-Fleming spending over 4 looks, TOST stop) keeps it at alpha, and still
stops early for real effects and for equivalence. Seeded simulations with harness.stats.simulate."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.stats.sequential import (GroupSequentialDesign, look_decision, obrien_fleming_spending, run_design,
                                      spending_boundaries)
from harness.stats.simulate import DEFAULT_NOISE, NoiseModel, measure_blocks, trials

TRIALS = 3000  # binomial sd of a 5% rate: 0.4%
MAX_BLOCKS = 20


def _log_ratios(levels, seed, count, noise=DEFAULT_NOISE, blocks=MAX_BLOCKS):
    out = []
    for rng in trials(seed, count):
        m = measure_blocks(levels, blocks, rng, noise=noise, higher_is_better=True)
        out.append(np.log(m["b"]) - np.log(m["a"]))
    return np.array(out)


def test_boundaries_spend_alpha_like_obrien_fleming():
    assert spending_boundaries((1.0,), 0.05) == pytest.approx((1.96,), abs=1e-3)
    z = spending_boundaries((0.25, 0.5, 0.75, 1.0), 0.05)
    assert z == pytest.approx((3.92, 2.77, 2.30, 2.04), abs=0.01)  # decreasing; the last just above 1.96
    assert obrien_fleming_spending(1.0, 0.05) == pytest.approx(0.05) and obrien_fleming_spending(0.0, 0.05) == 0.0
    d = GroupSequentialDesign(20, looks=4)
    assert d.look_blocks == (5, 10, 15, 20) and d.efficacy_z == z
    assert GroupSequentialDesign(6, looks=4).look_blocks == (3, 4, 6)  # min_blocks 3; duplicates merged
    with pytest.raises(ValueError):
        GroupSequentialDesign(1)
    with pytest.raises(ValueError):
        look_decision(d, [0.1] * 4, 1, higher_is_better=True)  # look 1 is at 5 blocks


def test_peeking_after_every_block_inflates_false_calls_the_design_does_not():
    """3000 A/A trials of 20 blocks under DEFAULT_NOISE: a naive 95% t-test after every block from the 2nd
    calls a difference in ~20%; the design (4 looks) in ~4%."""
    from scipy.special import stdtrit

    x = _log_ratios({"a": 1.0, "b": 1.0}, 31, TRIALS)
    n = np.arange(1, MAX_BLOCKS + 1)
    cum = np.cumsum(x, axis=1)
    mean = cum / n
    var = (np.cumsum(x**2, axis=1) - n * mean**2) / np.maximum(n - 1, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.abs(mean) / np.sqrt(var / n)
    crit = np.array([math.inf] + [float(stdtrit(k - 1, 0.975)) for k in n[1:]])
    naive = float(np.mean(np.any(t > crit, axis=1)))
    design = GroupSequentialDesign(MAX_BLOCKS, looks=4)
    calls = [run_design(design, row, higher_is_better=True).action for row in x]
    false = sum(a in ("stop-better", "stop-worse") for a in calls) / TRIALS
    assert naive >= 0.10
    assert false <= 0.05 + 0.01
    assert set(calls) <= {"stop-better", "stop-worse", "stop-equivalent", "stop-inconclusive"}


def test_the_design_stops_early_for_a_real_effect_and_for_equivalence():
    """Quiet host (per-block sd 0.03), 20 blocks, 4 looks, 1000 trials each: a 10% gain stops "better" by the
    2nd look (10 blocks; the 1st look, at 5 blocks and 4 df, asks |t| >= ~16), an A/A pair "equivalent within
    5%" mostly by the 2nd look too."""
    quiet = NoiseModel(drift_sd=0.0, noise_sd=0.03 / math.sqrt(2.0), outlier_p=0.0)
    design = GroupSequentialDesign(MAX_BLOCKS, looks=4, margin=0.05)
    gain = [run_design(design, row, higher_is_better=True) for row in _log_ratios({"a": 1.0, "b": 1.1}, 32, 1000, quiet)]
    assert np.mean([d.action == "stop-better" for d in gain]) >= 0.95
    assert np.mean([d.n for d in gain]) <= 10
    same = [run_design(design, row, higher_is_better=True) for row in _log_ratios({"a": 1.0, "b": 1.0}, 33, 1000, quiet)]
    assert np.mean([d.action == "stop-equivalent" for d in same]) >= 0.9
    assert np.mean([d.action in ("stop-better", "stop-worse") for d in same]) <= 0.06
    assert np.mean([d.n <= 10 for d in same]) >= 0.8
    last = same[0]
    assert last.low < last.ratio < last.high and last.mde > 0 and last.blocks_needed >= 2


def test_last_look_inconclusive_and_zero_spread():
    design = GroupSequentialDesign(6, looks=2)  # looks at 3 and 6 blocks
    rng = np.random.default_rng(3)
    noisy = rng.normal(0.0, 0.3, 6)
    assert look_decision(design, noisy[:3], 1, higher_is_better=True).action == "continue"
    end = look_decision(design, noisy, 2, higher_is_better=True)
    assert end.action == "stop-inconclusive" and end.mde > 0.05 and end.blocks_needed > 6
    flat = look_decision(design, [math.log(1.2)] * 6, 2, higher_is_better=False)
    assert flat.action == "stop-worse" and math.isnan(flat.low) and "sign test" in flat.method
    assert look_decision(design, [0.1] * 3, 1, higher_is_better=True).action == "continue"  # p = 0.25
