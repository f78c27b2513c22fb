"""Fidelity's teacher-forcing path against a fake vLLM (a real HTTP server, vLLM's logprob shapes, a toy model).

The toy model's full next-token distributions are known, so the top-k KL estimate can be checked
against the exact KL: a lower bound with a small k, equal with k = the vocabulary.
"""

from __future__ import annotations

import math

import pytest

from harness.errors import FidelityError
from harness.fidelity.compare import kl_top
from harness.fidelity.records import load_reference
from harness.spec.fidelity import FidelitySpec
from harness.fidelity.stage import FidelityRun
from harness.server.endpoint import Endpoint
from tests.fakes.fake_logprobs import VOCAB, State, ToyModel, start, tokenize_chat

pytestmark = pytest.mark.integration


@pytest.fixture
def fake_vllm():
    servers = []

    def make(**kw) -> tuple[Endpoint, State]:
        state = State(**kw)
        srv = start(state)
        servers.append(srv)
        return Endpoint(f"http://127.0.0.1:{srv.server_address[1]}", state.model_name, engine="vllm"), state

    yield make
    for srv in servers:
        srv.shutdown()


def _exact_kl(reference, noise: float) -> float:
    """Mean full-vocabulary KL(base || noisy) along the reference's tokens."""
    base, variant = ToyModel(0.0), ToyModel(noise)
    total = n = 0
    for g in reference.generations.values():
        ctx = tokenize_chat([{"content": g.prompt}])
        for tid in g.token_ids:
            p, q = base.logprobs(ctx), variant.logprobs(ctx)
            total += sum(math.exp(a) * (a - b) for a, b in zip(p, q))
            n += 1
            ctx.append(tid)
    return total / n


def test_baseline_then_variant_teacher_forced(fake_vllm, tmp_path):
    section = FidelitySpec(prompts=30, max_tokens=12, top_k=3, concurrency=2, bootstrap=300)
    base_ep, base_state = fake_vllm()
    baseline = FidelityRun(section, base_ep, tmp_path / "base").start().finish()

    # the baseline: its reference on disk, its second pass teacher-forced over the first = the noise floor
    assert baseline.role == "baseline" and baseline.reference_path == tmp_path / "base" / "reference.jsonl"
    floor = baseline.noise_floor
    assert floor is not None and floor.method == "teacher_forcing" and floor.prompts == 30
    assert floor.identical_rate.value == 1.0 and floor.top1_agreement.value == 1.0 and floor.kl.value < 1e-9
    chats = [b for p, b in base_state.bodies if p == "/v1/chat/completions"]
    forced = [b for p, b in base_state.bodies if p == "/v1/completions"]
    # one plain probe (its reply's shape says how this server scores a continuation), then two passes
    assert len(chats) == 61 and len(forced) == 30 and "return_token_ids" not in chats[0]
    assert all(b["temperature"] == 0 and b["seed"] == 1234 and b["logprobs"] is True and b["top_logprobs"] == 3
               and b["max_tokens"] == 12 and b["return_token_ids"] is True for b in chats[1:])
    reference = load_reference(baseline.reference_path)
    g = next(iter(reference.generations.values()))
    assert len(g.tokens) == 12 and len(g.token_ids) == 12 and g.prompt_token_ids == tuple(tokenize_chat([{"content": g.prompt}]))
    assert all(len(step) == 3 for step in g.top)
    # the teacher-forcing request: the templated prompt's ids, then the reference's tokens
    scored = next(b for b in forced if b["prompt"][: len(g.prompt_token_ids)] == list(g.prompt_token_ids))
    assert scored["prompt"] == list(g.prompt_token_ids) + list(g.token_ids) and scored["prompt_logprobs"] == 3
    assert scored["max_tokens"] == 1

    # a variant, later, from the file alone: same prompts, teacher forcing over the reference's tokens
    var_ep, var_state = fake_vllm(noise=1.5)
    variant = FidelityRun(section, var_ep, tmp_path / "var", reference=reference).start().finish()
    c = variant.comparison
    assert variant.role == "variant" and variant.noise_floor is None and not variant.failures
    assert c.method == "teacher_forcing" and c.prompts == 30 and c.positions == 30 * 12
    assert c.top1_agreement.high < 1.0 and c.kl.low > floor.kl.high
    assert 0 <= c.identical_rate.value < 1 and c.first_divergence.value < 12
    exact = _exact_kl(reference, 1.5)
    assert 0 < c.kl.value <= exact + 1e-9  # k=3 of 16 tokens: a lower bound
    assert c.uncovered_mass > 0
    metrics = variant.flat_metrics("fidelity/", noise_floor=floor)
    assert metrics["fidelity/teacher_forced"] == 1.0 and metrics["fidelity/noise/kl"] == floor.kl.value
    assert {"fidelity/kl_ci_low", "fidelity/top1_agreement_ci_high", "fidelity/identical_rate"} <= set(metrics)
    table = c.table()
    assert len(table["prompt_id"]) == 30 and set(table) >= {"first_divergence", "kl", "reference_text", "text"}
    assert (tmp_path / "var" / "generations.jsonl").is_file()


