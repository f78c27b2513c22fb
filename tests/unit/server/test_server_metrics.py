"""Metric parsing, name mapping and histogram quantiles against real vLLM 0.26.0 captures."""

from __future__ import annotations

import math

import pytest

from harness.server.metrics import histogram_quantile, parse_metrics, summarize


def test_quantile_interpolates_like_prometheus():
    buckets = [(1.0, 10.0), (2.0, 20.0), (math.inf, 20.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(1.0)
    assert histogram_quantile(0.75, buckets) == pytest.approx(1.5)
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.5)
    assert histogram_quantile(0.5, [(1.0, 0.0), (math.inf, 0.0)]) is None
    # everything above the last finite bound: the bound is reported
    assert histogram_quantile(0.9, [(1.0, 0.0), (math.inf, 5.0)]) == 1.0


def test_lowest_bucket_is_bounded_by_the_sum():
    # 100 observations of ~0.01 ms in vLLM's first queue-time bucket [0, 0.3 s]
    buckets = [(0.3, 100.0), (0.5, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.15)  # plain Prometheus interpolation
    assert histogram_quantile(0.5, buckets, total_sum=0.001) == pytest.approx(1e-5)
    # values spread over the bucket (mean 0.15 s): the plain estimate is kept
    assert histogram_quantile(0.5, buckets, total_sum=15.0) == pytest.approx(0.15)
    # observations above the first bucket count at least their lower edge, leaving little for the first
    mixed = [(0.3, 50.0), (0.5, 100.0), (math.inf, 100.0)]
    assert histogram_quantile(0.25, mixed, total_sum=50 * 0.3 + 0.05) == pytest.approx(0.5 * 2 * 0.05 / 50)
    # a quantile beyond the first bucket is unaffected
    assert histogram_quantile(0.75, mixed, total_sum=20.0) == pytest.approx(0.4)


def test_parse_sums_label_sets_and_skips_created(vllm_fixtures):
    s = parse_metrics((vllm_fixtures / "metrics_after_load_seqs8.txt").read_text(), t=1.0)
    assert s.samples["vllm:prompt_tokens_total"] == pytest.approx(228841.0)
    assert not any(k.endswith("_created") for k in s.samples)
    # request_success_total has one label set per finished_reason: summed
    assert s.samples["vllm:request_success_total"] >= 801
    assert s.buckets["vllm:request_queue_time_seconds"][-1][0] == math.inf


def test_window_summary_from_idle_to_after_load(vllm_fixtures):
    idle = parse_metrics((vllm_fixtures / "metrics_idle.txt").read_text(), t=0.0)
    after = parse_metrics((vllm_fixtures / "metrics_after_load_seqs8.txt").read_text(), t=10.0)
    m = summarize(idle, after, [idle, after])
    assert m["prompt_tokens"] == pytest.approx(228841.0)
    assert m["queue_time_s_count"] == pytest.approx(801.0)
    # README of the capture: queue time sum 2,677 s over 801 requests
    assert m["queue_time_s_mean"] == pytest.approx(2677.2775698829996 / 801)
    assert m["queue_time_s_p50"] > 1.0  # seqs8 at 64 req/s: queueing dominates
    assert 0 < m["prefix_cache_hit_rate"] < 0.1  # ~6% per the capture README
    for key in ("ttft_s_p50", "itl_s_p99", "tpot_s_p90", "e2e_s_p50", "prefill_s_mean", "decode_s_mean"):
        assert key in m
    assert m["requests_running_max"] == 0.0 and "kv_cache_usage_mean" in m


def test_default_config_queue_time_is_near_zero(vllm_fixtures):
    idle = parse_metrics((vllm_fixtures / "metrics_idle.txt").read_text(), t=0.0)
    after = parse_metrics((vllm_fixtures / "metrics_after_load_default.txt").read_text(), t=1.0)
    m = summarize(idle, after, [after])
    assert m["queue_time_s_mean"] < 0.001
    # not 0.15 s (the middle of the first bucket [0, 0.3 s]): bounded by the window's sum
    assert m["queue_time_s_p50"] < 0.001 and m["queue_time_s_p99"] < 0.001
    # server-side TPOT p50 in the range vllm bench serve measured on that server (1.9 ms at 16 req/s, 5.7 at 64)
    assert 0.0015 < m["tpot_s_p50"] < 0.006


LLAMACPP_SAMPLE = """# HELP llamacpp:prompt_tokens_total Number of prompt tokens processed.
# TYPE llamacpp:prompt_tokens_total counter
llamacpp:prompt_tokens_total 120
# HELP llamacpp:tokens_predicted_total Number of generation tokens processed.
# TYPE llamacpp:tokens_predicted_total counter
llamacpp:tokens_predicted_total 300
# HELP llamacpp:requests_processing Number of requests processing.
# TYPE llamacpp:requests_processing gauge
llamacpp:requests_processing {busy}
# HELP llamacpp:requests_deferred Number of requests deferred.
# TYPE llamacpp:requests_deferred gauge
llamacpp:requests_deferred 0
"""


def test_llamacpp_names_map():
    a = parse_metrics(LLAMACPP_SAMPLE.format(busy=0), t=0)
    b = parse_metrics(LLAMACPP_SAMPLE.format(busy=4).replace(" 300", " 400"), t=5)
    m = summarize(a, b, [a, b])
    assert m["generation_tokens"] == 100 and m["prompt_tokens"] == 0
    assert m["requests_running_mean"] == 2 and m["requests_running_max"] == 4
