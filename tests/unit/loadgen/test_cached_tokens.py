"""Cached prompt tokens per request: `usage.prompt_tokens_details.cached_tokens` of the final usage chunk, kept in the
record (None when the server did not say), carried through the JSONL, summed into `perf/cached_prompt_tokens_rate`."""

from __future__ import annotations

import json
import math

import pytest

from harness.load.stats import summarize
from harness.loadgen.record import RequestRecord
from harness.loadgen.sse import cached_prompt_tokens
from harness.loadgen.timeline import StreamTimeline

ROLE = b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'
TOKEN = b'data: {"choices":[{"index":0,"delta":{"content":" hi"}}]}\n\n'
FINISH = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}\n\n'
DONE = b"data: [DONE]\n\n"


def _usage_chunk(usage: dict) -> bytes:
    # vLLM 0.26.0's final usage chunk (stream_options.include_usage): empty choices, the usage
    return b"data: " + json.dumps({"id": "chatcmpl-1", "object": "chat.completion.chunk", "choices": [], "usage": usage}).encode() + b"\n\n"


def _play(usage: dict, step: int = 5) -> RequestRecord:
    raw = ROLE + TOKEN + TOKEN + FINISH + _usage_chunk(usage) + DONE
    tl = StreamTimeline(RequestRecord(t_start=1000.0))
    for i in range(0, len(raw), step):
        tl.feed(0.01 * (i + 1), raw[i:i + step])
    return tl.finish(1.0)


@pytest.mark.parametrize(("usage", "cached"), [
    ({"prompt_tokens": 42, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 32}}, 32),
    ({"prompt_tokens": 42, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 0}}, 0),
    ({"prompt_tokens": 42, "completion_tokens": 2}, None),  # vLLM without --enable-prompt-tokens-details, llama.cpp
    ({"prompt_tokens": 42, "completion_tokens": 2, "prompt_tokens_details": None}, None),
    ({"prompt_tokens": 42, "completion_tokens": 2, "prompt_tokens_details": {"audio_tokens": 0}}, None),
    ({"prompt_tokens": 42, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": None}}, None),
    ({"prompt_tokens": 42, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": "32"}}, None),
    ({"prompt_tokens": 42, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": True}}, None),
])
def test_cached_tokens_from_the_final_usage_chunk(usage, cached):
    assert cached_prompt_tokens(usage) == cached
    rec = _play(usage)
    assert rec.ok and rec.prompt_tokens == 42 and rec.completion_tokens == 2
    assert rec.cached_prompt_tokens == cached
    # through the JSONL the Locust process writes and the harness reads back
    assert RequestRecord.from_dict(json.loads(rec.to_json())).cached_prompt_tokens == cached


def test_an_older_record_without_the_field_reads_as_not_said():
    old = {"t_start": 1.0, "ok": True, "prompt_tokens": 10, "completion_tokens": 3}
    assert RequestRecord.from_dict(old).cached_prompt_tokens is None


def _rec(t: float, prompt: int, cached: int | None, ok: bool = True) -> RequestRecord:
    return RequestRecord(t_start=t, ok=ok, ttft_s=0.1, e2e_s=0.5, prompt_tokens=prompt, completion_tokens=4 if ok else None,
                         chunk_offsets_s=[0.1, 0.2, 0.3, 0.4], cached_prompt_tokens=cached, error=None if ok else "HTTP 500: x")


def test_rate_is_cached_over_prompt_tokens_of_the_requests_that_said():
    recs = [_rec(0.0, 100, 80), _rec(1.0, 100, 90),  # warm-up: left out
            _rec(10.0, 100, 50), _rec(11.0, 300, 250), _rec(12.0, 400, None),  # the last did not say: not in the sample
            _rec(13.0, 100, 100, ok=False)]  # a failed request: not in the sample
    s = summarize(recs, window_start=5.0, window_end=20.0)
    assert s.cached_prompt_reported == 2
    assert s.cached_prompt_tokens_rate == pytest.approx(300 / 400)
    flat = s.flat_metrics()
    assert flat["perf/cached_prompt_tokens_rate"] == pytest.approx(0.75) and flat["perf/cached_prompt_reported"] == 2
    assert flat["perf/cached_prompt_tokens_rate"].fact.direction == "higher"


def test_no_request_said_no_rate():
    s = summarize([_rec(10.0, 100, None), _rec(11.0, 100, None)], window_start=5.0, window_end=20.0)
    assert s.cached_prompt_reported == 0 and math.isnan(s.cached_prompt_tokens_rate)
    flat = s.flat_metrics()
    assert "perf/cached_prompt_tokens_rate" not in flat and flat["perf/cached_prompt_reported"] == 0


def test_ttft_of_cache_hits_beside_misses():
    def rec(t: float, prompt: int, cached: int | None, ttft: float) -> RequestRecord:
        r = _rec(t, prompt, cached)
        r.ttft_s = ttft
        return r

    # a hit: at least half the prompt cached (llama.cpp's cold prompt still reports its template's first tokens)
    recs = [rec(10.0, 300, 280, 0.02), rec(11.0, 300, 150, 0.04), rec(12.0, 300, 3, 0.5), rec(13.0, 300, 0, 0.7),
            rec(14.0, 300, None, 9.0)]  # did not say: in neither
    s = summarize(recs, window_start=5.0, window_end=20.0)
    assert s.cache_hit_request_rate == pytest.approx(2 / 4)
    assert s.ttft_p50_ms_cache_hit == pytest.approx(30.0) and s.ttft_p50_ms_cache_miss == pytest.approx(600.0)
    flat = s.flat_metrics()
    assert flat["perf/ttft_p50_ms_cache_hit"].fact.direction == "lower" and flat["perf/ttft_p50_ms_cache_miss"] == pytest.approx(600.0)
    only_hits = summarize(recs[:2], window_start=5.0, window_end=20.0).flat_metrics()
    assert only_hits["perf/cache_hit_request_rate"] == 1.0 and "perf/ttft_p50_ms_cache_miss" not in only_hits
