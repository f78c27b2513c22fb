"""Percentiles and per-request metrics on hand-built data."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.loadgen.record import RequestRecord
from harness.load.stats import Distribution, itls_s, percentile, summarize, tpot_s


@pytest.mark.parametrize("p", [0, 1, 25, 50, 90, 95, 99, 100])
def test_percentile_matches_numpy_linear(p):
    data = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.3, 5.8, 9.7, 0.2]
    assert percentile(data, p) == pytest.approx(float(np.percentile(data, p)))


def test_percentile_known_values():
    data = list(range(1, 101))  # 1..100
    assert percentile(data, 50) == pytest.approx(50.5)
    assert percentile(data, 90) == pytest.approx(90.1)
    assert percentile(data, 99) == pytest.approx(99.01)
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_distribution_converts_to_ms():
    d = Distribution.of_seconds([0.1, 0.2, 0.3])
    assert d.count == 3 and d.mean == pytest.approx(200) and d.p50 == pytest.approx(200) and d.max == pytest.approx(300)


def _rec(t, ttft=0.1, e2e=1.0, n=10, ok=True, chunks=None, **kw):
    return RequestRecord(t_start=t, ok=ok, ttft_s=ttft, e2e_s=e2e, completion_tokens=n, prompt_tokens=20,
                         chunk_offsets_s=chunks if chunks is not None else [ttft], **kw)


def test_tpot_definition_and_undefined_cases():
    assert tpot_s(_rec(0, ttft=0.1, e2e=1.0, n=10)) == pytest.approx(0.1)
    assert tpot_s(_rec(0, n=1)) is None
    assert tpot_s(_rec(0, n=None)) is None
    assert tpot_s(_rec(0, ok=False)) is None


def test_itl_gaps():
    assert itls_s(_rec(0, chunks=[0.1, 0.15, 0.3])) == pytest.approx([0.05, 0.15])
    assert itls_s(_rec(0, chunks=[])) == []


def test_summary_window_errors_and_throughput():
    recs = [
        _rec(100.0),                      # warm-up, excluded
        _rec(101.0, e2e=1.0, n=10),
        _rec(102.0, e2e=2.0, n=20),
        RequestRecord(t_start=102.5, ok=False, error="HTTP 500: boom", e2e_s=0.1),
        _rec(103.0, e2e=1.0, n=None),     # ok but no usage
        _rec(200.0),                      # after the window
    ]
    s = summarize(recs, window_start=101.0, window_end=110.0)
    assert s.requests == 4 and s.ok == 3 and s.errors == 1
    assert s.error_rate == pytest.approx(0.25)
    assert s.excluded_warmup == 1
    assert s.usage_missing == 1
    assert s.error_kinds == {"HTTP 500": 1}
    # window: 101 -> the load's last end 104.0 = 3 s; 30 output tokens arrived in it (the warm-up one's at 100.1 did not)
    assert s.window_s == pytest.approx(3.0)
    assert s.output_tokens_per_s == pytest.approx(10.0)
    # successful requests that ended inside [101, 104]: the warm-up one (at 101.0) too, whichever window it started in
    assert s.requests_per_s == pytest.approx(4 / 3)
    m = s.flat_metrics()
    assert m["perf/ttft_p50_ms"] == pytest.approx(100.0)
    assert "perf/error_rate" in m and "perf/ttft_count_ms" not in m


def test_summary_of_nothing():
    s = summarize([])
    assert s.requests == 0 and s.error_rate == 0 and s.output_tokens_per_s == 0
    assert "perf/ttft_p50_ms" not in s.flat_metrics()


def _wave_load(period=0.31, users=32, n=40, tpot=0.0075, until=60.0):
    """Closed-loop users in lockstep: `users` requests start together every `period` s, each streaming `n` tokens."""
    recs, t = [], 0.0
    while t < until:
        offs = [0.01 + i * tpot for i in range(n)]
        recs += [_rec(t, ttft=offs[0], e2e=period, n=n, chunks=offs) for _ in range(users)]
        t += period
    return recs


def test_throughput_from_token_times_ignores_where_the_window_starts_in_a_wave():
    """Lockstep waves: whole-request counting moved the rate by +-3% with the window's phase; token times do not."""
    recs = _wave_load()
    rates = [summarize(recs, 5.0 + phase, 17.0 + phase).output_tokens_per_s for phase in np.linspace(0, 0.31, 12)]
    assert max(rates) / min(rates) - 1 < 0.005
    true_rate = 32 * 40 / 0.31
    assert np.mean(rates) == pytest.approx(true_rate, rel=0.01)
    reqs = [summarize(recs, 5.0 + phase, 17.0 + phase).requests_per_s for phase in np.linspace(0, 0.31, 12)]
    assert np.mean(reqs) == pytest.approx(32 / 0.31, rel=0.03)


