"""Faults while a server starts, at the `serve()` level, against real servers and sockets on 127.0.0.1:
readiness keeps its deadline, an impostor on the port is refused, and every start failure is a
HarnessError with one clear line naming the cause and the fix (never a raw OSError)."""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.errors import DependencyError, HarnessError, ModelSourceError, ReadinessTimeout, ServerExitedError, SpecError
from harness.server.endpoint import Endpoint
from harness.server.launch import free_port, serve
from harness.server.process import ManagedProcess
from harness.server.readiness import wait_ready
from harness.spec.model import ResolvedVariant, ServerSpec
from tests.fakes.fake_llama_server import install as install_fake_llama
from tests.fakes.openai_server import FakeState, start

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def silent_server():
    """A raw TCP server on 127.0.0.1 that accepts every connection and never answers; yields its port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except OSError:
                continue

    threading.Thread(target=accept, daemon=True).start()
    yield sock.getsockname()[1]
    stop.set()
    for s in held + [sock]:
        s.close()


def _attach(base_url: str, timeout_s: float = 3.0, **kw) -> ResolvedVariant:
    spec = ServerSpec(kind="openai", served_model_name="fake-model", startup_timeout_s=timeout_s, openai={"base_url": base_url}, **kw)
    return ResolvedVariant(name="attach", server=spec)


def _launch(tmp_path: Path, **kw) -> ResolvedVariant:
    fake, model = install_fake_llama(tmp_path)
    server = {"model": str(model), "served_model_name": "fake-model", "startup_timeout_s": 30, "env": {"PYTHONPATH": str(REPO)},
              "llamacpp": {"binary": str(fake)}, **kw}
    return ResolvedVariant(name="launch", server=ServerSpec.model_validate(server))


def _fails(variant: ResolvedVariant, workdir: Path) -> tuple[HarnessError, float]:
    t = time.monotonic()
    with pytest.raises(HarnessError) as info:
        with serve(variant, workdir):
            pass
    return info.value, time.monotonic() - t


# ---------------------------------------------------------------- readiness keeps its deadline


def test_readiness_against_a_server_that_never_answers_keeps_its_deadline(silent_server):
    t = time.monotonic()
    with pytest.raises(ReadinessTimeout, match="did not answer within") as info:
        wait_ready(Endpoint(base_url=f"http://127.0.0.1:{silent_server}", model="m"), deadline_s=3, poll_s=0.1)
    took = time.monotonic() - t
    assert took < 3 + 5, f"readiness overshot its 3 s deadline by {took - 3:.0f}s (the old probe timeout was 30 s)"


def test_a_warm_up_request_that_stalls_fails_at_the_deadline_naming_it(tmp_path):
    state = FakeState(mode="stall")
    srv = start(state)
    try:
        err, took = _fails(_attach(f"http://127.0.0.1:{srv.server_address[1]}"), tmp_path)
    finally:
        srv.shutdown()
    assert isinstance(err, ReadinessTimeout) and took < 3 + 5, took
    assert "the warm-up completion did not answer within" in str(err) and "\n" not in str(err)
    assert state.requests >= 1  # the warm-up was sent, and stalled


# ---------------------------------------------------------------- an impostor on the port


def test_a_launched_server_on_a_port_someone_already_serves_fails_before_launching(tmp_path):
    from harness.outcome import VariantOutcome
    from harness.pipeline.presenter import Presenter
    from harness.pipeline.variant import run_variant
    from harness.spec import build_spec

    impostor_state = FakeState(model="fake-model")
    impostor = start(impostor_state)
    port = impostor.server_address[1]
    try:
        variant = _launch(tmp_path, port=port)
        spec = build_spec({"name": "impostor", "load": {"users": 1, "duration_s": 2, "warmup_s": 0},
                           "quality": {"enabled": False}, "metrics": {"enabled": False}}, {}, [])
        outcome = VariantOutcome(variant=variant, folder=tmp_path / "v")
        lines: list[str] = []
        presenter = Presenter(lines.append)
        run_variant(spec, variant, outcome, presenter)
        presenter.variant_done(1, 1, outcome, None)
    finally:
        impostor.shutdown()
    message = f"port {port} is already in use by another process; leave server.port empty to pick a free one"
    (failure,) = outcome.failures
    assert failure.stage == "server" and failure.message == message and failure.kind == "ServerError"
    assert any(line.startswith("[1/1] launch: FAILED: server: " + message) for line in lines), lines  # on screen, not only in MLflow
    assert impostor_state.requests == 0  # nothing was measured against the impostor
    assert not (tmp_path / "v" / "server" / "server.log").exists()  # nothing was launched


def test_ready_answers_while_our_process_has_exited_are_not_accepted(tmp_path):
    # our "server" exits after 0.3 s, while someone else's server on the port is answering the (slow) warm-up
    state = FakeState(mode="slow", slow_s=1.5)
    srv = start(state)
    ep = Endpoint(base_url=f"http://127.0.0.1:{srv.server_address[1]}", model="fake-model")
    try:
        with ManagedProcess([sys.executable, "-c", "import time; time.sleep(0.3)"], tmp_path / "s.log") as proc:
            with pytest.raises(ServerExitedError, match="something else answered") as info:
                wait_ready(ep, deadline_s=20, proc=proc, warmup_max_tokens=32)
    finally:
        srv.shutdown()
    assert state.requests == 1 and info.value.returncode == 0
    assert "port" in (info.value.cause or "")


def test_a_free_configured_port_is_still_used(tmp_path):
    port = free_port()
    with serve(_launch(tmp_path, port=port), tmp_path / "server") as running:
        assert running.endpoint.base_url == f"http://127.0.0.1:{port}" and running.alive()


# ---------------------------------------------------------------- start failures are one clear line


def test_an_attach_endpoint_that_never_becomes_ready(tmp_path):
    srv = start(FakeState(mode="unhealthy"))
    try:
        err, took = _fails(_attach(f"http://127.0.0.1:{srv.server_address[1]}"), tmp_path)
    finally:
        srv.shutdown()
    assert isinstance(err, ReadinessTimeout) and took < 3 + 5
    assert "/health answered 503" in str(err) and "startup_timeout_s" in str(err) and "\n" not in str(err)


def test_an_attach_endpoint_on_a_wrong_port(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    err, took = _fails(_attach(url, timeout_s=2), tmp_path)
    assert isinstance(err, ReadinessTimeout) and took < 2 + 5
    assert str(err) == (f"nothing answers at {url} after 2s (connection refused): "
                        "check server.openai.base_url (host and port) and that the server is running")


def test_an_attach_url_that_is_not_a_url(tmp_path):
    err, _ = _fails(_attach("http://[::1"), tmp_path)
    assert isinstance(err, SpecError) and "server.openai.base_url: 'http://[::1' is not a valid URL" in str(err)


def test_a_missing_model_path(tmp_path):
    err, _ = _fails(_launch(tmp_path, model=str(tmp_path / "nope.gguf")), tmp_path)
    assert isinstance(err, ModelSourceError) and "nope.gguf' is not an existing path" in str(err)


def test_a_model_folder_where_a_file_is_needed(tmp_path):
    (tmp_path / "weights").mkdir()
    err, _ = _fails(_launch(tmp_path, model=str(tmp_path / "weights")), tmp_path)
    assert isinstance(err, ModelSourceError)
    assert str(err) == f"server.model: '{tmp_path / 'weights'}' is a folder; llamacpp needs one model file (e.g. a .gguf)"


def test_a_missing_server_binary(tmp_path):
    variant = _launch(tmp_path)
    missing = variant.model_copy(update={"server": variant.server.model_copy(update={"llamacpp": variant.server.llamacpp.model_copy(
        update={"binary": str(tmp_path / "no-such-llama")})})})
    err, _ = _fails(missing, tmp_path)
    assert isinstance(err, DependencyError) and f"server binary '{tmp_path / 'no-such-llama'}' does not exist" in str(err)
    on_path = missing.model_copy(update={"server": missing.server.model_copy(update={"llamacpp": missing.server.llamacpp.model_copy(
        update={"binary": "no-such-llama-server"})})})
    err, _ = _fails(on_path, tmp_path)
    assert isinstance(err, DependencyError) and "server binary 'no-such-llama-server' is not on PATH" in str(err)


@pytest.mark.parametrize("content,mode", [(b"#!/bin/sh\nexit 0\n", 0o644), (b"\x7fELF garbage, not a program", 0o755)],
                         ids=["not-executable", "not-a-program"])
def test_a_server_binary_that_cannot_be_run(tmp_path, content, mode):
    binary = tmp_path / "broken-llama"
    binary.write_bytes(content)
    binary.chmod(mode)
    variant = _launch(tmp_path)
    variant = variant.model_copy(update={"server": variant.server.model_copy(update={"llamacpp": variant.server.llamacpp.model_copy(
        update={"binary": str(binary)})})})
    err, _ = _fails(variant, tmp_path)
    assert isinstance(err, DependencyError), repr(err)
    assert str(binary) in str(err) and "\n" not in str(err)



def test_a_server_log_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "server"
    blocker.write_text("a file where the server's folder should be")
    err, _ = _fails(_launch(tmp_path), blocker)
    assert type(err).__name__ == "ServerError" and "cannot write the server log" in str(err) and "tracking.run_dir" in str(err)
