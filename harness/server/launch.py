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
from harness.server.engines import ENGINES, Engine, Launch, engine
from harness.server.model_source import ResolvedModel, resolve_model
from harness.server.process import ManagedProcess
from harness.server.readiness import wait_ready
from harness.server.version import server_version
from harness.spec.model import ResolvedVariant, ServerSpec


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
_COMMON_ENV_PREFIXES = ("CUDA_", "NCCL_", "TORCH_", "PYTORCH_", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
_SECRET_NAME = ("KEY", "TOKEN", "SECRET", "PASSWORD")


def inherited_engine_env(spec_env: dict[str, str]) -> dict[str, str]:
    """Engine-relevant variables from this process's environment that the spec's `env` does not set."""
    prefixes = _COMMON_ENV_PREFIXES + tuple(p for e in ENGINES.values() for p in e.env_prefixes)
    return {
        k: v
        for k, v in sorted(os.environ.items())
        if k.startswith(prefixes) and k not in spec_env and not any(s in k.upper() for s in _SECRET_NAME)
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


def _check_binary(argv: list[str], eng: Engine) -> None:
    """Replace argv[0] by its full path, or explain how to install it."""
    found = find_binary(argv[0])
    if found:
        argv[0] = found
        return
    raise DependencyError(f"'{argv[0]}' is not on PATH. {eng.install_hint}")


@dataclass(frozen=True)
class Planned:
    """What `serve` starts for a launched variant, before it starts it."""

    engine: Engine
    model: ResolvedModel
    launch: Launch
    endpoint: Endpoint


def plan(spec: ServerSpec, port: int) -> Planned:
    """Resolve the model and build argv, env and endpoint for a launched engine on `port`."""
    eng = engine(spec.kind)
    model = resolve_model(spec.model, want_file=eng.model_form == "file")
    launch = eng.launch(spec, model.location, port)
    argv = list(launch.argv)
    _check_binary(argv, eng)
    return Planned(eng, model, Launch(argv, launch.env, launch.inherits_env), eng.endpoint(spec, port))


@contextlib.contextmanager
def serve(variant: ResolvedVariant, workdir: Path) -> Iterator[RunningServer]:
    """Launch or attach the variant's server and yield it once ready."""
    spec = variant.server
    eng = engine(spec.kind)
    if not eng.launches:
        endpoint = eng.endpoint(spec, spec.port)
        ready = wait_ready(endpoint, spec.startup_timeout_s, None, spec.warmup_max_tokens)
        endpoint = Endpoint(**{**endpoint.__dict__, "info": server_version(endpoint)})
        yield RunningServer(endpoint=endpoint, model=None, ready_s=ready)
        return

    planned = plan(spec, spec.port or free_port(spec.host))
    argv, env = planned.launch.argv, planned.launch.env
    log_path = workdir / "server.log"
    with ManagedProcess(argv, log_path, env=env) as proc:
        ready = wait_ready(planned.endpoint, spec.startup_timeout_s, proc, spec.warmup_max_tokens)
        endpoint = Endpoint(**{**planned.endpoint.__dict__, "info": server_version(planned.endpoint)})
        yield RunningServer(
            endpoint=endpoint,
            model=planned.model,
            argv=argv,
            env_names=sorted(env),
            inherited_env=inherited_engine_env(env) if planned.launch.inherits_env else {},
            log_path=log_path,
            ready_s=ready,
            process=proc,
        )
    # give the OS a moment to release the port before the next variant binds
    time.sleep(0.2)
