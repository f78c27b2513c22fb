"""Host-noise warnings: each names its source, and a quiet host gets none."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harness.load.noise import host_noise
from harness.load.stats import Distribution, summarize
from harness.loadgen.record import RequestRecord
from harness.server.metrics import Scrape, noisy_server, summarize as server_summary


def _quiet(itl_s: float = 0.01):
    recs = [RequestRecord(t * 0.1, ok=True, ttft_s=itl_s, chunk_offsets_s=[itl_s * (i + 1) for i in range(10)], e2e_s=10 * itl_s,
                          completion_tokens=10, prompt_tokens=5) for t in range(400)]
    return replace(summarize(recs, 0.0, 40.0), host_steal_pct=0.1, client_lag_ms=Distribution.of_seconds([0.0001] * 10))


def test_a_quiet_host_gets_no_warning():
    assert host_noise(_quiet()) == []


def test_each_noisy_source_is_named():
    quiet = _quiet()
    assert "CPU steal 3.0%" in " ".join(host_noise(replace(quiet, host_steal_pct=3.0)))
    lagging = replace(quiet, client_lag_ms=Distribution.of_seconds([0.003] * 10))  # 3 ms against a 10 ms ITL
    assert "event loop lags 3.00 ms (p99)" in " ".join(host_noise(lagging))
    assert "wanders within the window" in " ".join(host_noise(replace(quiet, output_tokens_per_s_split_half_sd=0.05)))


def _lag(quiet, p99_ms: float):
    """A loop lag distribution whose p99 is about `p99_ms` (median a tenth of it: a healthy loop's shape)."""
    return replace(quiet, client_lag_ms=Distribution.of_seconds([p99_ms / 10_000] * 98 + [p99_ms / 1000] * 2))


def test_loop_lag_warns_only_when_it_can_move_the_itl_and_exceeds_the_floor():
    """Both sides of both conditions: lag p99 > 10% of the median ITL and > 2 ms."""
    fast, slow = _quiet(0.007), _quiet(0.05)  # a GPU's 7 ms ITL; a CPU's 50 ms
    assert fast.itl_ms.p50 == pytest.approx(7.0) and slow.itl_ms.p50 == pytest.approx(50.0)
    assert _lag(fast, 0.9).client_lag_ms.p99 == pytest.approx(0.9, rel=0.05)
    assert host_noise(_lag(fast, 0.9)) == []  # a healthy gevent loop at a 7 ms ITL: above 10% of it, below the floor (fired before)
    assert host_noise(_lag(fast, 1.9)) == []  # 27% of the ITL, still below the 2 ms floor
    assert "event loop lags" in " ".join(host_noise(_lag(fast, 2.5)))  # above both
    assert host_noise(_lag(slow, 4.5)) == []  # above the floor, 9% of a 50 ms ITL
    assert "event loop lags" in " ".join(host_noise(_lag(slow, 6.0)))  # 12% of it


def test_server_tpot_spread_from_its_histogram():
    before = Scrape(0.0, {}, {})
    buckets = [(0.01, 50.0), (0.02, 90.0), (0.05, 100.0), (float("inf"), 100.0)]
    after = Scrape(1.0, {"vllm:request_time_per_output_token_seconds_count": 100.0, "vllm:request_time_per_output_token_seconds_sum": 1.2},
                   {"vllm:request_time_per_output_token_seconds": buckets})
    out = server_summary(before, after, [after])
    assert out["tpot_s_spread"] > 0.5
    assert "time per output token spread" in (noisy_server(out) or "")
    assert noisy_server({"tpot_s_spread": 0.1}) is None and noisy_server({}) is None
