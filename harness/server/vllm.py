"""`vllm serve` argv, directly or through `docker run`."""

from __future__ import annotations

import json

from harness.spec.model import ServerSpec

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
    """Flags after `vllm serve MODEL`."""
    v = server.vllm
    args = ["--served-model-name", server.served_model_name, "--host", server.host, "--port", str(port)]
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
    if server.api_key_env:
        # vLLM reads VLLM_API_KEY itself; the key never appears in argv.
        pass
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
    import os

    env = dict(server.env)
    if server.api_key_env and os.environ.get(server.api_key_env):
        env["VLLM_API_KEY"] = os.environ[server.api_key_env]
    return env
