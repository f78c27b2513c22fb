"""`load.workload.exact_lengths` against the programmed streaming server (tests/fakes/openai_server.py).

The fake's /tokenize counts one token per word and two for a word longer than 5 characters; its usage counts
the prompt the same way. Fitted to it, the vocabulary loses the long words, a chat prompt of target n is n tokens
exactly, and the load stage's prompts all hit their targets; unfitted, the word-count estimate misses them.
"""

from __future__ import annotations

import json
import logging

import pytest

from harness.errors import TokenizerError
from harness.load import exact_lengths
from harness.load.runner import EXACT_LENGTHS_FILE, LoadRun
from harness.load.tokens import ServerCounter
from harness.loadgen import prompts
from harness.spec.model import LengthDist, LoadSpec
from harness.words import WORDS

pytestmark = pytest.mark.integration
LONG = 5


def _spec(**kw) -> LoadSpec:
    base = dict(users=2, spawn_rate=10, duration_s=2, warmup_s=0, prompt_tokens=LengthDist(kind="uniform", mean=60, min=30, max=90),
                output_tokens=LengthDist(mean=4, max=4), request_timeout_s=10)
    return LoadSpec(**{**base, **kw})


@pytest.mark.parametrize("shape", ["llamacpp", "vllm"])
def test_fit_keeps_one_token_words_and_prompts_add_up(fake_server, shape):
    ep, state = fake_server(tokenize=shape, long_words=LONG)
    fitted = exact_lengths.fit(_spec(workload={"exact_lengths": "server"}), ep)
    assert fitted.words == [w for w in WORDS if len(w) <= LONG] and len(fitted.words) < len(WORDS)
    assert fitted.tail_tokens == state.count(prompts.instruction_tail())
    body = state.tokenize_bodies[-1]
    assert ("content" in body) if shape == "llamacpp" else (body["model"] == ep.model and "prompt" in body)
    # prompts made from the fit are their target length by the server's own count
    try:
        prompts.use_fit(fitted.words, fitted.tail_tokens)
        gen = prompts.PromptGenerator(LengthDist(kind="uniform", mean=100, min=30, max=300), LengthDist(mean=4), seed=3)
        samples = [gen.next() for _ in range(20)]
    finally:
        prompts.use_fit(WORDS, None)
    assert ServerCounter(ep).count([s.text for s in samples]) == [s.target_tokens for s in samples]


def test_a_tokenizer_that_splits_most_words_is_refused(fake_server):
    ep, _ = fake_server(tokenize="llamacpp", long_words=2)
    with pytest.raises(TokenizerError, match=r"only \d+ of the \d+ prompt words are one token"):
        exact_lengths.fit(_spec(workload={"exact_lengths": "server"}), ep)


def test_load_stage_sends_exact_lengths(fake_server, tmp_path, caplog):
    """The Locust processes draw from the fitted words: every prompt's server count equals its target."""
    ep, state = fake_server(tokenize="llamacpp", long_words=LONG, count_prompts=True, ttft_s=0.01, interval_s=0.005)
    caplog.set_level(logging.INFO, logger="harness.load.runner")
    result = LoadRun(_spec(workload={"exact_lengths": "server"}), ep, tmp_path / "exact").start().finish()
    recs = [r for r in result.records if r.ok]
    assert len(recs) >= 4
    assert all(r.prompt_tokens == r.prompt_tokens_target for r in recs), [(r.prompt_tokens, r.prompt_tokens_target) for r in recs][:5]
    fit = json.loads((tmp_path / "exact" / EXACT_LENGTHS_FILE).read_text())
    assert fit["tail_tokens"] == state.count(prompts.instruction_tail())
    assert fit["achieved"]["exact"] == fit["achieved"]["requests"] >= len(recs) * 0.5 and fit["achieved"]["template_tokens"] == 0
    assert "words are one token by server /tokenize" in caplog.text
    assert "target + 0 (the chat template) for" in caplog.text and "(100%)" in caplog.text
    assert "were not their target length" not in caplog.text
    logged = result.flat_metrics()  # the achieved distribution, as MLflow gets it
    assert logged["perf/prompt_tokens_off_target_rate"] == 0.0
    assert logged["perf/prompt_tokens_min"] <= logged["perf/prompt_tokens_p50"] <= logged["perf/prompt_tokens_p90"] <= logged["perf/prompt_tokens_max"]
    assert logged["perf/prompt_tokens_max"] in {r.prompt_tokens for r in recs}
    # the same load without the fit: long words count twice, the word-count estimate misses the targets
    plain = LoadRun(_spec(), ep, tmp_path / "plain").start().finish()
    assert sum(r.prompt_tokens != r.prompt_tokens_target for r in plain.records if r.ok) > 0
    assert plain.flat_metrics()["perf/prompt_tokens_off_target_rate"] > 0
