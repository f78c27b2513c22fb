"""Every metric of docs/metrics.md on hand-built stream timelines (bytes with arrival offsets)."""

from __future__ import annotations

import json
import math

import pytest

from harness.loadgen.record import RequestRecord
from harness.load.stats import meets_slo, summarize, tpot_s
from harness.loadgen.timeline import StreamTimeline
from harness.spec.load import SLOSpec


def _ev(obj) -> bytes:
    return f"data: {obj if isinstance(obj, str) else json.dumps(obj)}\n\n".encode()


def _content(text: str) -> bytes:
    return _ev({"choices": [{"index": 0, "delta": {"content": text}}]})


def _reasoning(text: str) -> bytes:
    return _ev({"choices": [{"index": 0, "delta": {"reasoning_content": text}}]})


def _usage(n: int, p: int = 5) -> bytes:
    return _ev({"choices": [], "usage": {"prompt_tokens": p, "completion_tokens": n}})


def _play(events, end: float, t_start: float = 1000.0) -> RequestRecord:
    tl = StreamTimeline(RequestRecord(t_start=t_start), keep_text=True)
    for t, raw in events:
        tl.feed(t, raw)
    return tl.finish(end)


ROLE = _ev({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
DONE = _ev("[DONE]")


def test_ttft_itl_tpot_from_a_timeline_with_empty_chunks():
    rec = _play([(0.02, ROLE), (0.10, _content("a")), (0.12, _ev({"choices": [{"delta": {"content": ""}}]})),
                 (0.15, _content("b")), (0.30, _content("c")), (0.31, _usage(4)), (0.31, DONE)], end=0.32)
    assert rec.ok and rec.ttft_s == pytest.approx(0.10)  # the empty role chunk and empty content are not "first token"
    assert rec.chunk_offsets_s == pytest.approx([0.10, 0.15, 0.30])  # empty chunks are not ITL points
    s = summarize([rec])
    assert s.itl_ms.count == 2 and s.itl_ms.p50 == pytest.approx(100.0)  # gaps 50 and 150 ms
    assert tpot_s(rec) == pytest.approx((0.32 - 0.10) / 3)  # N from usage (4), not from chunks (3)
    assert s.chunk_token_diff_pct == pytest.approx(-25.0)  # 3 chunks vs 4 tokens in usage
    assert s.e2e_ms.max == pytest.approx(320.0)


def test_single_token_has_no_tpot():
    rec = _play([(0.1, _content("x")), (0.1, _usage(1)), (0.1, DONE)], end=0.11)
    assert rec.ok and tpot_s(rec) is None
    s = summarize([rec])
    assert s.tpot_ms.count == 0 and math.isnan(s.tpot_ms.p50) and s.ttft_ms.count == 1


def test_usage_missing_keeps_latency_but_no_token_metrics():
    rec = _play([(0.1, _content("x")), (0.2, _content("y")), (0.2, DONE)], end=0.21)
    assert rec.ok and rec.completion_tokens is None and tpot_s(rec) is None
    s = summarize([rec])
    assert s.usage_missing == 1 and s.output_tokens_per_s == 0 and s.ttft_ms.count == 1 and math.isnan(s.chunk_token_diff_pct)


def test_error_mid_stream_is_an_error_not_a_latency_sample():
    rec = _play([(0.1, _content("x")), (0.2, _ev({"error": {"message": "oom"}})), (0.2, DONE)], end=0.25)
    assert not rec.ok and "oom" in rec.error
    dropped = _play([(0.1, _content("x"))], end=0.2)  # connection closed: no usage, no [DONE]
    assert not dropped.ok and dropped.error.startswith("IncompleteStream")
    s = summarize([rec, dropped])
    assert s.errors == 2 and s.error_rate == 1.0 and s.ttft_ms.count == 0


def test_reasoning_is_timed_separately_from_ttft():
    rec = _play([(0.05, _reasoning("hmm")), (0.08, _reasoning("so")), (0.20, _content("42")), (0.2, _usage(3)), (0.2, DONE)], end=0.21)
    assert rec.first_reasoning_s == pytest.approx(0.05) and rec.ttft_s == pytest.approx(0.20)
    assert rec.chunk_offsets_s == [pytest.approx(0.20)]
    s = summarize([rec])
    assert s.ttfr_ms.p50 == pytest.approx(50.0) and s.ttft_ms.p50 == pytest.approx(200.0)


def test_event_split_across_reads_is_timed_when_complete():
    raw = _content("hello")
    rec = _play([(0.1, raw[:7]), (0.2, raw[7:]), (0.2, _usage(1)), (0.2, DONE)], end=0.2)
    assert rec.ttft_s == pytest.approx(0.2)


def _rec(t, ttft, e2e, n, ok=True, **kw):
    return RequestRecord(t_start=t, ok=ok, ttft_s=ttft, e2e_s=e2e, completion_tokens=n, prompt_tokens=10, chunk_offsets_s=[ttft], **kw)


def test_goodput_counts_requests_meeting_every_slo():
    slo = SLOSpec(ttft_ms=200, tpot_ms=50)
    recs = [
        _rec(0.0, 0.1, 0.5, 10),   # ttft 100, tpot 44.4: good
        _rec(0.5, 0.3, 0.5, 10),   # ttft 300: bad
        _rec(1.0, 0.1, 1.0, 10),   # tpot 100: bad
        _rec(1.5, 0.1, 0.2, 1),    # N = 1: TPOT undefined, cannot violate: good
        RequestRecord(t_start=1.8, ok=False, error="HTTP 500", e2e_s=0.2),
    ]
    assert [meets_slo(r, slo) for r in recs] == [True, False, False, True, False]
    s = summarize(recs, slo=slo)
    assert s.slo_attainment == pytest.approx(2 / 5)
    assert s.goodput_per_s == pytest.approx(2 / s.window_s)  # window 0 -> 2.0 s
    assert s.window_s == pytest.approx(2.0)
    assert "perf/goodput_per_s" in s.flat_metrics()
    no_slo = summarize(recs)
    assert math.isnan(no_slo.goodput_per_s) and "perf/goodput_per_s" not in no_slo.flat_metrics()


def test_send_lag_and_all_reported_statistics():
    recs = [_rec(float(i), 0.1, 0.5, 5, send_lag_s=i / 1000) for i in range(101)]
    s = summarize(recs)
    assert s.send_lag_ms.p50 == pytest.approx(50.0) and s.send_lag_ms.p99 == pytest.approx(99.0) and s.send_lag_ms.max == pytest.approx(100.0)
    m = s.flat_metrics()
    for stat in ("mean", "p50", "p90", "p95", "p99", "max"):
        assert f"perf/ttft_{stat}_ms" in m and f"perf/send_lag_{stat}_ms" in m
