"""The one place that maps engine metric names to the harness's names.

Names differ between engines and between versions of one engine; each harness name lists
its candidates in order, and the first one present in a scrape wins.
Checked against vLLM 0.26.0 captures and llama.cpp's llama-server `--metrics`.
"""

from __future__ import annotations

# gauges: sampled over the window -> mean and max
GAUGES: dict[str, list[str]] = {
    "requests_running": ["vllm:num_requests_running", "llamacpp:requests_processing"],
    "requests_waiting": ["vllm:num_requests_waiting", "llamacpp:requests_deferred"],
    "kv_cache_usage": ["vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc", "llamacpp:kv_cache_usage_ratio"],
    "kv_cache_tokens": ["llamacpp:kv_cache_tokens"],
    "busy_slots_per_decode": ["llamacpp:n_busy_slots_per_decode"],
}

# counters: delta over the window (sample names, *_total)
COUNTERS: dict[str, list[str]] = {
    "prompt_tokens": ["vllm:prompt_tokens_total", "llamacpp:prompt_tokens_total"],
    "generation_tokens": ["vllm:generation_tokens_total", "llamacpp:tokens_predicted_total"],
    "prefix_cache_queries": ["vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"],
    "prefix_cache_hits": ["vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"],
    "prompt_tokens_cached": ["vllm:prompt_tokens_cached_total", "llamacpp:prompt_tokens_cached_total"],
    "preemptions": ["vllm:num_preemptions_total"],
    "requests_success": ["vllm:request_success_total"],
    "decode_calls": ["llamacpp:n_decode_total"],
    "prompt_seconds": ["llamacpp:prompt_seconds_total"],
    "generation_seconds": ["llamacpp:tokens_predicted_seconds_total"],
}

# histograms (base names, without _bucket/_sum/_count): window deltas -> mean and quantiles
HISTOGRAMS: dict[str, list[str]] = {
    "queue_time_s": ["vllm:request_queue_time_seconds"],
    "ttft_s": ["vllm:time_to_first_token_seconds"],
    "itl_s": ["vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"],
    "tpot_s": ["vllm:request_time_per_output_token_seconds"],
    "e2e_s": ["vllm:e2e_request_latency_seconds"],
    "prefill_s": ["vllm:request_prefill_time_seconds"],
    "decode_s": ["vllm:request_decode_time_seconds"],
    "inference_s": ["vllm:request_inference_time_seconds"],
}

HISTOGRAM_QUANTILES = (0.5, 0.9, 0.99)
