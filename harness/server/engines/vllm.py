"""vLLM (GPU): `vllm serve` argv, directly or through `docker run`; knobs, metric names, likely causes, /tokenize."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from harness.server.endpoint import Endpoint
from harness.server.engines.base import Engine, Launch, MetricNames, cause
from harness.server.model_facts import bits_from
from harness.spec.model import ServerSpec
from harness.spec.synthetic import shape_of

# spec field -> vllm flag, for the simple valued flags
_VALUED = {
    "dtype": "--dtype",
    "quantization": "--quantization",
    "kv_cache_dtype": "--kv-cache-dtype",
    "max_num_seqs": "--max-num-seqs",
    "max_num_batched_tokens": "--max-num-batched-tokens",
    "max_model_len": "--max-model-len",
    "gpu_memory_utilization": "--gpu-memory-utilization",
    "tensor_parallel_size": "--tensor-parallel-size",
    "pipeline_parallel_size": "--pipeline-parallel-size",
    "seed": "--seed",
}
# spec field -> (flag when true, flag when false)
_TOGGLES = {
    "enable_chunked_prefill": ("--enable-chunked-prefill", "--no-enable-chunked-prefill"),
    "enable_prefix_caching": ("--enable-prefix-caching", "--no-enable-prefix-caching"),
    "enforce_eager": ("--enforce-eager", "--no-enforce-eager"),
}
# VllmSettings fields that are not engine flags
NOT_FLAGS = {"launcher", "docker_image", "executable"}

CONTAINER_MODEL_DIR = "/model"


def vllm_engine_args(server: ServerSpec, port: int) -> list[str]:
    """Flags after `vllm serve MODEL` (an API key reaches vLLM as VLLM_API_KEY, never in argv)."""
    v = server.vllm
    args = ["--served-model-name", server.served_model_name, "--host", server.host, "--port", str(port)]
    # every reply's usage then carries prompt_tokens_details.cached_tokens: the prefix-cache hits per request
    # (no effect on speed; the flag exists since vLLM 0.8)
    args.append("--enable-prompt-tokens-details")
    for field, flag in _VALUED.items():
        value = getattr(v, field)
        if value is not None:
            args += [flag, str(value)]
    for field, (on, off) in _TOGGLES.items():
        value = getattr(v, field)
        if value is not None:
            args.append(on if value else off)
    if v.speculative_config is not None:
        args += ["--speculative-config", json.dumps(v.speculative_config, sort_keys=True)]
    if shape_of(server.model):  # a folder without weights: vLLM fills the architecture with random values
        args += ["--load-format", "dummy"]  # (the quantization is read from its config.json, as for a real checkpoint)
    return args + list(server.extra_args)


def vllm_argv(server: ServerSpec, model: str, port: int) -> list[str]:
    """argv for launcher=subprocess or launcher=docker."""
    v = server.vllm
    if v.launcher == "subprocess":
        return [v.executable, "serve", model, *vllm_engine_args(server, port)]
    # docker: the model directory (when local) is mounted read-only at /model
    is_local = model.startswith("/")
    docker = ["docker", "run", "--rm", "--gpus", "all", "--ipc=host", "-p", f"{server.host}:{port}:{port}"]
    if is_local:
        docker += ["-v", f"{model}:{CONTAINER_MODEL_DIR}:ro"]
    for name in sorted(vllm_env(server)):
        docker += ["-e", name]  # value passed through the environment, not argv
    engine = vllm_engine_args(server, port)
    # inside the container the server must listen on all interfaces for -p to reach it
    engine[engine.index("--host") + 1] = "0.0.0.0"
    return docker + [v.docker_image, "--model", CONTAINER_MODEL_DIR if is_local else model, *engine]


def vllm_env(server: ServerSpec) -> dict[str, str]:
    """Environment for the server: the spec's env plus VLLM_API_KEY when a key is configured."""
    return ENGINE.env(server)


