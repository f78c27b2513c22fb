"""SIGTERM, SIGHUP and SIGINT (once and twice) stop a real `harness run` cleanly: exit 130, one clear line,
runs FAILED with the reason and what was measured, no process left behind."""

from __future__ import annotations

import signal
import time

import pytest

from tests.faults.conftest import fake_spec, leftover_processes, start_harness, wait_for

pytestmark = pytest.mark.integration


def _records(tmp) -> int:
    return sum(sum(1 for _ in p.open()) for p in (tmp / "runs").rglob("records.jsonl*"))


@pytest.mark.parametrize("signals", [[signal.SIGTERM], [signal.SIGHUP], [signal.SIGINT, signal.SIGINT]], ids=["SIGTERM", "SIGHUP", "SIGINT-twice"])
def test_a_signal_stops_the_sweep_cleanly(tmp_path, mlflow_runs, signals):
    spec = fake_spec(tmp_path, "sig", "  - name: first\n  - name: second")
    proc = start_harness(["run", str(spec), "--no-compare"], tmp_path)
    try:
        wait_for(lambda: _records(tmp_path) >= 5, 120, "the first variant's load to be under way")
        for sig in signals:
            proc.send_signal(sig)
            time.sleep(0.3)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = (tmp_path / "harness.out").read_text()
    assert code == 130, out[-3000:]
    name = signals[0].name
    assert f"harness: interrupted ({name})" in out and "Traceback" not in out, out[-3000:]
    wait_for(lambda: not leftover_processes(str(tmp_path)), 30, "every child to be gone")
    c, parents, children = mlflow_runs(tmp_path, "sig")
    assert parents[0].info.status == "FAILED"
    first = children["first"]
    assert first.info.status == "FAILED" and "second" not in children
    how = "the user (Ctrl-C)" if name == "SIGINT" else f"a {name} signal"
    assert f"interrupted by {how}" in first.data.tags["harness.error"]
    assert first.data.metrics.get("perf/requests", 0) > 0  # what was measured before the signal is kept


def test_ctrl_c_keeps_a_load_that_had_finished(tmp_path, mlflow_runs, data_dir):
    """The load is over and lm-eval is still waiting on a stalled server: Ctrl-C keeps the load's metrics."""
    spec = fake_spec(tmp_path, "keep", '  - name: only\n    server: {env: {FAKE_MODE: slow, FAKE_SLOW_S: "600", PYTHONPATH: "%s"}}' % (
        str(__import__("tests.faults.conftest", fromlist=["REPO"]).REPO)),
        load="{users: 2, duration_s: 3, warmup_s: 0, request_timeout_s: 5}", quality="{tasks: [gsm8k], limit: 1}")
    proc = start_harness(["run", str(spec), "--no-compare"], tmp_path, {"HARNESS_DATA_DIR": str(data_dir)})
    try:
        wait_for(lambda: any((tmp_path / "runs").rglob("locust_report.html")), 120, "the load to finish (Locust's report written)")
        time.sleep(1)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = (tmp_path / "harness.out").read_text()
    assert code == 130, out[-3000:]
    wait_for(lambda: not leftover_processes(str(tmp_path)), 30, "every child to be gone")
    _, _, children = mlflow_runs(tmp_path, "keep")
    run = children["only"]
    assert run.info.status == "FAILED" and "interrupted by the user" in run.data.tags["harness.error"]
    assert run.data.metrics["perf/requests"] > 0 and "perf/ttft_p50_ms" in run.data.metrics
