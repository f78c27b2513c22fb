"""`load.workload.prefix_pool` (harness/loadgen/prefix_pool.py): every group's prefix is one seeded text, identical for
every user and process of a seed and different across groups; requests pick groups by the mix, with their own suffix."""

from __future__ import annotations

from collections import Counter

import pytest

from harness.loadgen import workload
from harness.loadgen.prefix_pool import Source
from harness.spec.load import LoadSpec


def _spec(**pool) -> LoadSpec:
    pool = {"groups": 3, "prefix_tokens": 100, "suffix_tokens": {"mean": 40}, **pool}
    return LoadSpec(output_tokens={"mean": 8}, workload={"prefix_pool": pool})


def _requests(load: LoadSpec, stream: int, n: int) -> list[workload.ChatRequest]:
    src = workload.make(load, stream, workload.prepare(load))
    assert isinstance(src, Source)
    out = []
    for _ in range(n):
        out.append(src.next())
        src.reply("ok")
    return out


def test_prefix_is_shared_within_a_group_and_differs_across_groups():
    load = _spec()
    reqs = _requests(load, 0, 60) + _requests(load, 7, 60)  # two users (streams); another process prepares its own copy
    by_group: dict[int, set[str]] = {}
    for r in reqs:
        assert [m["role"] for m in r.messages] == ["system", "user"]
        by_group.setdefault(r.prefix_group, set()).add(r.messages[0]["content"])
    assert sorted(by_group) == [0, 1, 2]
    assert all(len(p) == 1 for p in by_group.values())  # one prefix per group, whoever sends it
    prefixes = [next(iter(by_group[g])) for g in range(3)]
    assert len(set(prefixes)) == 3
    assert all(len(p.split()) == 100 for p in prefixes)  # prefix_tokens words, one token each
    assert Source.prepare(load) == prefixes  # the same in a fresh process of the seed
    assert Source.prepare(load.model_copy(update={"seed": 1})) != prefixes
    assert len({r.messages[1]["content"] for r in reqs}) > 100  # every request its own suffix


def test_lengths_and_targets():
    load = _spec(suffix_tokens={"kind": "uniform", "mean": 30, "min": 20, "max": 40})
    for r in _requests(load, 0, 50):
        suffix = r.prompt_tokens_target - 100
        assert 20 <= suffix <= 40
        assert 0 <= suffix - len(r.messages[1]["content"].split()) <= 2  # words + the instruction (+ 2 for its line break)
        assert r.max_tokens == 8 and r.turn == 0 and r.pause_s == 0


def test_the_shared_system_prompt_comes_first_and_counts():
    load = _spec().model_copy(update={"system_prompt_tokens": 50})
    r = _requests(load, 0, 1)[0]
    assert r.messages[0]["content"].startswith(workload.system_prompt(50, 0))
    assert r.prompt_tokens_target == 50 + 100 + 40


def test_mix_frequencies():
    load = _spec(groups=4, mix=[4, 2, 1, 1])
    n = 4000
    counts = Counter(r.prefix_group for r in _requests(load, 3, n))
    for g, w in enumerate([4, 2, 1, 1]):
        assert counts[g] / n == pytest.approx(w / 8, abs=0.03), counts


def test_seeded_and_reproducible():
    load = _spec()

    def shape(stream: int) -> list[tuple]:
        return [(r.prefix_group, r.messages[1]["content"], r.max_tokens) for r in _requests(load, stream, 20)]

    assert shape(5) == shape(5)
    assert shape(5) != shape(6)
