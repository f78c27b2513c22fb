"""The spec's rules for `synthetic://<shape>`: known shapes only, vLLM (or an attached endpoint) only, no quality or
fidelity on random weights, and the examples that use it validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import SpecError
from harness.spec import build_spec, load_spec
from harness.spec.fidelity import fidelity_on

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SYN = {"kind": "vllm", "model": "synthetic://llama-2-7b-awq"}


def _problems(data: dict) -> str:
    with pytest.raises(SpecError) as err:
        build_spec({"name": "x", **data}, {}, [])
    return "\n".join(err.value.problems)


def test_quality_on_synthetic_weights_is_refused_naming_the_field_and_why():
    text = _problems({"server": SYN})
    assert "quality.enabled" in text and "random values" in text and "quality.tasks: gsm8k, ifeval" in text
    assert "set quality.enabled: false" in text


def test_fidelity_defaults_off_on_synthetic_weights_and_is_refused_when_asked_for():
    spec = build_spec({"name": "x", "server": SYN, "quality": {"enabled": False},
                       "variants": [{"name": "a"}, {"name": "b", "server": {"vllm": {"max_num_seqs": 8}}}],
                       "gates": {"baseline": {"variant": "a"}}}, {}, [])
    assert not fidelity_on(spec)  # a baseline would turn it on for real weights
    text = _problems({"server": SYN, "quality": {"enabled": False}, "fidelity": {"enabled": True},
                      "gates": {"baseline": {"variant": "default"}}})
    assert "fidelity: default (synthetic://llama-2-7b-awq) serve synthetic weights" in text and "fidelity.enabled: false" in text


def test_one_synthetic_variant_among_real_ones_is_enough_to_refuse_quality():
    text = _problems({"server": {"kind": "vllm", "model": "/models/real"},
                      "variants": [{"name": "real"}, {"name": "shape", "server": {"model": "synthetic://mistral-7b-gptq"}}]})
    assert "shape (synthetic://mistral-7b-gptq)" in text and "real (" not in text


def test_llamacpp_refuses_a_synthetic_model_early_naming_server_model_and_the_fix():
    text = _problems({"server": {"kind": "llamacpp", "model": "synthetic://llama-3-8b"}, "quality": {"enabled": False}})
    assert "server.model" in text and "set server.kind: vllm" in text and "GGUF" in text


def test_an_unknown_shape_lists_the_known_ones():
    text = _problems({"server": {"kind": "vllm", "model": "synthetic://llama-9b"}, "quality": {"enabled": False}})
    assert "not a known synthetic shape" in text and "synthetic://qwen2.5-7b-awq" in text


def test_attaching_to_a_server_of_a_synthetic_shape_is_allowed():
    spec = build_spec({"name": "x", "quality": {"enabled": False}, "server": {
        "kind": "openai", "model": "synthetic://llama-3-8b", "openai": {"base_url": "http://127.0.0.1:8000"}}}, {}, [])
    assert spec.resolved[0].server.served_model_name == "llama-3-8b"


def test_the_7b_decide_example_validates_without_quality_or_fidelity():
    spec = load_spec(EXAMPLES / "vllm-7b-decide.yaml")
    assert not spec.quality.enabled and not fidelity_on(spec)
    assert {v.server.model for v in spec.resolved} == {"synthetic://llama-2-7b-awq"}
    assert spec.repeats.count >= 6 and spec.repeats.order == "interleaved"
