"""Variants that fail before writing any file (missing binary, missing model, an endpoint on a wrong port, Ctrl-C during
readiness) are FAILED runs with one clear line; the sweep moves on and nothing is left behind."""

from __future__ import annotations

import signal

import pytest

from harness.server.launch import free_port
from tests.fakes.harness_run import fake_spec, leftover_processes, start_harness, wait_for

pytestmark = pytest.mark.integration


def test_early_failures_are_failed_runs_and_the_sweep_moves_on(tmp_path, mlflow_runs):
    port = free_port()
    variants = f"""  - name: no-binary
    server: {{llamacpp: {{binary: "{tmp_path / 'no-such-llama-server'}"}}}}
  - name: no-model
    server: {{model: "{tmp_path / 'missing.gguf'}"}}
  - name: wrong-port
    server: {{kind: openai, startup_timeout_s: 5, openai: {{base_url: "http://127.0.0.1:{port}"}}}}
  - name: healthy"""
    spec = fake_spec(tmp_path, "early", variants, load="{users: 1, duration_s: 2, warmup_s: 0, request_timeout_s: 5}")
    proc = start_harness(["run", str(spec)], tmp_path)
    code = proc.wait(timeout=300)
    out = (tmp_path / "harness.out").read_text()
    assert code == 2 and "Traceback" not in out, out[-4000:]
    assert "3 variant(s) failed: no-binary, no-model, wrong-port" in out
    for line in ("[1/4] no-binary: FAILED: server: server binary", "[2/4] no-model: FAILED: server:", "[3/4] wrong-port: FAILED: server:",
                 "[4/4] healthy: ok"):
        assert line in out, (line, out[-4000:])
    _, parents, children = mlflow_runs(tmp_path, "early")
    assert parents[0].info.status == "FAILED"
    for name in ("no-binary", "no-model", "wrong-port"):
        run = children[name]
        assert run.info.status == "FAILED" and run.data.tags["harness.status"] == "failed" and run.data.tags["harness.error"]
    assert children["healthy"].info.status == "FINISHED" and children["healthy"].data.metrics["perf/requests"] > 0
    assert f"127.0.0.1:{port}" in children["wrong-port"].data.tags["harness.error"]


def test_ctrl_c_during_readiness(tmp_path, mlflow_runs):
    port = free_port()
    variants = f"""  - name: waiting
    server: {{kind: openai, startup_timeout_s: 120, openai: {{base_url: "http://127.0.0.1:{port}"}}}}
  - name: never"""
    spec = fake_spec(tmp_path, "ready-int", variants)
    proc = start_harness(["run", str(spec)], tmp_path)
    try:
        wait_for(lambda: "[1/2] waiting: starting" in (tmp_path / "harness.out").read_text(), 120, "readiness to start")
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = (tmp_path / "harness.out").read_text()
    assert code == 130 and "harness: interrupted (SIGINT)" in out and "Traceback" not in out, out[-3000:]
    _, parents, children = mlflow_runs(tmp_path, "ready-int")
    assert children["waiting"].info.status == "FAILED" and "interrupted" in children["waiting"].data.tags["harness.error"]
    assert "never" not in children and parents[0].info.status == "FAILED"
    assert not leftover_processes(str(tmp_path))
