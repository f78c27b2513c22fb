"""Start (or attach to) the server of one variant, as a context manager.

    with serve(variant, workdir) as running:
        ...  # running.endpoint is ready: health, model listed, one completion answered

On any exit of the block the launched process group is terminated and reaped. A launched start that exits on a
transient cause (an engine's `Cause.transient`: GPU memory a just-stopped server still holds) is started again once
the memory falls, at most `server.startup_retries` times; before a GPU engine starts, other processes holding memory
on its GPUs are reported (harness/server/gpu_memory.py).
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from harness.errors import DependencyError, ModelSourceError, ServerError, ServerExitedError, SpecError
from harness.redaction import GIVEN_KEY_ENV
from harness.server.endpoint import Endpoint
from harness.server.engines import ENGINES, Engine, Launch, engine, find_engine
from harness.server.gpu_memory import other_holders, shared_warning, wait_memory_freed
from harness.server.host import pin, split_cores
from harness.server.model_source import ResolvedModel, resolve_model
from harness.server.process import ManagedProcess, likely_cause
from harness.server.readiness import Liveness, wait_ready
from harness.server.version import server_version
from harness.spec.model import ResolvedVariant, ServerSpec

log = logging.getLogger(__name__)


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
    liveness: Liveness | None = None
    """Watches an attached endpoint (no process): made for one when not given."""
    starts: int = 1
    """How many times the server was started (more than 1: a start retried on a transient cause, server.startup_retries)."""
    gpu_shared: bool = False
    """Other processes held memory on the server's GPUs when it started (one server per GPU was not the case)."""

    def __post_init__(self) -> None:
        if self.process is None and self.liveness is None:
            eng = find_engine(self.endpoint.engine)
            self.liveness = Liveness(self.endpoint, eng.health_path if eng is not None else "/v1/models")

    def alive(self) -> bool:
        """False once the process exited, or an attached endpoint stopped answering (cheap: call it as often as you like)."""
        if self.process is not None:
            return self.process.poll() is None
        return self.liveness is None or self.liveness.alive()

    def death(self, during: str) -> ServerExitedError:
        """Why the server is gone (call once `alive()` is False): exit code, log tail and likely cause, or the endpoint's silence."""
        if self.process is not None:
            log = self.process.log_tail(40)
            return ServerExitedError(f"the server died during {during}", self.process.poll(), log, likely_cause(log, self.endpoint.engine))
        problem = (self.liveness.problem if self.liveness else None) or f"it stopped answering at {self.endpoint.base_url}"
        return ServerExitedError(f"the endpoint stopped answering during {during}: {problem}", None, "",
                                 "the server behind the endpoint stopped, crashed or moved; its own log says why")


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
    if not found:
        where = "does not exist" if "/" in argv[0] else "is not on PATH"
        raise DependencyError(f"server binary '{argv[0]}' {where}. {eng.install_hint}")
    if not Path(found).is_file() or not os.access(found, os.X_OK):
        raise DependencyError(f"server binary '{found}' is not an executable file: `chmod +x` it, or point the spec at the program. "
                              f"{eng.install_hint}")
    argv[0] = found


def _check_port_free(host: str, port: int) -> None:
    """Fail early when something already listens on the configured port (it would answer readiness for us)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(1.0)
        try:
            s.connect(("127.0.0.1" if host == "0.0.0.0" else "::1" if host == "::" else host, port))
        except OSError:
            return
    raise ServerError(f"port {port} is already in use by another process; leave server.port empty to pick a free one")


def _resolve(spec: ServerSpec, eng: Engine) -> ResolvedModel:
    try:
        model = resolve_model(spec.model, want_file=eng.model_form == "file")
    except OSError as exc:  # e.g. an unreadable file while hashing it
        raise ModelSourceError(f"server.model: cannot read '{spec.model}': {exc.strerror or exc}") from exc
    if eng.model_form == "file" and Path(model.location).is_dir():
        raise ModelSourceError(f"server.model: '{spec.model}' is a folder; {eng.kind} needs one model file (e.g. a .gguf)")
    return eng.prepare_model(spec, model)


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
    model = _resolve(spec, eng)
    launch = eng.launch(spec, model.location, port)
    argv = list(launch.argv)
    _check_binary(argv, eng)
    return Planned(eng, model, Launch(argv, launch.env, launch.inherits_env), eng.endpoint(spec, port))


@contextlib.contextmanager
def exported(name: str, value: str | None) -> Iterator[None]:
    """`name=value` in this process's environment (so its clients and their subprocesses send it) for the block; no-op for None."""
    if value is None:
        yield
        return
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _pin_server(proc: ManagedProcess) -> None:
    """A launched server off the load generator's cores (harness/server/host.py `split_cores`), where the host has enough;
    pinned right after its start, so the processes and threads it starts later inherit it."""
    split = split_cores()
    pid = proc.pid
    why = pin(pid, split.server) if pid is not None else None
    log.info("%s", why or split.reason)


