"""`load.workload.agentic` (harness/loadgen/agentic.py): sessions that grow turn by turn with the model's replies and
tool results of the given size, capped by turns and by the estimated context; a failed reply ends the session."""

from __future__ import annotations

from harness.loadgen import workload
from harness.loadgen.agentic import MESSAGE_OVERHEAD_TOKENS, TOOL_HEADER, Source
from harness.spec.load import LoadSpec


def _spec(**agentic) -> LoadSpec:
    agentic = {"turns": 4, "tool_result_tokens": {"mean": 50}, "think_time_s": 1.5, **agentic}
    return LoadSpec(prompt_tokens={"mean": 30}, output_tokens={"mean": 8}, system_prompt_tokens=20, workload={"agentic": agentic})


def _source(load: LoadSpec, stream: int = 0) -> Source:
    src = workload.make(load, stream, workload.prepare(load))
    assert isinstance(src, Source)
    return src


def test_a_session_grows_turn_by_turn():
    src = _source(_spec())
    reqs = []
    for i in range(5):
        reqs.append(src.next())
        src.reply(f"reply number {i} " * 5)
    assert [(r.conversation, r.turn) for r in reqs] == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)]
    assert [m["role"] for m in reqs[3].messages] == ["system", "user", "assistant", "user", "assistant", "user", "assistant", "user"]
    assert [len(r.messages) for r in reqs] == [2, 4, 6, 8, 2]
    for prev, cur in zip(reqs[:3], reqs[1:4]):  # each turn resends the previous request, its reply and a tool result
        assert cur.messages[: len(prev.messages)] == prev.messages
        assert cur.messages[len(prev.messages)]["content"].startswith("reply number")
        tool = cur.messages[-1]["content"]
        assert tool.startswith(TOOL_HEADER) and len(tool[len(TOOL_HEADER):].split()) == 50
        assert cur.prompt_tokens_target > prev.prompt_tokens_target
    assert reqs[0].messages[0]["content"] == workload.system_prompt(20, 0)
    assert reqs[0].prompt_tokens_target == 20 + 30 + 2 * MESSAGE_OVERHEAD_TOKENS
    assert [r.pause_s for r in reqs] == [0, 1.5, 1.5, 1.5, 0]
    assert all(r.max_tokens == 8 for r in reqs)


def test_the_context_cap_starts_a_new_session():
    load = _spec(turns=50, max_context_tokens=300)
    src = _source(load)
    reqs = []
    for _ in range(12):
        reqs.append(src.next())
        src.reply("a short reply")
    assert max(r.prompt_tokens_target for r in reqs) <= 300
    assert max(r.turn for r in reqs) >= 2 and len({r.conversation for r in reqs}) >= 3
    assert all(r.turn == 0 for r in reqs if r.conversation != reqs[0].conversation and len(r.messages) == 2)


def test_a_failed_reply_ends_the_session():
    src = _source(_spec())
    a = src.next()
    src.reply("fine")
    b = src.next()
    src.reply(None)
    c = src.next()
    assert (a.conversation, a.turn, b.conversation, b.turn) == (0, 0, 0, 1)
    assert (c.conversation, c.turn, len(c.messages)) == (1, 0, 2)


def test_seeded_and_reproducible():
    def transcript(stream: int) -> list:
        src = _source(_spec(tool_result_tokens={"kind": "uniform", "mean": 40, "min": 10, "max": 80}), stream)
        out = []
        for _ in range(6):
            r = src.next()
            out.append(r.messages)
            src.reply("same reply")
        return out

    assert transcript(2) == transcript(2)
    assert transcript(2) != transcript(3)
    sizes = {len(m[-1]["content"].split()) - 2 for m in transcript(2) if m[-1]["content"].startswith(TOOL_HEADER)}
    assert len(sizes) > 1 and all(10 <= s <= 80 for s in sizes)
