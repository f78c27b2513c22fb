"""Trace replay through the real Locust process against the programmed streaming server: a trace in each adapter format
(harness JSONL, Mooncake JSONL, Azure CSV) is replayed at speedup 2; the raw records show the arrivals follow the trace,
max_tokens is each row's output length, each prompt has the row's input length (one word per token), and the send lag
is recorded for every request."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest

from harness.load.runner import LoadRun
from harness.spec.model import LoadSpec

pytestmark = pytest.mark.integration

# (trace seconds, input tokens, output tokens): 8 arrivals over 3.5 trace seconds, two at once
ROWS = [(0.0, 40, 3), (0.5, 64, 5), (1.0, 24, 2), (1.0, 80, 6), (2.0, 33, 4), (2.25, 50, 7), (3.0, 20, 1), (3.5, 72, 8)]
SPEEDUP = 2.0


def _write(tmp_path, fmt: str):
    if fmt == "harness":
        path = tmp_path / "t.jsonl"
        path.write_text("".join(json.dumps({"timestamp": 1000 + t, "input_tokens": i, "output_tokens": o, "prefix_id": "p",
                                            "prefix_tokens": 16}) + "\n" for t, i, o in ROWS))
    elif fmt == "mooncake":
        path = tmp_path / "m.jsonl"
        path.write_text("".join(json.dumps({"timestamp": int(t * 1000), "input_length": i, "output_length": o, "hash_ids": [0, 1 + k]})
                                + "\n" for k, (t, i, o) in enumerate(ROWS)))
    else:
        path = tmp_path / "a.csv"
        t0 = datetime(2023, 11, 16, 18, 15, 46, 680590)
        path.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n" + "".join(
            f"{(t0 + timedelta(seconds=t)).strftime('%Y-%m-%d %H:%M:%S.%f')}0,{i},{o}\n" for t, i, o in ROWS))
    return path


@pytest.mark.parametrize("fmt", ["harness", "mooncake", "azure"])
def test_a_trace_replays_in_each_format(fake_server, tmp_path, fmt):
    ep, state = fake_server(ttft_s=0.02, interval_s=0.01, chunks=8)
    spec = LoadSpec(pattern="trace", users=4, warmup_s=0, duration_s=3, request_timeout_s=10,
                    workload={"trace": {"path": str(_write(tmp_path, fmt)), "speedup": SPEEDUP}})
    result = LoadRun(spec, ep, tmp_path / "run").start().finish()
    recs = sorted(result.records, key=lambda r: (r.t_scheduled, r.max_tokens))
    assert len(recs) == len(ROWS) and all(r.ok for r in recs), [r.error for r in recs]
    t0 = recs[0].t_scheduled
    want = sorted((t / SPEEDUP, o) for t, _, o in ROWS)
    assert [(round(r.t_scheduled - t0, 6), r.max_tokens) for r in recs] == want  # the schedule is the trace, halved
    assert all(0 <= r.send_lag_s < 1.0 for r in recs)  # sent on time (generous: a loaded machine)
    assert result.summary.send_lag_ms.count == len(ROWS)  # the replay lag, reported like the Poisson pacer's
    assert sorted(r.prompt_tokens_target for r in recs) == sorted(i for _, i, _ in ROWS)
    sent = sorted(len(b["messages"][-1]["content"].split()) for b in state.bodies if b.get("stream"))
    assert sent == sorted(i for _, i, _ in ROWS)  # each prompt as long as its row's input (one word ~ one token)


def test_a_session_s_later_turn_resends_the_server_s_own_reply(fake_server, tmp_path):
    """Two sessions of two turns, the second turns 1 s after the first (their replies long done): each second turn's
    request carries the server's own streamed reply to the first as its assistant message, not a stand-in."""
    ep, state = fake_server(ttft_s=0.02, interval_s=0.01, chunks=8)
    rows = [(0.0, 20, 3, "s0"), (0.1, 24, 4, "s1"), (1.0, 40, 2, "s0"), (1.1, 44, 2, "s1")]
    path = tmp_path / "sessions.jsonl"
    path.write_text("".join(json.dumps({"timestamp": t, "input_tokens": i, "output_tokens": o, "session_id": s}) + "\n"
                            for t, i, o, s in rows))
    spec = LoadSpec(pattern="trace", users=4, warmup_s=0, duration_s=2, request_timeout_s=10,
                    workload={"trace": {"path": str(path)}})
    result = LoadRun(spec, ep, tmp_path / "run").start().finish()
    assert len(result.records) == 4 and all(r.ok for r in result.records), [r.error for r in result.records]
    later = [b["messages"] for b in state.bodies if b.get("stream") and len(b["messages"]) == 3]
    assert len(later) == 2
    for messages in later:  # the fake streams " tok0 tok1 ..." (one piece per output token): the reply it sent
        reply = messages[1]["content"].split()
        assert messages[1]["role"] == "assistant" and reply == [f"tok{k}" for k in range(len(reply))] and len(reply) in (3, 4)
    assert sorted(r.history or "" for r in result.records) == ["", "", "server", "server"]  # recorded per request
    assert result.summary.history_server_reply_rate == 1.0
    assert result.flat_metrics()["perf/history_server_reply_rate"] == 1.0  # as MLflow gets it
