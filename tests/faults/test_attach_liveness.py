"""Attach mode notices a dead endpoint: a rate-limited health probe, death after a few connection
failures in a row (a slow server is alive), and the variant fails with that cause."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.server.endpoint import Endpoint
from harness.server.launch import RunningServer
from harness.server.readiness import Liveness
from tests.fakes.harness_run import REPO, leftover_processes, start_harness, wait_for
from tests.faults.test_server_start import silent_server  # noqa: F401  (fixture)
from tests.fakes.openai_server import FakeState, start

pytestmark = pytest.mark.integration


def test_an_attached_endpoint_that_goes_away_is_dead_with_its_cause():
    state = FakeState()
    srv = start(state)
    port = srv.server_address[1]
    running = RunningServer(endpoint=Endpoint(base_url=f"http://127.0.0.1:{port}", model="fake-model", engine="openai"), model=None)
    t = time.monotonic()
    while time.monotonic() - t < 3:  # the pipeline polls every 0.5 s; probes stay at most every ~2 s
        assert running.alive()
        time.sleep(0.1)
    assert 1 <= state.gets.get("/v1/models", 0) <= 3, state.gets
    srv.shutdown()
    srv.server_close()
    wait_for(lambda: not running.alive(), 15, "the dead endpoint to be noticed")
    assert not running.alive()  # and it stays dead
    died = running.death("the measurement")
    url = f"http://127.0.0.1:{port}"
    assert str(died).splitlines()[0] == f"the endpoint stopped answering during the measurement: connection refused at {url}"
    assert died.cause and "stopped" in died.cause and died.returncode is None


def test_a_slow_but_answering_endpoint_is_alive(silent_server):  # noqa: F811
    live = Liveness(Endpoint(base_url=f"http://127.0.0.1:{silent_server}", model="m"), every_s=0.1, retry_s=0.1, timeout_s=0.3)
    t = time.monotonic()
    while time.monotonic() - t < 2.5:
        assert live.alive() and live.problem is None
    dead = Liveness(Endpoint(base_url="http://127.0.0.1:9", model="m"), every_s=0.1, retry_s=0.1, failures=3)
    assert dead.alive() and dead.alive()  # one failure is not death
    wait_for(lambda: not dead.alive(), 5, "three refused probes")
    assert dead.problem == "connection refused at http://127.0.0.1:9"


def _fake_process(tmp: Path) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--port", "0", "--ttft", "0.02"], cwd=REPO,
                            stdout=subprocess.PIPE, text=True, start_new_session=True)
    line = proc.stdout.readline()
    assert line.startswith("listening on "), line
    return proc, int(line.split()[-1])


def run_records(tmp) -> int:
    return sum(sum(1 for _ in p.open()) for p in (tmp / "runs").rglob("records.jsonl*"))


def test_a_sweep_attached_to_an_endpoint_that_is_killed_fails_the_variant(tmp_path, mlflow_runs):
    fake, port = _fake_process(tmp_path)
    spec = tmp_path / "attach.yaml"
    spec.write_text(f"""
name: attach-dies
server:
  kind: openai
  served_model_name: fake-model
  startup_timeout_s: 30
  openai: {{base_url: "http://127.0.0.1:{port}"}}
variants:
  - name: only
load: {{users: 2, duration_s: 40, warmup_s: 0, request_timeout_s: 5}}
quality: {{enabled: false}}
metrics: {{interval_s: 1}}
tracking: {{run_dir: "{tmp_path / 'runs'}"}}
""")
    proc = start_harness(["run", str(spec), "--no-compare"], tmp_path)
    try:
        wait_for(lambda: "ready in" in (tmp_path / "harness.out").read_text(), 120, "the endpoint to be ready")
        time.sleep(2)
        fake.send_signal(signal.SIGKILL)
        fake.wait(10)
        killed = time.monotonic()
        code = proc.wait(timeout=120)
        took = time.monotonic() - killed
    finally:
        for p in (proc, fake):
            if p.poll() is None:
                p.kill()
    out = (tmp_path / "harness.out").read_text()
    assert code == 2, out[-3000:]
    assert took < 30, f"the dead endpoint went unnoticed for {took:.0f}s (the load would have run 40 s)"
    assert "[1/1] only: FAILED: server: the endpoint stopped answering during the measurement" in out and "Traceback" not in out, out[-3000:]
    # the load backed off: a dead endpoint is not hammered with thousands of requests
    assert run_records(tmp_path) < 400
    c, parents, children = mlflow_runs(tmp_path, "attach-dies")
    run = children["only"]
    assert run.info.status == "FAILED" and parents[0].info.status == "FAILED"
    assert run.data.metrics.get("perf/requests", 0) > 0  # measured before the death, kept
    wait_for(lambda: not leftover_processes(str(tmp_path)), 30, "every child to be gone")