def test_top_k_covering_the_vocabulary_gives_the_exact_kl(fake_vllm, tmp_path):
    section = FidelitySpec(prompts=8, max_tokens=6, top_k=len(VOCAB), bootstrap=50, noise_floor=False)
    base_ep, _ = fake_vllm()
    baseline = FidelityRun(section, base_ep, tmp_path / "b").start().finish()
    assert baseline.comparison is None and baseline.reference_path is not None
    reference = load_reference(baseline.reference_path)
    var_ep, _ = fake_vllm(noise=0.8)
    c = FidelityRun(section, var_ep, tmp_path / "v", reference=reference).start().finish().comparison
    assert c.kl.value == pytest.approx(_exact_kl(reference, 0.8), rel=1e-6)
    assert c.uncovered_mass < 1e-6


def test_no_prompt_logprobs_falls_back_to_the_first_divergence(fake_vllm, tmp_path):
    section = FidelitySpec(prompts=10, max_tokens=8, bootstrap=50, noise_floor=False)
    reference = load_reference(FidelityRun(section, fake_vllm()[0], tmp_path / "b").start().finish().reference_path)
    var_ep, _ = fake_vllm(noise=1.5, reject_prompt_logprobs=True)
    result = FidelityRun(section, var_ep, tmp_path / "v", reference=reference).start().finish()
    assert result.comparison.method == "first_divergence"
    assert any("teacher forcing unavailable" in n and "HTTP 400" in n for n in result.notes)
    # up to and including the first differing token only
    for row in result.comparison.rows:
        assert row.compared == (8 if row.identical else row.first_divergence + 1)
        assert row.agreed == (8 if row.identical else row.first_divergence)


def test_teacher_forcing_off_and_estimator_is_consistent(fake_vllm, tmp_path):
    """With forcing off, the positions before the first divergence are the same as teacher forcing's."""
    section = FidelitySpec(prompts=6, max_tokens=8, bootstrap=50, noise_floor=False, teacher_forcing="off")
    reference = load_reference(FidelityRun(section, fake_vllm()[0], tmp_path / "b").start().finish().reference_path)
    ep, state = fake_vllm(noise=0.5)
    result = FidelityRun(section, ep, tmp_path / "v", reference=reference).start().finish()
    assert result.comparison.method == "first_divergence" and "teacher forcing is off" in result.notes[0]
    assert not [b for p, b in state.bodies if p == "/v1/completions"]
    for row in result.comparison.rows:
        g = reference.generations[row.prompt_id]
        ctx = tokenize_chat([{"content": g.prompt}])
        expected = 0.0
        for j in range(row.kl_positions):
            p, q = ToyModel(0.0).logprobs(ctx + list(g.token_ids[:j])), ToyModel(0.5).logprobs(ctx + list(g.token_ids[:j]))
            top = lambda lp: [(VOCAB[i], i, lp[i]) for i in sorted(range(len(lp)), key=lambda i: -lp[i])[:5]]  # noqa: E731
            expected += kl_top(top(p), top(q))[0]
        assert row.kl_sum == pytest.approx(expected, abs=1e-9)


def test_stop_keeps_what_was_answered_and_a_dead_endpoint_fails_clearly(fake_vllm, tmp_path):
    import time

    section = FidelitySpec(prompts=40, max_tokens=4, bootstrap=50)
    ep, _ = fake_vllm(delay_s=0.05)
    run = FidelityRun(section, ep, tmp_path / "b").start()
    while run.progress().done < 5:
        time.sleep(0.02)
    assert run.running() and run.progress().total == 80 and "reference" in run.progress().detail
    run.stop()
    result = run.finish()
    assert not run.running() and result.comparison is None  # stopped in the reference pass: no noise-floor pass
    assert 5 <= len(load_reference(result.reference_path).generations) < 40
    assert any("not sent" in f.message and "stopped" in f.message for f in result.failures)

    dead = Endpoint("http://127.0.0.1:9", "nobody", engine="vllm")
    with pytest.raises(FidelityError, match="produced no answers.*4 of 4 fidelity prompts failed"):
        FidelityRun(FidelitySpec(prompts=4, bootstrap=50, request_timeout_s=2), dead, tmp_path / "d").start().finish()
