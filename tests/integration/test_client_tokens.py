"""Client-side token counts (`load.tokenizer`): /tokenize of fake servers and of a real llama-server, and the GGUF tokenizer."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from harness.errors import TokenizerError
from harness.load.runner import LoadRun
from harness.load.tokens import ServerCounter, make_counter
from harness.spec.model import LengthDist, LoadSpec

TEXTS = [
    "Hello world",
    "The year 2024 costs $12.50, or 1,234 coins!",
    "  two  spaces\n\nand newlines\n",
    "It's what they'll do; we've seen it. I'm sure you'd agree.",
    "naïve café, 日本語 and an emoji 🙂 — done.",
    "def f(x):\n    return x**2  # square\n\ttabbed",
    "<|im_start|>user\nhi<|im_end|>",
    "URL: https://example.com/a?b=c&d=e",
]


def _spec(**kw) -> LoadSpec:
    base = {"users": 2, "spawn_rate": 10, "duration_s": 3, "warmup_s": 0, "prompt_tokens": LengthDist(mean=20), "output_tokens": LengthDist(mean=8, max=8)}
    return LoadSpec(**{**base, "request_timeout_s": 10, **kw})


# ---------------------------------------------------------------- fake servers


@pytest.mark.parametrize("shape", ["llamacpp", "vllm"])
def test_server_counter_speaks_both_tokenize_shapes(fake_server, shape):
    ep, state = fake_server(tokenize=shape)
    counter = ServerCounter(ep)
    assert counter.count(["one two three", "", "four", "a b c d e"]) == [3, 0, 1, 5]
    # the working shape is kept after the first text: one request per non-empty text
    assert len(state.tokenize_bodies) <= 3 + 1
    if shape == "vllm":
        assert {"model": ep.model, "prompt": "a b c d e", "add_special_tokens": False} in state.tokenize_bodies
    else:
        assert {"content": "a b c d e", "add_special": False} in state.tokenize_bodies


def test_server_counter_tries_the_vllm_shape_first_for_vllm(fake_server):
    ep, state = fake_server(tokenize="vllm")
    assert ServerCounter(replace(ep, engine="vllm")).count(["x y"]) == [2]
    assert len(state.tokenize_bodies) == 1  # no llama.cpp-shaped attempt first


def test_server_counter_without_tokenize_raises(fake_server):
    ep, _ = fake_server(tokenize=None)
    with pytest.raises(TokenizerError, match="HTTP 404"):
        ServerCounter(ep).count(["some text"])


def test_load_run_counts_client_tokens_with_the_server(fake_server, tmp_path):
    ep, _ = fake_server(tokenize="llamacpp", ttft_s=0.01, interval_s=0.005)
    result = LoadRun(_spec(tokenizer="server"), ep, tmp_path).start().finish()
    s = result.summary
    assert s.ok > 0 and s.tokenizer_error is None
    # the fake streams " tok0 tok1 ..." (one word per usage token), so client and usage agree exactly
    assert all(r.output_text and r.client_completion_tokens == r.completion_tokens == 8 for r in result.records)
    assert s.client_token_diff_pct == 0 and s.client_completion_tokens_mean == 8 and s.client_token_diff_abs_p99 == 0
    assert result.flat_metrics()["perf/client_token_diff_pct"] == 0


def test_load_run_without_tokenizer_keeps_no_text(fake_server, tmp_path):
    ep, state = fake_server(tokenize="llamacpp", ttft_s=0.01, interval_s=0.005)
    result = LoadRun(_spec(duration_s=2), ep, tmp_path).start().finish()
    assert all(r.output_text is None and r.client_completion_tokens is None for r in result.records)
    assert math.isnan(result.summary.client_token_diff_pct) and not state.tokenize_bodies
    assert '"output_text":null' in result.artifacts.records.read_text()


def test_failed_counting_does_not_lose_the_run(fake_server, tmp_path):
    ep, _ = fake_server(tokenize=None, ttft_s=0.01, interval_s=0.005)
    result = LoadRun(_spec(duration_s=2, tokenizer="server"), ep, tmp_path).start().finish()
    s = result.summary
    assert s.ok > 0 and s.output_tokens_per_s > 0
    assert math.isnan(s.client_token_diff_pct) and "HTTP 404" in (s.tokenizer_error or "")
    assert "perf/client_token_diff_pct" not in result.flat_metrics()


# ---------------------------------------------------------------- a real llama-server


def _server_counts(base_url: str, texts: list[str]) -> list[list[int]]:
    return [httpx.post(base_url + "/tokenize", json={"content": t}, timeout=30).json()["tokens"] for t in texts]


@pytest.mark.integration
def test_gguf_tokenizer_matches_llama_server(llama_server, tmp_path):
    ep = llama_server.endpoint
    gguf = Path(llama_server.model.location)
    # real replies too: a short run keeps them
    run = LoadRun(_spec(tokenizer=str(gguf), output_tokens=LengthDist(mean=48, max=48), duration_s=4, request_timeout_s=60), ep, tmp_path).start().finish()
    replies = [r.output_text for r in run.records if r.output_text]
    assert replies
    texts = TEXTS + replies
    local = make_counter(str(gguf), ep).tokenizer
    assert [e.ids for e in local.encode_batch(texts, add_special_tokens=False)] == _server_counts(ep.base_url, texts)
    assert make_counter("server", ep).count(texts) == [len(ids) for ids in _server_counts(ep.base_url, texts)]


SHORT_ANSWERS = ["Say hi.", "What is 2+2? Answer briefly.", "Name three colors.", "Is water wet? Yes or no."]


@pytest.mark.integration
@pytest.mark.parametrize("which", ["server", "gguf", "server-short-answers"])
def test_client_counts_are_close_to_usage(llama_server, tmp_path, which):
    ep = llama_server.endpoint
    tokenizer = llama_server.model.location if which == "gguf" else "server"
    slow = {"request_timeout_s": 240}  # two CPU threads, often shared with other work: a reply once took over 60 s
    spec = _spec(users=2, duration_s=6, tokenizer=tokenizer, output_tokens=LengthDist(kind="uniform", mean=40, min=8, max=72), prompt_tokens=LengthDist(mean=40), **slow)
    if which == "server-short-answers":  # replies that end by themselves (finish_reason stop)
        data = tmp_path / "short.jsonl"
        data.write_text("".join(json.dumps({"messages": [{"role": "user", "content": q}]}) + "\n" for q in SHORT_ANSWERS))
        spec = _spec(users=2, duration_s=6, tokenizer="server", output_tokens=LengthDist(mean=96, max=96), dataset={"path": str(data)}, **slow)
    result = LoadRun(spec, ep, tmp_path / "load").start().finish()
    s = result.summary
    assert s.ok > 0 and s.errors == 0 and s.tokenizer_error is None
    recs = [r for r in result.records if r.client_completion_tokens is not None]
    assert len(recs) == s.ok and math.isfinite(s.client_token_diff_pct)
    # llama.cpp's usage counts the end-of-generation token of a stopped reply, which has no text
    stops = sum(1 for r in recs if r.finish_reason == "stop")
    assert stops > 0 if which == "server-short-answers" else True
    client, usage = sum(r.client_completion_tokens for r in recs), sum(r.completion_tokens for r in recs)
    assert s.client_token_diff_pct == pytest.approx(100 * (client - usage) / usage)
    print(f"{which}: n={len(recs)} stopped={stops} client_token_diff_pct={s.client_token_diff_pct:.3f} "
          f"abs_p99={s.client_token_diff_abs_p99} client_mean={s.client_completion_tokens_mean:.2f} usage_mean={s.completion_tokens_mean:.2f}")
    # Beyond that, re-tokenizing a reply differs from usage only where the model emitted a token
    # sequence that is not the canonical tokenization of its text (rare at temperature 0; none seen
    # here). 3 % leaves room for a few such merges per run; a wrong tokenizer (e.g. without the
    # digit split, or without the byte-level mapping) is off by far more.
    assert abs(100 * (client + stops - usage) / usage) <= 3.0
