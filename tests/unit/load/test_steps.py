"""Per-step summaries of `pattern: steps`, on hand-built records."""

from __future__ import annotations

import pytest

from harness.loadgen.record import RequestRecord
from harness.load.runner import step_results
from harness.spec.load import LoadSpec


def _rec(t: float, ttft: float) -> RequestRecord:
    return RequestRecord(t_start=t, ok=True, ttft_s=ttft, chunk_offsets_s=[ttft, ttft + 0.01], e2e_s=ttft + 0.01, prompt_tokens=5, completion_tokens=2)


def test_records_are_split_by_the_step_they_started_in():
    spec = LoadSpec(pattern="steps", warmup_s=1, steps=[{"duration_s": 2, "rate": 1}, {"duration_s": 3, "rate": 4}], users=4)
    t0 = 1000.0
    recs = [_rec(t0 + t, ttft) for t, ttft in [(0.5, 9), (1.2, 0.1), (1.9, 0.1), (2.0, 0.3), (4.9, 0.5), (5.1, 7)]]
    first, second = step_results(spec, recs, t0)
    assert (first.start_s, first.end_s, first.rate, first.users) == (1, 2, 1, None)  # warm-up cut into step 0
    assert first.summary.requests == 2 and first.summary.ttft_ms.p50 == pytest.approx(100)
    assert (second.start_s, second.end_s, second.offered) == (2, 5, 4)
    assert second.summary.requests == 2 and second.summary.ttft_ms.max == pytest.approx(500)  # 5.1 s is after the run


def test_a_step_inside_the_warmup_is_left_out_and_other_patterns_have_none():
    spec = LoadSpec(pattern="steps", warmup_s=3, steps=[{"duration_s": 2, "users": 1}, {"duration_s": 3, "users": 2}])
    (only,) = step_results(spec, [_rec(1003.5, 0.1)], 1000.0)
    assert only.index == 1 and only.start_s == 3 and only.summary.requests == 1
    assert step_results(LoadSpec(), [_rec(1000.0, 0.1)], 1000.0) == []