class Vllm(Engine):
    kind = "vllm"
    prompt_logprobs = True  # /v1/completions with echo + logprobs scores the prompt (lm-eval loglikelihood tasks)
    model_form = "repo"
    section = "vllm"
    knobs = ("max_num_seqs", "max_num_batched_tokens", "max_model_len", "gpu_memory_utilization", "enable_chunked_prefill",
             "enable_prefix_caching", "enforce_eager", "tensor_parallel_size", "pipeline_parallel_size")
    slots_knob = "max_num_seqs"
    env_prefixes = ("VLLM_",)
    uses_gpu = True
    default_bits_per_weight = 16.0  # an unquantized checkpoint, dtype auto: bf16/fp16
    key_env = "VLLM_API_KEY"
    key_flag = "--api-key"
    distributions = ("vllm",)
    install_hint = "For vLLM `pip install vllm`, or set server.vllm.executable to its full path"
    # Checked against vLLM 0.26.0 captures; older names (gpu_*) after the current ones.
    metric_names = MetricNames(
        gauges={
            "requests_running": ("vllm:num_requests_running",),
            "requests_waiting": ("vllm:num_requests_waiting",),
            "kv_cache_usage": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
        },
        counters={
            "prompt_tokens": ("vllm:prompt_tokens_total",),
            "generation_tokens": ("vllm:generation_tokens_total",),
            "prefix_cache_queries": ("vllm:prefix_cache_queries_total", "vllm:gpu_prefix_cache_queries_total"),
            "prefix_cache_hits": ("vllm:prefix_cache_hits_total", "vllm:gpu_prefix_cache_hits_total"),
            "prompt_tokens_cached": ("vllm:prompt_tokens_cached_total",),
            "preemptions": ("vllm:num_preemptions_total",),
            "requests_success": ("vllm:request_success_total",),
            # speculative decoding (vllm/v1/spec_decode/metrics.py; only with --speculative-config)
            "spec_decode_drafts": ("vllm:spec_decode_num_drafts_total",),
            "spec_decode_draft_tokens": ("vllm:spec_decode_num_draft_tokens_total",),
            "spec_decode_accepted_tokens": ("vllm:spec_decode_num_accepted_tokens_total",),
            # native KV offloading (--kv-offloading-size: OffloadingConnector; prometheus Counters in
            # vllm/distributed/kv_transfer/kv_connector/v1/offloading/metrics.py, hence `_total`)
            "kv_offload_load_bytes": ("vllm:kv_offload_load_bytes_total",),
            "kv_offload_load_s": ("vllm:kv_offload_load_time_total",),
            "kv_offload_store_bytes": ("vllm:kv_offload_store_bytes_total",),
            "kv_offload_store_s": ("vllm:kv_offload_store_time_total",),
        },
        histograms={
            "queue_time_s": ("vllm:request_queue_time_seconds",),
            "ttft_s": ("vllm:time_to_first_token_seconds",),
            "itl_s": ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
            "tpot_s": ("vllm:request_time_per_output_token_seconds",),
            "e2e_s": ("vllm:e2e_request_latency_seconds",),
            "prefill_s": ("vllm:request_prefill_time_seconds",),
            "decode_s": ("vllm:request_decode_time_seconds",),
            "inference_s": ("vllm:request_inference_time_seconds",),
        },
    )
    # vLLM's own texts (0.2x): more specific than the generic patterns, so checked before them
    causes = (
        # transient: right after a previous server stopped, its memory may not be freed yet (retried, server.startup_retries)
        cause(r"No available memory for the cache blocks",
              "GPU out of memory for the KV cache: raise gpu_memory_utilization or lower max_model_len / max_num_seqs", transient=True),
        cause(r"larger than the available KV cache memory|estimated maximum model length is",
              "GPU out of memory for the KV cache: raise gpu_memory_utilization or lower max_model_len / max_num_seqs"),
        cause(r"less than desired GPU memory utilization",
              "GPU out of memory: another process holds GPU memory; lower gpu_memory_utilization or free the GPU", transient=True),
        cause(r"quantization.*not supported|not supported.*quantization|Unknown quantization|"
              r"is not supported for quantization method|Minimum capability: \d+",
              "the quantization (or its dtype) is not supported by this GPU or engine version"),
        cause(r"No CUDA GPUs are available|Failed to infer device type|no NVIDIA driver", "no usable GPU is visible to the server"),
        cause(r"GatedRepoError|RepositoryNotFoundError|is not a valid model identifier|401 Client Error",
              "the model could not be downloaded (unknown or gated repo, no network or no token): check server.model"),
        cause(r"Invalid repository ID or local directory|Repo id must be in the form", "the model could not be loaded: check server.model"),
        cause(r"compute capability", "the GPU's compute capability is too old for this config"),
        # vLLM 0.26.0 on an H100, an AWQ (float16) model with --kv-cache-dtype fp8 (benchmarks/results/vllm-7b-llama2-awq/)
        cause(r"For FP16/BF16 input, output must have the same dtype as inputs",
              "an fp8 KV cache is not supported with this model's float16 attention in this vLLM version: "
              "kv_cache_dtype auto (or a bfloat16 model)"),
    )

    def launch(self, server: ServerSpec, model: str, port: int) -> Launch:
        # a container sees only what `docker run -e` passes: nothing is inherited there
        return Launch(vllm_argv(server, model, port), vllm_env(server), inherits_env=server.vllm.launcher != "docker")

    def bits_per_weight(self, model: str, settings: Mapping[str, Any]) -> float | None:
        return bits_from(model, settings.get("quantization") or None, settings.get("dtype") or None)

    def quantization(self, server: ServerSpec) -> str:
        v = server.vllm
        if v.quantization:
            return v.quantization
        shape = shape_of(server.model)
        if shape:  # the shape's quantization_config (awq, gptq), else its dtype
            from harness.server.synthetic import shape_config

            config = shape_config(shape)
            return str(config.get("quantization_config", {}).get("quant_method") or v.dtype or config["torch_dtype"])
        bits = bits_from(server.model, None, None)
        return {8.0: "fp8", 4.25: "awq"}.get(bits or 0.0, v.dtype or "auto")

    def version_tag(self, server: ServerSpec) -> str:
        v = server.vllm
        return v.docker_image.rsplit(":", 1)[-1] if v.launcher == "docker" else ""

    def tokenize_body(self, model: str, text: str) -> dict[str, Any] | None:
        return {"model": model, "prompt": text, "add_special_tokens": False}

    def server_info(self, client: httpx.Client, endpoint: Endpoint) -> dict[str, str]:
        """/version."""
        try:
            r = client.get(endpoint.base_url + "/version", headers=endpoint.headers())
            if r.status_code == 200 and isinstance(r.json(), dict) and "version" in r.json():
                return {"server_version": str(r.json()["version"])}
        except (httpx.HTTPError, ValueError):
            pass
        return {}


ENGINE = Vllm()