def _start(argv: list[str], env: dict[str, str], log_path: Path, eng: Engine) -> ManagedProcess:
    proc = ManagedProcess(argv, log_path, env=env)
    try:
        proc.start()
    except OSError as exc:  # not executable, not a program; or the log cannot be written
        if exc.filename is not None and str(exc.filename) != argv[0]:
            raise ServerError(f"cannot write the server log '{exc.filename}': {exc.strerror or exc}; check the free space "
                              "and permissions of tracking.run_dir") from exc
        raise DependencyError(f"cannot start the server '{argv[0]}': {exc.strerror or exc}. {eng.install_hint}") from exc
    _pin_server(proc)
    return proc


def note(log_path: Path, line: str) -> None:
    """A line of the harness's own in the server log (a retried start), told apart from the server's by its prefix."""
    try:
        with log_path.open("a") as fh:
            fh.write(f"[harness] {line}\n")
    except OSError:
        pass


@contextlib.contextmanager
def serve(variant: ResolvedVariant, workdir: Path, say: Callable[[str], None] = log.warning) -> Iterator[RunningServer]:
    """Launch or attach the variant's server and yield it once ready. `say` shows a line on screen (the presenter's;
    default: a logged warning): a GPU that another process holds, a start retried."""
    spec = variant.server
    eng = engine(spec.kind)
    if not eng.launches:
        endpoint = eng.endpoint(spec, spec.port)
        try:
            httpx.URL(endpoint.base_url)
        except httpx.InvalidURL as exc:
            raise SpecError([f"server.openai.base_url: '{endpoint.base_url}' is not a valid URL ({exc})"]) from None
        ready = wait_ready(endpoint, spec.startup_timeout_s, None, spec.warmup_max_tokens)
        endpoint = Endpoint(**{**endpoint.__dict__, "info": server_version(endpoint)})
        yield RunningServer(endpoint=endpoint, model=None, ready_s=ready)
        return

    if spec.port:
        _check_port_free(spec.host, spec.port)
    planned = plan(spec, spec.port or free_port(spec.host))
    argv, env = planned.launch.argv, planned.launch.env
    log_path = workdir / "server.log"
    server_env = {**os.environ, **env}
    shared = shared_warning(other_holders(server_env) or []) if planned.engine.uses_gpu else None
    if shared:
        say(f"warning: {shared}")
    with exported(GIVEN_KEY_ENV, planned.engine.given_key(spec)):  # `--api-key K`'s key, sent as the bearer key
        attempt = 1
        while True:
            proc = _start(argv, env, log_path, planned.engine)
            try:
                ready = wait_ready(planned.endpoint, spec.startup_timeout_s, proc, spec.warmup_max_tokens)
                break
            except ServerExitedError as exc:
                proc.stop()
                if not (exc.transient and attempt <= spec.startup_retries):  # an engine's `Cause.transient` only
                    if attempt == 1:
                        raise
                    raise ServerExitedError(f"{exc.message} (started {attempt} times, retried on a transient cause; "
                                            f"server.startup_retries={spec.startup_retries})",
                                            exc.returncode, exc.log_tail, exc.cause, exc.transient) from None
                line = (f"start {attempt} of at most {spec.startup_retries + 1} exited during startup on a transient cause "
                        f"({exc.cause}): retrying once the GPU memory is freed")
                say(line)
                note(log_path, line)
                note(log_path, f"{wait_memory_freed(server_env)}; starting the server again")
                attempt += 1
            except BaseException:
                proc.stop()
                raise
        with proc:
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
                starts=attempt,
                gpu_shared=shared is not None,
            )
    # give the OS a moment to release the port before the next variant binds
    time.sleep(0.2)
