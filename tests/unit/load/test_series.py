"""Time series over the load (MLflow metric history): the client's intervals from hand-built records, the server's
per-scrape values, the names the contract derives, and the history a real (SQLite) MLflow store keeps."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.load.records import RequestRecord
from harness.load.series import interval_s, record_series
from harness.load.stats import summarize
from harness.server.metrics import Scrape, ScrapeResult, parse_metrics
from harness.tracking import contract

T0 = 1_700_000_000.0


def _ok(t: float, ttft: float, gap: float, n: int, prompt: int = 10) -> RequestRecord:
    """A successful request sent at T0 + t: first token after `ttft`, then one chunk (= one token) every `gap`."""
    offs = [ttft + i * gap for i in range(n)]
    return RequestRecord(T0 + t, ok=True, status=200, ttft_s=ttft, chunk_offsets_s=offs, e2e_s=offs[-1],
                         prompt_tokens=prompt, completion_tokens=n)


def _points(series, name):
    return [(p.step, round(p.value, 4)) for p in series[name]]


def test_client_intervals_place_each_value_when_the_client_knew_it():
    records = [
        _ok(0.0, 0.5, 0.25, 7),     # ends at 2.0: TTFT in interval 0, end (TPOT, E2E) in interval 2
        _ok(1.2, 0.3, 0.1, 5),      # 1.5 .. 1.9: all in interval 1
        RequestRecord(T0 + 2.2, ok=False, status=500, error="HTTPError: 500", e2e_s=0.1),  # an error ending in interval 2
        _ok(-1.0, 0.1, 0.1, 3),     # started before the window: left out, like the summary leaves it out
        _ok(3.0, 0.2, 0.2, 6),      # started after the window's end: left out
    ]
    s = record_series(records, T0, T0 + 3.0)
    assert interval_s(2.3) == 1.0 and interval_s(60.0) == 5.0
    assert _points(s, "perf/ttft_p50_ms") == [(0, 500.0), (1, 300.0)]
    assert _points(s, "perf/e2e_p99_ms") == [(1, 700.0), (2, 2000.0)]
    assert _points(s, "perf/tpot_p50_ms") == [(1, 100.0), (2, 250.0)]
    assert _points(s, "perf/requests_per_s") == [(0, 0.0), (1, 1.0), (2, round(1 / 0.3, 4))]  # the last interval lasts 0.3 s
    assert _points(s, "perf/errors_per_s") == [(0, 0.0), (1, 0.0), (2, round(1 / 0.3, 4))]
    # ITL gaps at the chunk closing them: request 1's chunks at 0.5, 0.75 | 1.0 ... 1.75 | 2.0 (gaps 0.25 s), request 2's
    # five in interval 1 (gaps 0.1 s): interval 1 pools 4 + 4 gaps, its median half way between 0.1 and 0.25
    assert _points(s, "perf/itl_p50_ms") == [(0, 250.0), (1, 175.0), (2, 250.0)]
    # tokens at their chunks: interval 0 holds 2 chunks of request 1, interval 1: 4 of request 1 and 5 of request 2
    assert _points(s, "perf/output_tokens_per_s") == [(0, 2.0), (1, 9.0), (2, round(1 / 0.3, 4))]
    total = sum(p.value * (0.3 if p.step == 2 else 1.0) for p in s["perf/output_tokens_per_s"])
    assert total == pytest.approx(7 + 5) == summarize(records, T0, T0 + 3.0).output_tokens_per_s * 2.3
    # in flight: request 1 the whole of 0..2, request 2 for 0.7 s of interval 1, the error for 0.1 s of interval 2
    assert _points(s, "perf/in_flight") == [(0, 1.0), (1, 1.7), (2, round(0.1 / 0.3, 4))]
    assert all(p.t == T0 + p.step for p in s["perf/in_flight"])  # the timestamp is the interval's start


def test_an_interval_without_a_value_has_no_percentile_and_long_loads_get_5_s_intervals():
    records = [_ok(t, 0.2, 0.1, 4) for t in (0.0, 1.0, 2.0)] + [_ok(70.0, 0.4, 0.1, 4)]
    s = record_series(records, T0, T0 + 80.0)
    assert [p.step for p in s["perf/requests_per_s"]] == list(range(0, 75, 5))
    assert _points(s, "perf/ttft_p95_ms") == [(0, 200.0), (70, 400.0)]  # nothing between: no point, not a zero
    assert record_series([], T0, T0 + 1.0) == {} and record_series(records, T0 + 100, T0 + 200) == {}


def _scrape(t: float, running: float, waiting: float, kv: float, queue_count: float, queue_sum: float, gen: float) -> Scrape:
    text = f"""# TYPE vllm:num_requests_running gauge
