"""The proof of the designs on simulated measurements (harness.stats.simulate's noise, fitted to our H100
runs): identical variants are rarely called different, a 20% slowdown is found, and the designs that ignore
drift (sequential repeats, one run with a per-request bootstrap) call identical variants different often."""

from __future__ import annotations

import numpy as np
import pytest

from harness.stats.compare import paired_difference, request_difference, unpaired_difference
from harness.stats.design import DEFAULT_LEVEL, DEFAULT_REPEATS
from harness.stats.simulate import DEFAULT_NOISE, OPEN_LOOP_NOISE, measure_blocks, measure_requests, trials

TRIALS = 2000
ALPHA = 1.0 - DEFAULT_LEVEL
TOLERANCE = 0.02  # 2000 trials: the binomial sd of a 5% rate is 0.5%; 0.02 is four of them


def _rate(levels, verdicts, *, noise=DEFAULT_NOISE, repeats=DEFAULT_REPEATS, design="interleaved",
          analysis=paired_difference, seed=11, higher_is_better=False):
    hits = 0
    for rng in trials(seed, TRIALS):
        m = measure_blocks(levels, repeats, rng, noise=noise, design=design, higher_is_better=higher_is_better)
        names = list(levels)
        d = analysis("m", m[names[0]], m[names[-1]], higher_is_better=higher_is_better)
        hits += d.verdict in verdicts
    return hits / TRIALS


def test_aa_paired_interleaved_false_positive_rate_at_most_alpha():
    rate = _rate({"a": 1.0, "b": 1.0}, ("better", "worse"))
    print(f"A/A paired interleaved, n={DEFAULT_REPEATS}: different in {rate:.3f}")
    assert rate <= ALPHA + TOLERANCE


@pytest.mark.parametrize("repeats", [3, 5])
def test_aa_stays_valid_at_few_repeats_and_in_open_loop_noise(repeats):
    rate = _rate({"a": 1.0, "b": 1.0}, ("better", "worse"), repeats=repeats, seed=12)
    open_loop = _rate({"a": 1.0, "b": 1.0}, ("better", "worse"), repeats=repeats, noise=OPEN_LOOP_NOISE, seed=13)
    print(f"A/A n={repeats}: {rate:.3f} (default noise), {open_loop:.3f} (open-loop noise)")
    assert rate <= ALPHA + TOLERANCE and open_loop <= ALPHA + TOLERANCE


def test_ab_twenty_percent_slowdown_detected_at_default_repeats():
    rate = _rate({"a": 1.0, "b": 1.2}, ("worse",))
    wrong = _rate({"a": 1.0, "b": 1.2}, ("better",))
    print(f"A/B 20% slower, n={DEFAULT_REPEATS}: worse in {rate:.3f}, better in {wrong:.4f}")
    assert rate >= 0.90 and wrong == 0.0


def test_ab_throughput_direction():
    """A 20% lower throughput (higher is better) is "worse", not "better"."""
    rate = _rate({"a": 1.0, "b": 1 / 1.2}, ("worse",), higher_is_better=True, seed=14)
    assert rate >= 0.90


def test_ab_with_four_variants_per_block():
    """Blocks of four (bf16, fp8, seqs8, an A/A copy) spread a pair over up to four slots: still valid."""
    levels = {"a": 1.0, "x": 1.0, "y": 1.0, "b": 1.2}
    found = _rate(levels, ("worse",), seed=15)
    false = _rate({**levels, "b": 1.0}, ("better", "worse"), seed=16)
    print(f"blocks of four, n={DEFAULT_REPEATS}: 20% slower found in {found:.3f}, A/A different in {false:.3f}")
    assert found >= 0.90 and false <= ALPHA + TOLERANCE


def test_sequential_repeats_without_pairing_call_identical_variants_different():
    """AAAA...BBBB... analysed as independent samples: the drift between the halves becomes a 'difference'."""
    rate = _rate({"a": 1.0, "b": 1.0}, ("better", "worse"), design="sequential", analysis=unpaired_difference)
    print(f"A/A sequential unpaired, n={DEFAULT_REPEATS}: different in {rate:.3f}")
    assert rate >= 4 * ALPHA


def test_one_run_with_request_bootstrap_calls_identical_variants_different():
    """repeats = 1: the bootstrap over requests sees only within-run noise, not the run-to-run 10-50%."""
    hits, n = 0, 400
    for rng in trials(17, n):
        r = measure_requests({"a": 1.0, "b": 1.0}, 240, rng)
        d = request_difference("ttft_p50", r["a"], r["b"], "p50", higher_is_better=False,
                               seed=int(rng.integers(2**31)), resamples=400)
        hits += d.verdict in ("better", "worse")
    print(f"A/A one run each, request bootstrap of p50 (240 requests): different in {hits / n:.3f}")
    assert hits / n >= 6 * ALPHA


def test_noise_model_matches_the_h100_runs():
    """reference-reactor-repeats on the H100: per closed-loop point three rounds of (bench, harness, bench),
    the rounds three runs apart; the six bench runs spread by 1.3-1.5x (max/min), all nine by 1.3-1.95x."""
    six, nine = [], []
    for rng in trials(18, 2000):
        x = DEFAULT_NOISE.log_noise(18, rng)
        for out, slots in ((six, [3, 5, 9, 11, 15, 17]), (nine, [3, 4, 5, 9, 10, 11, 15, 16, 17])):
            out.append(float(np.exp(np.ptp(x[slots]))))
    print(f"max/min, six runs: median {np.median(six):.2f} (10-90%: {np.percentile(six, 10):.2f}-"
          f"{np.percentile(six, 90):.2f}); nine runs: median {np.median(nine):.2f}")
    assert 1.2 <= np.median(six) <= 1.4 and 1.25 <= np.median(nine) <= 1.5