def test_tokens_of_requests_straddling_the_window_count_for_the_part_inside():
    # one request from 0 to 10 s, 10 chunks of 1 token a second at 0.5, 1.5, ...; window [2, 6]
    rec = _rec(0.0, ttft=0.5, e2e=10.0, n=10, chunks=[0.5 + i for i in range(10)])
    s = summarize([rec, _rec(2.0, e2e=9.0, n=1, chunks=[8.9])], 2.0, 6.0)
    assert s.window_s == pytest.approx(4.0)
    assert s.output_tokens_per_s == pytest.approx(4 / 4.0)  # the chunks at 2.5, 3.5, 4.5, 5.5
    assert s.requests_per_s == 0  # neither ended inside


def test_window_cut_short_when_the_load_ended_early():
    recs = [_rec(10.0 + i, e2e=1.0, n=10, chunks=[0.1 * j for j in range(1, 11)]) for i in range(5)]  # load ends at 15 s
    s = summarize(recs, 10.0, 22.0)  # the spec asked for 12 s
    assert s.window_s == pytest.approx(5.0)
    assert s.output_tokens_per_s == pytest.approx(10.0)


def test_split_half_sd_zero_for_a_steady_rate_and_positive_for_a_noisy_one():
    steady = _wave_load(period=0.25, users=4, n=10, tpot=0.02)
    s = summarize(steady, 5.0, 45.0)
    assert s.output_tokens_per_s_split_half_sd < 0.01
    rng = np.random.default_rng(1)
    noisy = [_rec(t, e2e=0.2, n=int(rng.integers(1, 60)), chunks=[0.1]) for t in np.arange(0, 40, 0.2)]
    sd = summarize(noisy, 0.0, 40.0).output_tokens_per_s_split_half_sd
    assert 0.05 < sd < 1.0
    assert "perf/output_tokens_per_s_split_half_sd" in summarize(noisy, 0.0, 40.0).flat_metrics()
    sparse = [_rec(0.0, e2e=1.0, n=5, chunks=[0.5])]
    assert math.isnan(summarize(sparse, 0.0, 10.0).output_tokens_per_s_split_half_sd)


def test_achieved_prompt_lengths_and_the_share_off_target():
    """The server's prompt counts summarised; a prompt is off target when it differs from target + the template's
    constant (the smallest difference, `target_fit`); later turns (history) are not held to a target."""
    from harness.load.stats import _prompt_length_stats

    def rec(prompt: int, target: int | None, turn: int = 0) -> RequestRecord:
        return RequestRecord(t_start=0.0, ok=True, prompt_tokens=prompt, prompt_tokens_target=target, turn=turn)

    out = _prompt_length_stats([rec(130, 100), rec(230, 200), rec(331, 300), rec(90, 60), rec(999, 50, turn=1)])
    assert out["prompt_tokens_min"] == 90 and out["prompt_tokens_max"] == 999 and out["prompt_tokens_p50"] == 230
    assert out["prompt_tokens_off_target_rate"] == 1 / 4  # 331 is 31 over, the others 30 (the template)
    assert "prompt_tokens_off_target_rate" not in _prompt_length_stats([rec(130, None)])
    assert _prompt_length_stats([]) == {}