vllm:num_requests_running {running}
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting {waiting}
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc {kv}
# TYPE vllm:generation_tokens_total counter
vllm:generation_tokens_total {gen}
# TYPE vllm:request_queue_time_seconds histogram
vllm:request_queue_time_seconds_bucket{{le="0.5"}} {queue_count}
vllm:request_queue_time_seconds_bucket{{le="+Inf"}} {queue_count}
vllm:request_queue_time_seconds_count {queue_count}
vllm:request_queue_time_seconds_sum {queue_sum}
"""
    return parse_metrics(text, t)


def test_server_series_per_scrape_gauges_histogram_means_and_counter_rates():
    scrapes = (_scrape(T0 - 1, 0, 0, 0.0, 0, 0.0, 0), _scrape(T0 + 2, 4, 1, 0.25, 4, 0.4, 300),
               _scrape(T0 + 4, 8, 3, 0.5, 10, 1.6, 700), _scrape(T0 + 9, 0, 0, 0.1, 10, 1.6, 700))
    result = ScrapeResult({}, 4, 0, Path("metrics.jsonl"), series=scrapes)
    h = result.history(T0, T0 + 5)
    assert _points(h, "server/requests_running") == [(2, 4.0), (4, 8.0)]  # the scrapes before and after the window: out
    assert _points(h, "server/requests_waiting") == [(2, 1.0), (4, 3.0)]
    assert _points(h, "server/kv_cache_usage") == [(2, 0.25), (4, 0.5)]
    # since the previous scrape (the one before the window counts as the first one's previous)
    assert _points(h, "server/queue_time_s_mean") == [(2, 0.1), (4, 0.2)]
    assert _points(h, "server/generation_tokens_per_s") == [(2, 100.0), (4, 200.0)]
    assert {"series/" + n for n in h} <= contract.SERIES
    assert ScrapeResult({}, 0, 0, Path("m")).history(T0) == {}


def test_the_outcome_names_its_series_by_family_and_the_contract_knows_them(tmp_path):
    from harness.outcome import RepeatedOutcome, VariantOutcome
    from harness.load.runner import LoadArtifacts, LoadResult
    from harness.server.gpu_summary import GpuReading, GpuSample, summarize as gpu_summary
    from harness.spec import build_spec, resolve_variants

    (variant,) = resolve_variants(build_spec({"name": "s"}, {}, []))
    records = [_ok(t, 0.2, 0.1, 5) for t in (0.0, 0.5, 1.0, 1.5, 2.0)]
    load = LoadResult(summarize(records, T0, T0 + 3), records, T0, T0 + 3, 0, LoadArtifacts.in_folder(tmp_path))
    scrapes = (_scrape(T0, 1, 0, 0.1, 1, 0.1, 10), _scrape(T0 + 2, 2, 1, 0.2, 3, 0.5, 60))
    samples = [GpuSample(T0 + i * 0.5, (GpuReading(0, "NVIDIA H200", 300.0 + i, 80.0, 70.0, 1980.0),)) for i in range(6)]
    out = VariantOutcome(variant, tmp_path, load=load, scrape=ScrapeResult({}, 2, 0, Path("m"), series=scrapes),
                         gpu=gpu_summary(samples, (T0, T0 + 3)))
    series = out.series()
    assert contract.SERIES_TTFT_P95_MS in series and contract.SERIES_REQUESTS_RUNNING in series
    assert contract.SERIES_GPU_POWER_W in series and all(name.startswith("series/") for name in series)
    assert set(series) <= contract.SERIES  # every name it writes is declared
    assert [p.step for p in series[contract.SERIES_GPU_POWER_W]] == [0, 1, 2]
    assert not any(contract.is_metric(n) for n in contract.SERIES) and contract.is_series("series/perf/itl_p99_ms")
    with pytest.raises(ValueError, match="not a time series"):
        contract.SeriesName("series/perf/ttft_p42_ms")
    assert RepeatedOutcome(variant, tmp_path, repeats=[out], blocks=[0]).series() == {}  # each repeat's run has its own
    assert VariantOutcome(variant, tmp_path).series() == {}


def test_the_writer_logs_the_series_as_metric_history_and_the_reader_keeps_them_apart(tmp_path):
    from harness.load.runner import LoadArtifacts, LoadResult
    from harness.outcome import VariantOutcome
    from harness.spec import build_spec, resolve_variants
    from harness.tracking.mlflow_logger import SweepLogger
    from harness.tracking.reader import read_runs

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = build_spec({"name": "series", "tracking": {"uri": uri}}, {}, [])
    (variant,) = resolve_variants(spec)
    records = [_ok(t * 0.5, 0.2, 0.1, 5) for t in range(12)]
    load = LoadResult(summarize(records, T0, T0 + 6), records, T0, T0 + 6, 0, LoadArtifacts.in_folder(tmp_path / "v" / "load"))
    scrapes = tuple(_scrape(T0 + 2 * i, i, 0, 0.1 * i, i, 0.1 * i, 50 * i) for i in range(4))
    out = VariantOutcome(variant, tmp_path / "v", load=load, scrape=ScrapeResult({}, 4, 0, Path("m"), series=scrapes))
    log = SweepLogger(spec, [variant])
    parent = log.start_sweep(tmp_path)
    run_id = log.start_variant(variant)
    log.finish_variant(run_id, out)
    history = log.client.get_metric_history(run_id, contract.SERIES_OUTPUT_TOKENS_PER_S)
    assert [m.step for m in history] == [0, 1, 2, 3, 4, 5, 6] and all(m.timestamp == int((T0 + m.step) * 1000) for m in history)
    assert sum(m.value for m in history[:-1]) + history[-1].value * 0.1 == pytest.approx(12 * 5)
    kv = log.client.get_metric_history(run_id, contract.SERIES_KV_CACHE_USAGE)
    assert [(m.step, round(m.value, 3)) for m in kv] == [(0, 0.0), (2, 0.1), (4, 0.2), (6, 0.3)]
    final = log.client.get_metric_history(run_id, "perf/output_tokens_per_s")
    assert len(final) == 1 and final[0].step == 0  # the final values stay one value at step 0
    (run,) = read_runs(uri, [parent]).runs
    assert not any(k.startswith("series/") for k in run.metrics) and run.metrics["perf/requests_per_s"] == pytest.approx(11 / 6)  # ended inside [T0, T0 + 6]
    assert (tmp_path / "v" / "results.json").read_text().count("series/perf/ttft_p95_ms") == 1  # harness sync logs it too
