"""Trace files: each format read into rows (the committed samples, real Mooncake and Azure lines), the window, speedup,
and errors that name the file, the line and the missing column."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import LoadError
from harness.loadgen.trace_formats import detect, read
from harness.loadgen.trace_source import Source
from harness.spec.load import LoadSpec
from harness.spec.workload import TraceSpec

TRACES = Path(__file__).resolve().parents[3] / "examples" / "traces"


def test_each_sample_is_detected_and_read():
    moon = read(TraceSpec(path=str(TRACES / "mooncake-conversation-head.jsonl")))
    assert detect(TRACES / "mooncake-conversation-head.jsonl") == "mooncake" and len(moon) == 40
    assert [r.offset_s for r in moon[9:12]] == [0.0, 3.0, 3.0]  # ms -> s
    assert (moon[0].input_tokens, moon[0].output_tokens, moon[0].hash_ids[:3]) == (6758, 500, (0, 1, 2))
    azure = read(TraceSpec(path=str(TRACES / "azure-conv-head.csv")))
    assert detect(TRACES / "azure-conv-head.csv") == "azure" and len(azure) == 40
    assert azure[0].offset_s == 0.0 and azure[1].offset_s == pytest.approx(4.314579, abs=1e-6)  # 18:15:50.995169 - 46.68059
    assert (azure[1].input_tokens, azure[1].output_tokens, azure[1].line) == (396, 109, 3)
    own = read(TraceSpec(path=str(TRACES / "harness-small.jsonl")))
    assert detect(TRACES / "harness-small.jsonl") == "harness" and len(own) == 36
    assert own[0].offset_s == 0.0 and own[0].prefix_id == "sys-0" and own[0].session_id == "s0"
    assert all(b.offset_s >= a.offset_s for a, b in zip(own, own[1:]))


def test_rows_are_sorted_and_the_window_and_speedup_apply(tmp_path):
    path = tmp_path / "t.jsonl"
    stamps = [105.0, 100.0, 101.0, 103.0, 110.0]
    path.write_text("".join(json.dumps({"timestamp": t, "input_tokens": i + 10, "output_tokens": 5}) + "\n" for i, t in enumerate(stamps)))
    rows = read(TraceSpec(path=str(path)))
    assert [r.offset_s for r in rows] == [0.0, 1.0, 3.0, 5.0, 10.0] and rows[0].line == 2  # by time, offsets from the first
    win = read(TraceSpec(path=str(path), start_s=1.0, duration_s=4.0, speedup=2.0, max_output_tokens=3))
    assert [r.offset_s for r in win] == [0.0, 1.0]  # the window [1, 5) holds the arrivals at 1 and 3 s, halved from its start
    assert [r.output_tokens for r in win] == [3, 3]


def test_errors_name_the_file_line_and_column(tmp_path):
    bad = tmp_path / "m.jsonl"
    bad.write_text('{"timestamp": 0, "input_length": 5, "output_length": 2, "hash_ids": [0]}\n{"timestamp": 5, "input_length": 5}\n')
    with pytest.raises(LoadError, match=r"m.jsonl:2: missing column `output_length`"):
        read(TraceSpec(path=str(bad)))
    csv = tmp_path / "a.csv"
    csv.write_text("TIMESTAMP,ContextTokens\n2023-11-16 18:15:46.6805900,374\n")
    with pytest.raises(LoadError, match=r"a.csv:1: missing column `GeneratedTokens`"):
        read(TraceSpec(path=str(csv)))
    csv.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,374,44\n")
    with pytest.raises(LoadError, match=r"a.csv:2: TIMESTAMP 'yesterday'"):
        read(TraceSpec(path=str(csv)))
    odd = tmp_path / "o.jsonl"
    odd.write_text('{"ts": 1}\n')
    with pytest.raises(LoadError, match=r"o.jsonl:1: cannot tell the trace format"):
        read(TraceSpec(path=str(odd)))
    with pytest.raises(LoadError, match=r"the window \(start_s 99.*holds no request.*span 24.061 s"):
        read(TraceSpec(path=str(TRACES / "harness-small.jsonl"), start_s=99))


def test_source_prompts_follow_the_rows_and_share_prefixes():
    spec = LoadSpec(pattern="trace", users=2, warmup_s=0, duration_s=30,
                    workload={"trace": {"path": str(TRACES / "mooncake-conversation-head.jsonl"), "max_output_tokens": 100}})
    prepared = Source.prepare(spec)
    a, b = Source(spec, 0, prepared), Source(spec, 7, prepared)
    r3, r16 = a.next(3), b.next(16)  # rows 3 (2290 tokens, blocks 0, 42-45) and 16 (915 tokens, blocks 0, 462)
    t3, t16 = r3.messages[0]["content"].split(), r16.messages[0]["content"].split()
    assert (len(t3), len(t16)) == (2290, 915) and r3.prompt_tokens_target == 2290
    assert t3[:512] == t16[:512] and t3[512:600] != t16[512:600]  # block 0 shared, the next block not
    assert (r3.max_tokens, r16.max_tokens, r3.prefix_group) == (100, 100, 0)  # capped 316 -> 100; 355 -> 100
    assert b.next(3) == r3  # any user sends row i the same way
    own = LoadSpec(pattern="trace", warmup_s=0, duration_s=30, workload={"trace": {"path": str(TRACES / "harness-small.jsonl")}})
    src = Source(own, 0, Source.prepare(own))
    x, y, z = src.next(0), src.next(16), src.next(1)  # rows 0 and 16: prefix sys-0 (32 tokens), sessions s0, s2; row 1: sys-1
    wx, wy, wz = (r.messages[0]["content"].split() for r in (x, y, z))
    assert wx[:32] == wy[:32] and wx[:32] != wz[:32] and x.prefix_group == y.prefix_group != z.prefix_group
    assert wx[32:40] != wy[32:40] and len(wx) == x.prompt_tokens_target


def test_a_session_s_later_turn_resends_its_history():
    """Row 4 is session s0's second turn (236 tokens = its first turn's 181 + that turn's 15-token reply + 40 new):
    it resends the first turn's message and a reply of the first turn's output length, then its own 40 words."""
    own = LoadSpec(pattern="trace", warmup_s=0, duration_s=30, workload={"trace": {"path": str(TRACES / "harness-small.jsonl")}})
    prepared = Source.prepare(own)
    first, second = Source(own, 0, prepared).next(0), Source(own, 3, prepared).next(4)
    assert [m["role"] for m in second.messages] == ["user", "assistant", "user"]
    assert second.messages[0] == first.messages[0] and len(second.messages[1]["content"].split()) == 15
    assert len(second.messages[2]["content"].split()) == 40
    assert sum(len(m["content"].split()) for m in second.messages) == second.prompt_tokens_target == 236
    assert (second.conversation, second.turn) == (first.conversation, 1) and (first.turn == 0)
    assert second.prefix_group == first.prefix_group  # the history carries the first turn's prefix


def test_a_later_turn_resends_the_server_s_own_reply_when_this_process_got_it():
    """Rows 0 and 4 are session s0's first two turns, sent by two users of one process: the reply user A received
    for row 0 is the assistant message of row 4's history (a cache keeping generated tokens hits on it, as in a real
    conversation). A reply arriving after the later turn was built, a failed one, or a row without a later turn is
    not kept; without the reply the seeded stand-in of the trace's output length is sent."""
    own = LoadSpec(pattern="trace", warmup_s=0, duration_s=30, workload={"trace": {"path": str(TRACES / "harness-small.jsonl")}})
    prepared = Source.prepare(own)
    a, b = Source(own, 0, prepared), Source(own, 3, prepared)
    assert a.keeps_replies and b.keeps_replies  # the trace has sessions: the users keep the streamed text
    first = a.next(0)
    a.reply("the server's own answer")
    second = b.next(4)
    assert second.messages[0] == first.messages[0] and second.messages[1] == {"role": "assistant", "content": "the server's own answer"}
    assert len(second.messages[2]["content"].split()) == 40 and second.history == "server" and not prepared.replies
    assert first.history is None  # a first turn resends no reply
    b.reply("late")  # row 4's own next turn, if it has one, gets it; a second reply to row 0 changes nothing
    assert b.next(4) == second

    fresh = Source.prepare(own)
    c, d = Source(own, 0, fresh), Source(own, 1, fresh)
    c.next(0)
    early = d.next(4)  # built before row 0's reply came back: the seeded stand-in (15 words: row 0's output length)
    c.reply("too late")
    assert len(early.messages[1]["content"].split()) == 15 and early.history == "stand-in" and not fresh.replies
    c.next(0)
    c.reply(None)  # a failed request keeps nothing
    assert not fresh.replies

    plain = LoadSpec(pattern="trace", warmup_s=0, duration_s=30,
                     workload={"trace": {"path": str(TRACES / "mooncake-conversation-head.jsonl")}})
    assert not Source(plain, 0, Source.prepare(plain)).keeps_replies  # no sessions: replies are not kept


def test_a_trace_is_read_once_and_again_when_its_file_changes(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"timestamp": 0, "input_tokens": 10, "output_tokens": 2}\n')
    spec = TraceSpec(path=str(path))
    first = read(spec)
    assert read(spec) == first and len(first) == 1  # the same rows (served from the per-process cache)
    path.write_text('{"timestamp": 0, "input_tokens": 10, "output_tokens": 2}\n{"timestamp": 1, "input_tokens": 20, "output_tokens": 3}\n')
    assert [r.input_tokens for r in read(spec)] == [10, 20]  # an edited file is read again
