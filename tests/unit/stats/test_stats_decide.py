"""Three outcomes (harness.stats.decide) and the planner (harness.stats.plan), proven on simulated blocks
(harness.stats.simulate, seeded): A/A false better/worse <= 5% + 1%, 95% interval coverage 95% +- 1.5%,
equivalence declared in >= 80% of A/A runs at the planned n, power >= 80% for the planned effect."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.stats.decide import Decision, decide, decide_log_ratios
from harness.stats.plan import (blocks_for_equivalence, blocks_to_detect, detect_power, equivalence_power, mde,
                                plan_blocks, sd_from_components)
from harness.stats.simulate import DEFAULT_NOISE, NoiseModel, measure_blocks, trials

AA_TRIALS = 4000  # binomial sd of a 5% rate: 0.34%; of 95% coverage: 0.34%
PLAN_TRIALS = 3000  # binomial sd of an 80% rate: 0.73%


def _given_sd(sd: float) -> NoiseModel:
    """Per-block log-ratios with sd `sd` exactly: independent window noise only (sd / sqrt(2) per window)."""
    return NoiseModel(drift_sd=0.0, noise_sd=sd / math.sqrt(2.0), outlier_p=0.0)


def _decisions(levels, blocks, seed, noise, count):
    for rng in trials(seed, count):
        m = measure_blocks(levels, blocks, rng, noise=noise, higher_is_better=True)
        yield decide(m["a"], m["b"], higher_is_better=True)


def test_the_three_outcomes_and_what_inconclusive_says():
    rng = np.random.default_rng(0)
    noise = rng.normal(0.0, 0.03, 12)
    better = decide_log_ratios(noise - noise.mean() + math.log(1.2), higher_is_better=True)
    assert better.outcome == "better" and better.low > 1.0 and better.ratio == pytest.approx(1.2)
    assert decide_log_ratios(noise - noise.mean() + math.log(1.2), higher_is_better=False).outcome == "worse"
    same = decide_log_ratios(noise - noise.mean(), higher_is_better=True, margin=0.05)
    assert same.outcome == "equivalent" and str(same).endswith("equivalent within +-5%")
    # a significant 1% difference, measured precisely, is equivalent within 5%, not "better"
    tiny = decide_log_ratios(noise * 0.1 - noise.mean() * 0.1 + math.log(1.01), higher_is_better=True)
    assert tiny.p_value < 0.05 and tiny.outcome == "equivalent"
    assert decide_log_ratios(noise * 0.1 - noise.mean() * 0.1 + math.log(1.01), higher_is_better=True,
                             margin=0.005).outcome == "better"
    # min_effect: significant but below the relevance threshold is not called better
    assert decide_log_ratios(noise - noise.mean() + math.log(1.06), higher_is_better=True, margin=0.02,
                             min_effect=0.1).outcome == "inconclusive"
    noisy = decide_log_ratios(rng.normal(0.0, 0.13, 3), higher_is_better=True)
    assert noisy.outcome == "inconclusive" and isinstance(noisy, Decision) and noisy.n == 3
    assert noisy.mde == pytest.approx(mde(3, noisy.sd)) and noisy.mde > 0.05
    assert noisy.blocks_needed == blocks_to_detect(0.05, noisy.sd) and noisy.more_blocks == noisy.blocks_needed - 3
    assert f"could not detect less than {noisy.mde:.0%}; ~{noisy.more_blocks} more blocks would detect 5%" in str(noisy)


def test_zero_spread_gives_no_interval_and_an_exact_sign_test():
    six = decide_log_ratios([math.log(1.5)] * 6, higher_is_better=True)
    assert six.outcome == "better" and math.isnan(six.low) and math.isnan(six.high)
    assert six.p_value == pytest.approx(2 * 0.5**6) and "sign test" in six.method and "no interval" in str(six)
    three = decide([1.0, 2.0, 4.0], [1.5, 3.0, 6.0], higher_is_better=False)  # p = 0.25: undecided
    assert three.outcome == "inconclusive" and three.p_value == 0.25 and math.isnan(three.low)
    assert decide([1.0, 2.0], [1.0, 2.0], higher_is_better=True).p_value == 1.0
    one = decide([1.0], [2.0], higher_is_better=True)
    assert one.outcome == "inconclusive" and one.mde == math.inf and one.blocks_needed is None
    for bad in (([1.0, 0.0], [1.0, 1.0]), ([1.0, 2.0], [1.0]), ([1.0, math.nan], [1.0, 1.0])):
        with pytest.raises(ValueError):
            decide(*bad, higher_is_better=True)


def test_aa_false_calls_at_most_alpha_and_coverage_95():
    """DEFAULT_NOISE (drift, outliers), 10 blocks, 4000 A/A trials: false better/worse ~4.4%, coverage ~95.6%."""
    false, covered = 0, 0
    for d in _decisions({"a": 1.0, "b": 1.0}, 10, 21, DEFAULT_NOISE, AA_TRIALS):
        false += d.outcome in ("better", "worse")
        covered += d.low <= 1.0 <= d.high
    assert false / AA_TRIALS <= 0.05 + 0.01
    assert abs(covered / AA_TRIALS - 0.95) <= 0.015


def test_coverage_of_a_real_difference():
    """Coverage of the true ratio 1.1 (sd 0.1, 8 blocks, 4000 trials): ~95%."""
    covered = sum(d.low <= 1.1 <= d.high for d in _decisions({"a": 1.0, "b": 1.1}, 8, 22, _given_sd(0.1), AA_TRIALS))
    assert abs(covered / AA_TRIALS - 0.95) <= 0.015


@pytest.mark.parametrize("sd", [0.03, 0.06])
def test_equivalence_in_at_least_80_percent_of_aa_runs_at_the_planned_n(sd):
    n = blocks_for_equivalence(0.05, sd)
    assert equivalence_power(n, 0.05, sd) >= 0.8 > equivalence_power(n - 1, 0.05, sd)
    eq = sum(d.outcome == "equivalent" for d in _decisions({"a": 1.0, "b": 1.0}, n, 23, _given_sd(sd), PLAN_TRIALS))
    assert eq / PLAN_TRIALS >= 0.80


@pytest.mark.parametrize("sd,effect", [(0.03, 0.05), (0.09, 0.2)])
def test_power_at_least_80_percent_for_the_planned_effect_at_the_planned_n(sd, effect):
    n = blocks_to_detect(effect, sd)
    assert detect_power(n, effect, sd) >= 0.8 > detect_power(n - 1, effect, sd)
    found = sum(d.outcome == "better"
                for d in _decisions({"a": 1.0, "b": 1.0 + effect}, n, 24, _given_sd(sd), PLAN_TRIALS))
    assert found / PLAN_TRIALS >= 0.80


def test_plan_from_a_pilot_and_from_variance_components():
    # the H200 noise: sd 0.13 between blocks needs ~60 blocks for 5%; a quiet host (0.03) needs <= 10
    loud, quiet = plan_blocks(0.05, 0.13, max_blocks=30), plan_blocks(0.05, 0.03, max_blocks=30)
    assert 55 <= loud.detect_blocks <= 65 and not loud.reachable and "out of reach" in str(loud)
    assert quiet.blocks <= 10 and quiet.reachable
    assert sd_from_components(0.03, 0.02) == pytest.approx(math.sqrt(0.03**2 + 2 * 0.02**2))
    assert plan_blocks(0.05, between_block_sd=0.03, within_window_sd=0.02).sd == pytest.approx(0.0412, abs=1e-4)
    assert mde(blocks_to_detect(0.05, 0.1), 0.1) <= 0.05 < mde(blocks_to_detect(0.05, 0.1) - 1, 0.1)
    with pytest.raises(ValueError):
        sd_from_components(0.0, 0.0)
    with pytest.raises(ValueError):
        plan_blocks(0.0, 0.1)
