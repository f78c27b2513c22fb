"""The measured window is as long as the spec says, and throughput counts the tokens that arrived inside it.

Locust once stopped ~1.8 s before its `--run-time` (its timer counted from an event-loop clock gone stale while the
process imported; harness/loadgen/chat_user.py `_init`), so a spec's "12 s" window was really ~10 s.
"""

from __future__ import annotations

import pytest

from harness.load.runner import LoadRun
from harness.load.window import tokens_between
from harness.spec.model import LengthDist, LoadSpec


def test_the_measured_window_is_the_specs(fake_server, tmp_path):
    ep, _ = fake_server(ttft_s=0.005, interval_s=0.002, chunks=8)
    spec = LoadSpec(users=4, spawn_rate=100, warmup_s=1, duration_s=4, prompt_tokens=LengthDist(mean=20),
                    output_tokens=LengthDist(mean=8, max=8), request_timeout_s=10)
    run = LoadRun(spec, ep, tmp_path).start()
    result = run.finish()
    s = result.summary
    assert s.errors == 0 and s.requests > 20
    assert "not launched on this host" in run.affinity  # an attached (fake) server: Locust is not pinned
    # the window the summary measured, and the load's own first and last timestamps, against the spec's
    assert s.window_s >= 0.9 * spec.measured_s(), (s.window_s, spec.measured_s())
    first = min(r.t_start for r in result.records)
    last = max(r.t_start + r.chunk_offsets_s[-1] for r in result.records if r.chunk_offsets_s)
    assert last - first >= 0.9 * spec.run_s(), (last - first, spec.run_s())
    assert last >= result.window_end - 0.1 * spec.measured_s()
    # throughput is the tokens that arrived inside the window, per second of it
    inside = tokens_between(result.records, result.window_start, result.window_start + s.window_s)
    assert s.output_tokens_per_s == pytest.approx(inside / s.window_s)
    assert s.warmup_s == 1 and s.output_tokens_per_s_split_half_sd >= 0
    assert "perf/window_s" in s.flat_metrics()


def test_warm_up_until_settled_starts_the_window_where_the_rate_settled(fake_server, tmp_path):
    ep, _ = fake_server(ttft_s=0.005, interval_s=0.002, chunks=8)
    spec = LoadSpec(users=2, spawn_rate=100, warmup_s=0.5, duration_s=2, prompt_tokens=LengthDist(mean=20),
                    output_tokens=LengthDist(mean=8, max=8), request_timeout_s=10,
                    warmup={"max_s": 3, "sub_window_s": 0.5, "windows": 2, "tolerance": 0.5})
    result = LoadRun(spec, ep, tmp_path).start().finish()
    s = result.summary
    assert 0.5 <= s.warmup_s <= 3 and result.window_end - result.window_start == pytest.approx(2.0)
    assert s.requests > 5 and s.excluded_warmup > 0 and s.window_s >= 0.9 * 2.0
