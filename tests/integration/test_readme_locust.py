"""The README's hand-started server for the Locust web UI works as written (first-hour finding: the Locust section did
not say how to start a server by hand): its commands, with the venv's own path and free ports, against the real
llama-server and Locust."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import llamacpp_available

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    page = (REPO / "docs" / "webui.md").read_text()  # the README's documentation index points here
    section = page
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def _wait(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 240) -> httpx.Response:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"exited {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            r = httpx.get(url, timeout=5)
            if r.status_code == 200:
                return r
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} did not answer: {log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


@pytest.mark.skipif(not llamacpp_available(), reason="llama-cpp-server not installed (./scripts/setup.sh builds it)")
def test_the_readme_s_hand_started_server_and_locust_ui(tmp_path):
    from harness.server.launch import free_port

    model, server, locust = _readme_commands()
    assert model.startswith("MODEL=") and "llama-cpp-server" in server and server.rstrip().endswith("&") and "locust -f" in locust
    port, web = free_port(), free_port()
    venv = f"{Path(sys.executable).parent}/"

    def local(cmd: str) -> str:
        return cmd.replace(".venv/bin/", venv).replace("8080", str(port))

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    slog, llog = tmp_path / "server.log", tmp_path / "locust.log"
    script = local(model) + "\nexec " + local(server).rstrip().removesuffix("&")
    srv = subprocess.Popen(["bash", "-c", script], cwd=REPO, env=env, stdout=slog.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait(f"http://127.0.0.1:{port}/health", srv, slog)
        assert [m["id"] for m in httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=10).json()["data"]] == ["smollm2"]
        assert "llamacpp:" in httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text  # --metrics: the LLM tab's server side
        ui = subprocess.Popen(["bash", "-c", "exec " + local(locust.split("#")[0]) + f" --web-port {web}"], cwd=REPO, env=env,
                              stdout=llog.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
        try:
            page = _wait(f"http://127.0.0.1:{web}/", ui, llog)
            assert "locust" in page.text.lower()
            stats = _wait(f"http://127.0.0.1:{web}/llm/stats", ui, llog)  # the LLM tab's data: the harness's locustfile
            assert isinstance(stats.json(), dict)
        finally:
            _stop(ui)
    finally:
        _stop(srv)
