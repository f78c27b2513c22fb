"""Warm-up until the rate settles (`load.warmup`), decided on the records after the run."""

from __future__ import annotations

import pytest

from harness.load.settle import settled_start
from harness.loadgen.record import RequestRecord
from harness.spec.load import LoadSpec, WarmupSpec


def _load(rate_at, until=40.0, step=0.05):
    """A chunk every `step` s carrying the whole tokens the rate `rate_at(t)` has accumulated since the last one."""
    recs, t, acc = [], 0.0, 0.0
    while t < until:
        acc += rate_at(t) * step
        if acc >= 1.0:
            n, acc = int(acc), acc - int(acc)
            recs.append(RequestRecord(t, ok=True, ttft_s=0.0, chunk_offsets_s=[0.0], e2e_s=0.0, completion_tokens=n))
        t += step
    return recs


def test_the_window_starts_once_a_ramping_rate_has_settled():
    ramp = _load(lambda t: 5.0 + 10.0 * min(t, 12.0))  # rises for 12 s, then steady at 125 tokens/s
    got = settled_start(ramp, 0.0, WarmupSpec(max_s=30.0, tolerance=0.05, sub_window_s=2.0, windows=3))
    assert got.settled and 12.0 < got.start_s <= 20.0


def test_a_steady_rate_settles_at_the_least_warm_up_and_a_wandering_one_not_at_all():
    steady = _load(lambda t: 100.0)
    assert settled_start(steady, 0.0, WarmupSpec(max_s=30.0), min_s=7.0).start_s == pytest.approx(7.0)
    wandering = _load(lambda t: 100.0 if int(t) % 4 < 2 else 40.0)
    got = settled_start(wandering, 0.0, WarmupSpec(max_s=20.0, tolerance=0.05, sub_window_s=1.0, windows=3))
    assert not got.settled and got.start_s == 20.0


def test_the_spec_runs_the_longest_warm_up_and_measures_duration_s():
    spec = LoadSpec(warmup_s=2, duration_s=30, warmup={"max_s": 20})
    assert spec.settles and spec.run_s() == 50.0 and spec.measured_s() == 30.0
    assert LoadSpec(warmup_s=2, duration_s=30).run_s() == 32.0
    with pytest.raises(ValueError, match="no room to settle"):
        LoadSpec(warmup_s=10, warmup={"max_s": 12})
    with pytest.raises(ValueError, match="time-based"):
        LoadSpec(requests=10, warmup={"max_s": 30})
