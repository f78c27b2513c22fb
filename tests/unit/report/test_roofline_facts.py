"""The roofline from facts logged at run time (read from the model's files) and the GPU's name: no spec field needed."""

from __future__ import annotations

import json

import pytest

from harness.report.decision import rooflines
from harness.report.roofline import KNOWN_GPUS, decode_ceiling, gpu_name, match_gpu
from harness.server.model_facts import model_fact_metrics
from harness.spec.gates import GatesSpec
from harness.tracking.reader import RunRecord
from tests.unit.server.test_model_facts import KV_16BIT, SMOLLM2_CONFIG, SMOLLM2_PARAMS, smollm2  # noqa: F401  (fixture)

MEASURED = {"perf/output_tokens_per_s": 900.0, "server/requests_running_mean": 4.0, "perf/prompt_tokens_mean": 200.0,
            "perf/completion_tokens_mean": 100.0}


def _run(metrics: dict[str, float], gpu: str = "1x NVIDIA H200", model: str = "/models/checkpoint", engine: str = "vllm") -> RunRecord:
    return RunRecord("id", "v", "0", "s", "ok", {**MEASURED, **metrics}, {},
                     {"harness.model": model, "harness.gpu": gpu, "harness.engine": engine})


@pytest.fixture
def facts(tmp_path) -> dict[str, float]:
    (tmp_path / "config.json").write_text(json.dumps(SMOLLM2_CONFIG))
    return model_fact_metrics(str(tmp_path), "vllm")


def test_the_roofline_needs_no_spec_field_when_the_facts_were_logged(facts):
    # a model name that states no size: before, "missing parameter count (gates.roofline.params_b)"
    (roof,), note = rooflines([_run(facts)], GatesSpec())
    assert "skipped" not in note and roof.hardware == "H200" and roof.params == SMOLLM2_PARAMS and roof.bits_per_weight == 16.0
    # batch 4 (mean running), context 200 prompt + half of 100 output tokens, KV 23,040 bytes a token
    assert roof.batch == 4 and roof.context_tokens == 250 and roof.kv_bytes_per_token == KV_16BIT
    assert roof.ceiling_tok_s == pytest.approx(decode_ceiling(SMOLLM2_PARAMS, 16.0, 4, 4800, 989, KV_16BIT, 250)[0])
    assert roof.fraction == pytest.approx(900.0 / roof.ceiling_tok_s)
    assert "v: params logged, bits logged, KV logged, context measured" in note


def test_without_the_facts_it_is_skipped_as_before():
    _, note = rooflines([_run({})], GatesSpec())
    assert "skipped: v: missing parameter count" in note


def test_the_spec_s_overrides_still_win(facts):
    gates = GatesSpec.model_validate({"roofline": {"params_b": 1.0, "bits_per_weight": 8, "kv_bytes_per_token": 1000, "context_tokens": 64,
                                                   "gpu": "H100-SXM"}})
    (roof,), note = rooflines([_run(facts)], gates)
    assert (roof.params, roof.bits_per_weight, roof.kv_bytes_per_token, roof.context_tokens, roof.hardware) == (1e9, 8, 1000, 64, "H100-SXM")
    assert "params spec, bits spec, KV spec, context spec" in note


def test_the_real_gguf_s_facts_reach_the_roofline(smollm2):  # noqa: F811
    m = model_fact_metrics(str(smollm2), "llamacpp")
    (roof,), _ = rooflines([_run({**m, "knob/parallel": 4.0}, gpu="1x NVIDIA L4", model="/models/x.gguf", engine="llamacpp")], GatesSpec())
    assert roof.hardware == "L4" and roof.params == SMOLLM2_PARAMS and 5.7 < roof.bits_per_weight < 5.8


@pytest.mark.parametrize(("name", "key"), [
    ("NVIDIA H200 NVL", "H200-NVL"), ("NVIDIA H100 NVL", "H100-NVL"), ("NVIDIA A100 80GB PCIe", "A100-PCIe-80GB"),
    ("NVIDIA A100-PCIE-40GB", "A100-40GB"), ("NVIDIA A100-SXM4-80GB", "A100-80GB"), ("NVIDIA L40S", "L40S"), ("NVIDIA L40", "L40"),
    ("NVIDIA A10G", "A10G"), ("NVIDIA A10", "A10"), ("NVIDIA A40", "A40"), ("Tesla T4", "T4"), ("Tesla V100-SXM2-32GB", "V100"),
    ("NVIDIA GeForce RTX 4090", "RTX-4090"), ("NVIDIA RTX A6000", "RTX-A6000"), ("NVIDIA RTX 6000 Ada Generation", "RTX-6000-Ada"),
    ("NVIDIA B200", "B200"), ("NVIDIA GH200 480GB", "GH200"), ("NVIDIA H800 PCIe", "H100-PCIe"), ("h100-sxm", "H100-SXM"),
])
def test_gpu_names_as_nvml_writes_them(name, key):
    assert match_gpu(name) is KNOWN_GPUS[key]


def test_gpu_names_from_the_tag():
    assert gpu_name("2x NVIDIA H200") == "NVIDIA H200" and gpu_name("NVIDIA L4") == "NVIDIA L4"
    assert gpu_name("none") is None and gpu_name(None) is None and match_gpu("NVIDIA A800 40GB") is KNOWN_GPUS["A100-40GB"]
