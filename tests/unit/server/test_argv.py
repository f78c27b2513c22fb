"""argv building for llama.cpp and vLLM (lists, one flag per knob), and secret handling."""

from __future__ import annotations

import json

from harness.server.engines.llamacpp import llamacpp_argv
from harness.server.engines.vllm import vllm_argv, vllm_env
from harness.spec import build_spec, resolve_variants


def _server(server: dict):
    spec = build_spec({"name": "x", "server": server}, {}, [])
    return resolve_variants(spec)[0].server


def test_llamacpp_argv_is_a_list_with_each_knob():
    s = _server({"llamacpp": {"parallel": 2, "ctx_size": 4096, "threads": 3, "cache_type_k": "q8_0", "cont_batching": False}, "extra_args": ["--seed", "7"]})
    argv = llamacpp_argv(s, "/m/model.gguf", 8080)
    assert argv[0] == "llama-cpp-server"
    pairs = dict(zip(argv, argv[1:]))
    assert pairs["--model"] == "/m/model.gguf" and pairs["--port"] == "8080" and pairs["--host"] == "127.0.0.1"
    assert pairs["--parallel"] == "2" and pairs["--ctx-size"] == "4096" and pairs["--threads"] == "3"
    assert pairs["--cache-type-k"] == "q8_0" and pairs["--alias"] == "smollm2"
    assert "--metrics" in argv and "--no-cont-batching" in argv
    assert argv[-2:] == ["--seed", "7"]


def test_vllm_subprocess_argv():
    s = _server({
        "kind": "vllm", "served_model_name": "m",
        "vllm": {"quantization": "fp8", "kv_cache_dtype": "fp8", "max_num_seqs": 8, "enable_chunked_prefill": False,
                 "enable_prefix_caching": True, "enforce_eager": True, "speculative_config": {"method": "ngram", "num_speculative_tokens": 3}},
    })
    argv = vllm_argv(s, "/models/m", 8000)
    assert argv[:3] == ["vllm", "serve", "/models/m"]
    pairs = dict(zip(argv, argv[1:]))
    assert pairs["--quantization"] == "fp8" and pairs["--kv-cache-dtype"] == "fp8" and pairs["--max-num-seqs"] == "8"
    assert "--no-enable-chunked-prefill" in argv and "--enable-prefix-caching" in argv and "--enforce-eager" in argv
    assert json.loads(pairs["--speculative-config"]) == {"method": "ngram", "num_speculative_tokens": 3}
    assert "--dtype" not in argv  # unset knobs leave vLLM's default


def test_vllm_docker_argv_mounts_model_and_keeps_key_out_of_argv(monkeypatch):
    monkeypatch.setenv("MY_KEY", "sk-secret-value")
    s = _server({"kind": "vllm", "api_key_env": "MY_KEY", "vllm": {"launcher": "docker"}})
    argv = vllm_argv(s, "/models/m", 8000)
    assert argv[:2] == ["docker", "run"]
    assert "/models/m:/model:ro" in argv and "127.0.0.1:8000:8000" in argv
    assert "sk-secret-value" not in " ".join(argv)
    assert "VLLM_API_KEY" in argv  # passed by name with -e
    assert vllm_env(s)["VLLM_API_KEY"] == "sk-secret-value"
    assert argv[argv.index("--host") + 1] == "0.0.0.0"


def test_redaction():
    from harness.tracking.mlflow_logger import flatten, redact

    assert redact("key=sk-secret-value!", ["sk-secret-value"]) == "key=***!"
    flat = flatten({"a": {"b": 1, "c": [1, 2]}, "d": None})
    assert flat == {"a.b": "1", "a.c": "[1, 2]", "d": ""}


def test_inherited_engine_env_is_recorded_without_secrets(monkeypatch):
    from harness.server.launch import inherited_engine_env

    monkeypatch.setenv("VLLM_USE_FLASHINFER_SAMPLER", "0")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    monkeypatch.setenv("VLLM_API_KEY", "sk-never-logged")
    monkeypatch.setenv("HF_TOKEN", "hf-never-logged")
    env = inherited_engine_env({"CUDA_VISIBLE_DEVICES": "0"})
    assert env["VLLM_USE_FLASHINFER_SAMPLER"] == "0"
    assert "CUDA_VISIBLE_DEVICES" not in env  # the spec's env wins and is logged as server.env.*
    assert "VLLM_API_KEY" not in env and "HF_TOKEN" not in env
