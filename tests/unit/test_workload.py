"""Workloads: prompt token lengths, presets, shared system prompt, multi-turn history, JSONL files; load spec checks and Locust argv."""

from __future__ import annotations

import json

import pytest

from harness.errors import LoadError, SpecError
from harness.load.prompts import PromptGenerator
from harness.load.runner import LoadArtifacts, locust_argv
from harness.load.workload import Workload, load_dataset
from harness.server.endpoint import Endpoint
from harness.spec import build_spec
from harness.spec.load import PRESETS, DatasetSpec, LengthDist, LoadSpec


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


def test_presets_fill_lengths_unless_given():
    spec = LoadSpec(preset="chat-medium")
    assert spec.prompt_tokens.mean == 512 and spec.output_tokens.mean == 256
    assert LoadSpec(preset="rag").prompt_kind == "document_qa"
    own = LoadSpec(preset="chat-long", output_tokens={"mean": 32})
    assert own.prompt_tokens.mean == 2048 and own.output_tokens.mean == 32
    assert set(PRESETS) == {"chat-short", "chat-medium", "chat-long", "rag"}


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
    assert data[0] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]  # trailing reply dropped
    assert [m["content"] for m in data[1]] == ["q1", "a1", "q2"] and len(data) == 2
    spec = LoadSpec(dataset={"path": str(path), "shuffle": False})
    w = Workload(spec, 0, data)
    assert [w.next().messages for _ in range(3)] == [data[0], data[1], data[0]]
    path.write_text('{"messages": []}\nnot json\n')
    with pytest.raises(LoadError, match=r"d.jsonl:2: not JSON"):
        load_dataset(DatasetSpec(path=str(path)))


def _problems(load: dict) -> str:
    with pytest.raises(SpecError) as info:
        build_spec({"name": "x", "load": load}, {}, [])
    return "\n".join(info.value.problems)


@pytest.mark.parametrize(
    "load,needle",
    [
        ({"pattern": "poisson"}, "pattern=poisson needs `rate`"),
        ({"rate": 3}, "`rate` is used by pattern constant/poisson only"),
        ({"pattern": "burst", "burst": {"size": 8, "every_s": 1}, "users": 4}, "set users >= burst.size"),
        ({"pattern": "steps"}, "pattern=steps needs `steps`"),
        ({"pattern": "steps", "steps": [{"duration_s": 5, "users": 1}, {"duration_s": 5, "rate": 2}]}, "all set `users` or all set `rate`"),
        ({"pattern": "steps", "steps": [{"duration_s": 5, "users": 1, "rate": 2}]}, "exactly one of `users`"),
        ({"pattern": "constant", "rate": 1, "rate_scan": {"points": [4, 1]}}, "strictly increasing"),
        ({"rate_scan": {"points": [1.5, 3]}}, "whole numbers"),
        ({"dataset": {"path": "/nope.jsonl"}}, "load.dataset.path"),
        ({"processes": 2, "distributed": {"role": "master"}}, "not both"),
        ({"preset": "chat-huge"}, "load.preset"),
    ],
)
def test_bad_load_specs_name_the_field_and_fix(load, needle):
    text = _problems(load)
    assert needle in text and "load" in text


def test_scan_points_become_rate_or_users():
    spec = LoadSpec(pattern="poisson", rate_scan={"points": [1, 4]})
    assert spec.at_point(4).rate == 4 and spec.at_point(4).rate_scan is None
    assert LoadSpec(rate_scan={"points": [2, 8]}).at_point(8).users == 8


def test_the_old_sweep_key_still_works_with_a_deprecation_warning():
    from harness.spec.base import SpecDeprecation

    with pytest.warns(SpecDeprecation, match="load.rate_scan"):
        spec = LoadSpec(sweep={"points": [2, 8]})
    assert spec.rate_scan is not None and spec.rate_scan.points == [2.0, 8.0]
    with pytest.raises(ValueError, match="only `rate_scan`"):
        LoadSpec(sweep={"points": [2]}, rate_scan={"points": [2]})


def _argv(**kw) -> list[str]:
    from pathlib import Path

    return locust_argv(LoadSpec(**kw), Endpoint(base_url="http://h:1", model="m"), LoadArtifacts.in_folder(Path("/tmp/x")))


def test_argv_per_pattern():
    closed = _argv()
    assert closed[closed.index("-f") + 1].endswith("chat.py") and "--users" in closed and "--pacer-file" not in closed
    shaped = _argv(pattern="steps", warmup_s=0, steps=[{"duration_s": 5, "users": 2}])
    assert shaped[shaped.index("-f") + 1].endswith("chat_steps.py") and "--users" not in shaped and "--run-time" not in shaped
    paced = _argv(pattern="poisson", rate=5, users=16, spawn_rate=1)
    assert paced[paced.index("--pacer-file") + 1] == "/tmp/x/pacer.bin"
    assert paced[paced.index("--spawn-rate") + 1] == "16.0"  # the sender pool starts at once
    master = _argv(distributed={"role": "master", "master_host": "0.0.0.0", "expect_workers": 3})
    assert master[master.index("--expect-workers") + 1] == "3" and "--master" in master and "--master-bind-host" in master
    assert master[master.index("--expect-workers-max-wait") + 1] == "300" and "--worker" not in master
