"""The issue-18 example studies (examples/vllm-7b-qwen-awq.yaml, vllm-7b-queue-time.yaml) validate, keep quality off on
their random weights, and each variant resolves to the vLLM argv it names (flags spelled as vLLM 0.26.0 prints them)."""

from __future__ import annotations

import re
from pathlib import Path

from harness.server.engines.vllm import vllm_engine_args
from harness.spec import load_spec
from harness.spec.fidelity import fidelity_on

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _argv(path: Path, **kw) -> dict[str, list[str]]:
    spec = load_spec(path, environ={}, **kw)
    return {v.name: vllm_engine_args(v.server, 8000) for v in spec.resolved}


def _value(argv: list[str], flag: str) -> str | None:
    return argv[argv.index(flag) + 1] if flag in argv else None


def test_the_qwen_study_resolves_to_its_knobs_on_a_12gb_budget():
    spec = load_spec(EXAMPLES / "vllm-7b-qwen-awq.yaml", environ={})
    assert not spec.quality.enabled and not fidelity_on(spec)
    assert {v.server.model for v in spec.resolved} == {"synthetic://qwen2.5-7b-awq"}
    assert [t.metric for t in spec.repeats.target] == [spec.gates.recommend.objective] == ["perf/output_tokens_per_s"]
    assert spec.repeats.max_blocks <= 8 and spec.gates.baseline.variant == "base" and spec.load.turns == 2
    argv = _argv(EXAMPLES / "vllm-7b-qwen-awq.yaml")
    assert all(_value(a, "--load-format") == "dummy" and _value(a, "--gpu-memory-utilization") == "0.135" for a in argv.values())
    assert _value(argv["kv-fp8"], "--kv-cache-dtype") == "fp8" and "--kv-cache-dtype" not in argv["base"]
    assert _value(argv["kv-offload"], "--kv-offloading-size") == "16"
    assert _value(argv["kv-offload"], "--kv-offloading-backend") == "native" and "--kv-offloading-size" not in argv["base"]
    assert {n: _value(a, "--max-model-len") for n, a in argv.items()} == {
        "base": "8192", "kv-fp8": "8192", "kv-offload": "8192", "len4096": "4096", "len16384": "16384"}
    # every conversation fits the smallest context: two prompts and two replies of at most max tokens
    load = spec.load
    assert load.turns * (load.prompt_tokens.max + load.output_tokens.max) <= 4096 - 128  # room for the chat template


def test_the_qwen_study_switches_to_real_weights_for_quality_as_its_header_says():
    spec = load_spec(EXAMPLES / "vllm-7b-qwen-awq.yaml", environ={}, assignments=[
        "server.model=hf://Qwen/Qwen2.5-7B-Instruct-AWQ", "server.served_model_name=qwen2.5-7b-instruct-awq",
        "quality.enabled=true", "repeats.quality=separate"])
    assert spec.quality.enabled and {v.server.model for v in spec.resolved} == {"hf://Qwen/Qwen2.5-7B-Instruct-AWQ"}
    assert "harness run examples/vllm-7b-qwen-awq.yaml --set server.model=hf://Qwen/Qwen2.5-7B-Instruct-AWQ" in \
        (EXAMPLES / "vllm-7b-qwen-awq.yaml").read_text()


def test_the_queue_time_study_crosses_max_num_seqs_with_gpu_memory_utilization_under_a_capacity_search():
    spec = load_spec(EXAMPLES / "vllm-7b-queue-time.yaml", environ={})
    assert not spec.quality.enabled and spec.load.capacity is not None and spec.load.slo.ttft_ms == 1000
    assert spec.gates.recommend.objective == "perf/capacity_rps_at_slo" and spec.repeats.count >= 3
    argv = _argv(EXAMPLES / "vllm-7b-queue-time.yaml")
    grid = {(_value(a, "--max-num-seqs"), _value(a, "--gpu-memory-utilization")) for a in argv.values()}
    assert grid == {(s, u) for s in ("32", "64", "128") for u in ("0.25", "0.9")}
    assert all(_value(a, "--load-format") == "dummy" for a in argv.values())
    # the queue time the study reads is the histogram the vLLM engine maps (logged as server/queue_time_s_*)
    from harness.server.engines.vllm import ENGINE

    assert ENGINE.metric_names.histograms["queue_time_s"] == ("vllm:request_queue_time_seconds",)


def test_every_flag_of_both_studies_is_one_vllm_0_26_prints(vllm_fixtures):
    help_text = (vllm_fixtures / "serve_help_all.txt").read_text()
    printed = set(re.findall(r"^  (--[\w-]+)", help_text, flags=re.M))
    for name in ("vllm-7b-qwen-awq.yaml", "vllm-7b-queue-time.yaml"):
        for variant, argv in _argv(EXAMPLES / name).items():
            unknown = [a for a in argv if a.startswith("--") and a not in printed]
            assert not unknown, (name, variant, unknown)
    assert "native" in help_text.split("--kv-offloading-backend", 1)[1].split("\n", 1)[0]
