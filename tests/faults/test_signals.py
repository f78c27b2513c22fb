"""SIGTERM, SIGHUP and SIGINT (once and twice) stop a real `harness run` cleanly: exit 130, one clear line,
runs FAILED with the reason and what was measured, no process left behind."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.fakes.harness_run import REPO, fake_spec, leftover_processes, start_harness, wait_for

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
        str(REPO)),
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


def _attach_spec(tmp, name: str, port: int, load: str) -> "Path":
    spec = tmp / f"{name}.yaml"
    spec.write_text(f"""
name: {name}
server:
  kind: openai
  served_model_name: fake-model
  startup_timeout_s: 30
  openai: {{base_url: "http://127.0.0.1:{port}"}}
variants:
  - name: only
load: {load}
quality: {{enabled: false}}
metrics: {{enabled: false}}
tracking: {{run_dir: "{tmp / 'runs'}"}}
""")
    return spec


def _record_lines(tmp) -> list[dict]:
    import json

    return [json.loads(line) for p in (tmp / "runs").rglob("records.jsonl*") for line in p.read_text().splitlines() if line.strip()]


def test_a_second_ctrl_c_during_an_attached_load_keeps_a_record_for_every_request(tmp_path, mlflow_runs):
    """Slow streams (8 chunks 0.6 s apart): every user has a request in flight when Ctrl-C comes twice. The hurried stop
    (SIGKILL 2 s after the second) used to lose them all; now finished requests are kept as they are and those in flight
    are written as failed, "Interrupted", with the chunks that had arrived: one record per request the server received."""
    from tests.fakes.openai_server import FakeState, start

    state = FakeState(chunks=8, ttft_s=0.05, interval_s=0.6)
    srv = start(state)
    spec = _attach_spec(tmp_path, "twice", srv.server_address[1], "{users: 3, duration_s: 60, warmup_s: 0, request_timeout_s: 30}")
    streamed = lambda: sum(1 for b in list(state.bodies) if b.get("stream"))  # noqa: E731
    proc = start_harness(["run", str(spec), "--no-compare"], tmp_path)
    try:
        # a first round finished (records on disk), the next round in flight with seconds to go
        wait_for(lambda: _records(tmp_path) >= 1 and streamed() > _records(tmp_path), 90, "finished requests and requests in flight")
        time.sleep(0.5)
        assert state.streaming >= 1
        proc.send_signal(signal.SIGINT)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
        srv.shutdown()
    out = (tmp_path / "harness.out").read_text()
    assert code == 130, out[-3000:]
    assert "harness: interrupted (SIGINT)" in out and "Traceback" not in out, out[-3000:]
    wait_for(lambda: not leftover_processes(str(tmp_path)), 30, "every child to be gone")
    records = _record_lines(tmp_path)
    assert len(records) == streamed(), (len(records), streamed())  # none lost, none invented
    interrupted = [r for r in records if r["error"] == "Interrupted: the load was stopped before the reply finished"]
    assert interrupted and all(not r["ok"] and r["chunk_offsets_s"] and r["e2e_s"] for r in interrupted), records
    assert any(r["ok"] for r in records)  # the finished ones, as they were
    _, parents, children = mlflow_runs(tmp_path, "twice")
    run = children["only"]
    assert run.info.status == "FAILED" and parents[0].info.status == "FAILED"
    # the signal is the cause, first; a load that did not serve is its consequence, after it
    assert run.data.tags["harness.failed_stage"] == "interrupt"
    assert run.data.tags["harness.error"].startswith("[interrupt] interrupted by the user (Ctrl-C)"), run.data.tags["harness.error"]


def test_a_server_that_dies_during_the_load_is_the_first_failure(tmp_path, mlflow_runs):
    """The attached endpoint is killed while every request is mid-stream: the death is the variant's first failure, on
    screen and in `harness.failed_stage`; the load's errors that followed come after it."""
    import subprocess
    import sys

    from tests.fakes.harness_run import REPO

    fake = subprocess.Popen([sys.executable, "-m", "tests.fakes.openai_server", "--port", "0", "--chunks", "4", "--interval", "0.5"],
                            cwd=REPO, stdout=subprocess.PIPE, text=True, start_new_session=True)
    line = fake.stdout.readline()
    assert line.startswith("listening on "), line
    spec = _attach_spec(tmp_path, "dies", int(line.split()[-1]), "{users: 2, duration_s: 60, warmup_s: 0, request_timeout_s: 10}")
    proc = start_harness(["run", str(spec), "--no-compare"], tmp_path)
    try:
        wait_for(lambda: _records(tmp_path) >= 2, 90, "the first requests to finish")
        time.sleep(1)
        fake.send_signal(signal.SIGKILL)
        code = proc.wait(timeout=90)
    finally:
        for p in (proc, fake):
            if p.poll() is None:
                p.kill()
    out = (tmp_path / "harness.out").read_text()
    assert code == 2, out[-3000:]
    line = next((x for x in out.splitlines() if x.startswith("[1/1] only: FAILED: ")), "")
    assert line.startswith("[1/1] only: FAILED: server: the endpoint stopped answering during the measurement"), out[-3000:]
    _, _, children = mlflow_runs(tmp_path, "dies")
    tags = children["only"].data.tags
    assert tags["harness.failed_stage"] == "server" and tags["harness.error"].startswith("[server] the endpoint stopped answering")
    wait_for(lambda: not leftover_processes(str(tmp_path)), 30, "every child to be gone")


_SLOW_TO_STOP = """
import pathlib, signal, sys, time
out = pathlib.Path(sys.argv[1])
signal.signal(signal.SIGTERM, lambda *_: out.with_name("term").touch())  # a graceful stop that takes its time
def hurried(*_):
    time.sleep(0.3)  # writing its last records
    out.with_name("hurried").touch()
    sys.exit(0)
signal.signal(signal.SIGUSR1, hurried)
out.touch()
while True:
    time.sleep(0.05)
"""


def test_a_second_signal_sends_the_hurry_signal_and_counts_the_grace_from_it(tmp_path):
    """A stop under way for 2.5 s when the second Ctrl-C comes: the group gets its hurry signal and HURRY_GRACE_S from
    then (it used to be SIGKILLed at once, the grace counted from the stop's start), so it finishes on its own."""
    import os
    import sys
    import threading

    from harness.errors import Interrupted
    from harness.server import shutdown
    from harness.server.process import ManagedProcess

    ready = tmp_path / "ready"
    proc = ManagedProcess([sys.executable, "-c", _SLOW_TO_STOP, str(ready)], tmp_path / "p.log", grace_s=60,
                          hurry_signal=signal.SIGUSR1).start()
    try:
        wait_for(ready.exists, 30, "the child to install its handlers")
        with shutdown.handle_signals():
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)
                raise AssertionError("the first signal did not interrupt")
            except Interrupted:
                second = threading.Timer(2.5, os.kill, (os.getpid(), signal.SIGINT))
                second.start()
                t = time.monotonic()
                code = proc.stop()
                took = time.monotonic() - t
                second.join()
            assert shutdown.hurry()
    finally:
        with shutdown.handle_signals():  # entering resets the state: no hurry left for the tests after this one
            pass
        if proc.poll() is None:
            proc.stop()
    assert (tmp_path / "term").exists() and (tmp_path / "hurried").exists(), proc.log_tail()
    assert code == 0, (code, proc.log_tail())  # exited on its own after the hurry signal, not SIGKILLed
    assert 2.0 <= took < 2.5 + shutdown.HURRY_GRACE_S + 5, took
