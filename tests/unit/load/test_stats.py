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
    # window: 101 -> last end 104.0 = 3 s; 30 output tokens
    assert s.window_s == pytest.approx(3.0)
    assert s.output_tokens_per_s == pytest.approx(10.0)
    assert s.requests_per_s == pytest.approx(1.0)
    m = s.flat_metrics()
    assert m["perf/ttft_p50_ms"] == pytest.approx(100.0)
    assert "perf/error_rate" in m and "perf/ttft_count_ms" not in m


def test_summary_of_nothing():
    s = summarize([])
    assert s.requests == 0 and s.error_rate == 0 and s.output_tokens_per_s == 0
    assert "perf/ttft_p50_ms" not in s.flat_metrics()
