"""A throwaway engine, registered in this test only, is launched, probed, diagnosed and reaped by `serve`."""

from __future__ import annotations

import sys
from pathlib import Path

import httpx
import pytest

from harness.errors import ServerExitedError
from harness.server.endpoint import Endpoint
from harness.server.engines import ENGINES, Engine, Launch, register
from harness.server.engines.base import cause
from harness.server.launch import serve
from harness.spec.model import ResolvedVariant, ServerSpec

REPO = Path(__file__).resolve().parents[2]


class Fakey(Engine):
    """Serves with tests/fakes/fake_llama_server.py under its own name and flags."""

    kind = "fakey"
    model_form = "file"
    causes = (cause(r"failed to allocate buffer", "fakey ran out of buffers"),)

    def launch(self, server: ServerSpec, model: str, port: int) -> Launch:
        code = "import sys; sys.argv[0] = 'fakey'; from tests.fakes.fake_llama_server import main; main()"
        return Launch([sys.executable, "-c", code, "--port", str(port), "--alias", server.served_model_name],
                      {**self.env(server), "PYTHONPATH": str(REPO)})

    def server_info(self, client: httpx.Client, endpoint: Endpoint) -> dict[str, str]:
        return {"server_version": "fakey-" + str(client.get(endpoint.base_url + "/health").json()["status"])}


@pytest.fixture
def fakey():
    yield register(Fakey())
    del ENGINES["fakey"]


def _variant(tmp_path: Path, **env: str) -> ResolvedVariant:
    weights = tmp_path / "w.gguf"
    weights.write_bytes(b"GGUF fake")
    spec = ServerSpec(model=str(weights), served_model_name="fakey-model", startup_timeout_s=30, env=env)
    return ResolvedVariant(name="fakey", server=spec.model_copy(update={"kind": "fakey"}))  # past the spec's Literal


def test_a_registered_engine_is_served_and_reaped(fakey, tmp_path):
    with serve(_variant(tmp_path), tmp_path / "server") as running:
        ep = running.endpoint
        assert ep.engine == "fakey" and ep.info == {"server_version": "fakey-ok"}
        assert running.argv[0] == sys.executable and "--alias" in running.argv
        body = {"model": "fakey-model", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(ep.base_url + "/v1/chat/completions", json=body, timeout=10).status_code == 200
    assert running.process.poll() is not None


def test_a_registered_engine_s_own_cause_diagnoses_its_death(fakey, tmp_path):
    # the fake prints an allocation failure ("... out of memory") and exits before it is ready: the engine's own text wins
    with pytest.raises(ServerExitedError) as err:
        with serve(_variant(tmp_path, FAKE_DIE_AFTER="0.01"), tmp_path / "server"):
            pass
    assert err.value.cause == "fakey ran out of buffers"
