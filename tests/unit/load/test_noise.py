"""Host-noise warnings: each names its source, and a quiet host gets none."""

from __future__ import annotations

from dataclasses import replace

from harness.load.noise import host_noise
from harness.load.stats import Distribution, summarize
from harness.loadgen.record import RequestRecord
from harness.server.metrics import Scrape, noisy_server, summarize as server_summary


def _quiet():
    recs = [RequestRecord(t * 0.1, ok=True, ttft_s=0.01, chunk_offsets_s=[0.01 * (i + 1) for i in range(10)], e2e_s=0.1,
                          completion_tokens=10, prompt_tokens=5) for t in range(400)]
    return replace(summarize(recs, 0.0, 40.0), host_steal_pct=0.1, client_lag_ms=Distribution.of_seconds([0.0001] * 10))


def test_a_quiet_host_gets_no_warning():
    assert host_noise(_quiet()) == []


def test_each_noisy_source_is_named():
    quiet = _quiet()
    assert "CPU steal 3.0%" in " ".join(host_noise(replace(quiet, host_steal_pct=3.0)))
    lagging = replace(quiet, client_lag_ms=Distribution.of_seconds([0.002] * 10))  # 2 ms against a 10 ms TPOT
    assert "event loop lags" in " ".join(host_noise(lagging))
    assert host_noise(lagging, margin=0.5) == []  # a wide margin tolerates it
    assert "wanders within the window" in " ".join(host_noise(replace(quiet, output_tokens_per_s_split_half_sd=0.05)))


def test_server_tpot_spread_from_its_histogram():
    before = Scrape(0.0, {}, {})
    buckets = [(0.01, 50.0), (0.02, 90.0), (0.05, 100.0), (float("inf"), 100.0)]
    after = Scrape(1.0, {"vllm:request_time_per_output_token_seconds_count": 100.0, "vllm:request_time_per_output_token_seconds_sum": 1.2},
                   {"vllm:request_time_per_output_token_seconds": buckets})
    out = server_summary(before, after, [after])
    assert out["tpot_s_spread"] > 0.5
    assert "time per output token spread" in (noisy_server(out) or "")
    assert noisy_server({"tpot_s_spread": 0.1}) is None and noisy_server({}) is None
