"""Workloads: prompt token lengths, shared system prompt, multi-turn history, JSONL files."""

from __future__ import annotations

import json

import pytest

from harness.errors import LoadError
from harness.loadgen.prompts import PromptGenerator
from harness.loadgen.workload import Workload, load_dataset
from harness.spec.load import DatasetSpec, LengthDist, LoadSpec


@pytest.mark.parametrize("kind", ["chat", "document_qa"])
@pytest.mark.parametrize("n", [20, 128, 1000])
def test_prompt_lengths_follow_the_target_in_tokens(kind, n):
    """One word of the list is one BPE token; punctuation and the newline add at most a few percent."""
    gen = PromptGenerator(LengthDist(mean=n), LengthDist(mean=8), seed=3, kind=kind)
    sample = gen.next()
    words = len(sample.text.split())
    assert sample.target_tokens == n and sample.max_tokens == 8
    assert n - 3 <= words <= n + 1, words


def test_length_distributions_are_seeded_and_bounded():
    dist = LengthDist(kind="normal", mean=100, stdev=30, min=50, max=150)
    a = [PromptGenerator(dist, dist, seed=1).next().target_tokens for _ in range(1)]
    gen = PromptGenerator(dist, dist, seed=1)
    xs = [gen.next().target_tokens for _ in range(500)]
    assert xs[0] == a[0] and all(50 <= x <= 150 for x in xs)
    assert sum(xs) / len(xs) == pytest.approx(100, abs=5)


def test_shared_system_prompt_is_identical_across_users():
    spec = LoadSpec(system_prompt_tokens=200, prompt_tokens={"mean": 30})
    a, b = Workload(spec, 1).next(), Workload(spec, 2).next()
    assert a.messages[0]["role"] == "system" and a.messages[0] == b.messages[0]
    assert 195 <= len(a.messages[0]["content"].split()) <= 201
    assert a.messages[1] != b.messages[1]  # the user message differs per user


def test_multi_turn_carries_history_then_starts_over():
    w = Workload(LoadSpec(turns=3, prompt_tokens={"mean": 10}), 0)
    r0 = w.next()
    w.reply("first answer")
    r1 = w.next()
    w.reply("second answer")
    r2 = w.next()
    w.reply("third")
    r3 = w.next()
    assert [len(r.messages) for r in (r0, r1, r2, r3)] == [1, 3, 5, 1]
    assert r2.messages[1] == {"role": "assistant", "content": "first answer"} and r2.messages[0] == r0.messages[0]
    assert [(r.conversation, r.turn) for r in (r0, r1, r2, r3)] == [(0, 0), (0, 1), (0, 2), (1, 0)]
    w.reply(None)  # a failed turn ends the conversation
    assert w.next().turn == 0


def test_jsonl_openai_and_sharegpt(tmp_path):
    path = tmp_path / "d.jsonl"
    lines = [
        {"messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
        {"conversations": [{"from": "human", "value": "q1"}, {"from": "gpt", "value": "a1"}, {"from": "human", "value": "q2"}, {"from": "gpt", "value": "a2"}]},
        {"conversations": [{"from": "gpt", "value": "no user here"}]},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    data = load_dataset(DatasetSpec(path=str(path)))
    assert data[0].messages == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]  # trailing reply dropped
    assert [m["content"] for m in data[1].messages] == ["q1", "a1", "q2"] and len(data) == 2
    spec = LoadSpec(dataset={"path": str(path), "shuffle": False})
    w = Workload(spec, 0, data)
    assert [w.next().messages for _ in range(3)] == [data[0].messages, data[1].messages, data[0].messages]
    path.write_text('{"messages": []}\nnot json\n')
    with pytest.raises(LoadError, match=r"d.jsonl:2: not JSON"):
        load_dataset(DatasetSpec(path=str(path)))


def test_dataset_output_lengths_from_the_data(tmp_path):
    path = tmp_path / "sg.jsonl"
    lines = [
        {"conversations": [{"from": "human", "value": "q1"}, {"from": "gpt", "value": "one two three four five six"}]},  # 6 words -> 8
        {"conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "a"}, {"from": "human", "value": "last"}]},  # no reply
        {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": " ".join(["w"] * 30)}]},  # 30 -> 40
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    data = load_dataset(DatasetSpec(path=str(path)))
    assert [d.reply_tokens for d in data] == [8, None, 40]
    fixed = {"kind": "fixed", "mean": 17, "max": 17}
    spec = LoadSpec(dataset={"path": str(path), "shuffle": False, "output_lengths": "data"}, output_tokens=fixed, ignore_eos=True)
    w = Workload(spec, 0, data)
    assert [w.next().max_tokens for _ in range(3)] == [8, 17, 40]  # the line without a reply falls back to load.output_tokens
    as_spec = Workload(LoadSpec(dataset={"path": str(path), "shuffle": False}, output_tokens=fixed), 0, data)
    assert [as_spec.next().max_tokens for _ in range(3)] == [17, 17, 17]
