"""MLflow failures never lose a measurement: a tracking server that dies mid-sweep, one that was never there, a
read-only store. The sweep goes on locally, says so in one line, exits 2, and `harness sync` logs it later."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.fakes.harness_run import fake_spec, start_harness, wait_for

pytestmark = pytest.mark.integration


def _mlflow_server(tmp: Path, port: int) -> subprocess.Popen:
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{tmp / 'server.db'}",
            "--artifacts-destination", str(tmp / "server-artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    proc = subprocess.Popen(argv, stdout=(tmp / f"mlflow-{port}.log").open("a"), stderr=subprocess.STDOUT, start_new_session=True)

    def up() -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, 180, "mlflow server to answer /health")
    return proc


def _stop(proc: subprocess.Popen) -> None:
    import os
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(30)


def _children(uri: str, experiment: str) -> dict:
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=uri)
    exp = c.get_experiment_by_name(experiment)
    return {r.data.tags.get("harness.variant"): r for r in c.search_runs([exp.experiment_id]) if r.data.tags.get("harness.kind") == "variant"}


def test_a_tracking_server_killed_mid_sweep_then_sync(tmp_path):
    from harness.server.launch import free_port

    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = _mlflow_server(tmp_path, port)
    spec = fake_spec(tmp_path, "mlflow-dies", "  - name: first\n  - name: second",
                     load="{users: 2, duration_s: 4, warmup_s: 0, request_timeout_s: 5}")
    proc = start_harness(["run", str(spec)], tmp_path, {"MLFLOW_TRACKING_URI": uri})
    try:
        state_file = lambda: next((tmp_path / "runs").glob("mlflow-dies-*/sweep_state.json"), None)  # noqa: E731
        wait_for(lambda: state_file() is not None and json.loads(state_file().read_text())["variants"]["first"]["logged"], 240,
                 "the first variant to be logged")
        _stop(server)
        killed = time.monotonic()
        code = proc.wait(timeout=300)
        took = time.monotonic() - killed
    finally:
        if proc.poll() is None:
            proc.kill()
        _stop(server)
    out = (tmp_path / "harness.out").read_text()
    assert code == 2, out[-3000:]
    assert "MLflow unavailable (" in out and "the sweep goes on locally" in out and "Traceback" not in out, out[-3000:]
    assert took < 120, f"{took:.0f}s after the tracking server died (it used to be ~8.5 min of retries)"
    folder = state_file().parent
    state = json.loads(state_file().read_text())
    assert state["variants"]["second"]["status"] == "ok" and not state["variants"]["second"]["logged"]
    second = json.loads((folder / "second" / "results.json").read_text())
    assert second["metrics"]["perf/requests"] > 0  # computed results reached the folder first
    # the tracking server comes back (same store): sync logs what it missed, once
    server = _mlflow_server(tmp_path, port)
    try:
        env = {"MLFLOW_TRACKING_URI": uri}
        first_sync = subprocess.run([sys.executable, "-m", "harness", "sync", str(folder)], capture_output=True, text=True,
                                    timeout=300, env={**__import__("os").environ, **env})
        assert first_sync.returncode == 0 and "logged second" in first_sync.stdout, first_sync.stdout + first_sync.stderr
        again = subprocess.run([sys.executable, "-m", "harness", "sync", str(folder)], capture_output=True, text=True, timeout=300,
                               env={**__import__("os").environ, **env})
        assert again.returncode == 0 and "logged nothing new" in again.stdout, again.stdout + again.stderr
        runs = _children(uri, "mlflow-dies")
        assert sorted(runs) == ["first", "second"]
        assert runs["second"].info.status == "FINISHED" and runs["second"].data.metrics["perf/requests"] == second["metrics"]["perf/requests"]
        assert runs["second"].data.tags["harness.synced"] == "true"
    finally:
        _stop(server)


def _sync(folder: Path, env_uri: str, *flags: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "harness", "sync", str(folder), *flags], capture_output=True, text=True,
                          timeout=300, env={**os.environ, "MLFLOW_TRACKING_URI": env_uri})


def test_an_unreachable_tracking_server_fails_fast_and_the_sweep_goes_on(tmp_path):
    """The spec names a tracking server that is not there (recorded in experiment.yaml); `harness sync` later logs into
    the store named now: MLFLOW_TRACKING_URI, or --uri over it."""
    import shutil

    from harness.server.launch import free_port

    spec = fake_spec(tmp_path, "no-mlflow", "  - name: only", load="{users: 1, duration_s: 2, warmup_s: 0, request_timeout_s: 5}")
    dead = f"http://127.0.0.1:{free_port()}"
    t = time.monotonic()
    proc = start_harness(["run", str(spec), "--set", f"tracking.uri={dead}"], tmp_path)
    code = proc.wait(timeout=300)
    out = (tmp_path / "harness.out").read_text()
    assert code == 2 and "MLflow unavailable (" in out and "Traceback" not in out, out[-3000:]
    warned = out.index("MLflow unavailable")
    assert "[1/1] only: ok" in out[warned:], out[-3000:]
    assert time.monotonic() - t < 150
    (folder,) = (tmp_path / "runs").glob("no-mlflow-*")
    assert json.loads((folder / "only" / "results.json").read_text())["status"] == "FINISHED"
    assert f"harness sync {folder}" in out and dead in (folder / "experiment.yaml").read_text()
    twin = shutil.copytree(folder, tmp_path / "twin")
    # later, into the store MLFLOW_TRACKING_URI names now, not the dead one baked into experiment.yaml
    later = f"sqlite:///{tmp_path / 'later.db'}"
    sync = _sync(folder, later)
    assert sync.returncode == 0 and "logged only" in sync.stdout, sync.stdout + sync.stderr
    assert _children(later, "no-mlflow")["only"].data.metrics["perf/requests"] > 0
    # --uri wins over the environment
    other = f"sqlite:///{tmp_path / 'other.db'}"
    sync = _sync(twin, dead, "--uri", other)
    assert sync.returncode == 0 and "logged only" in sync.stdout, sync.stdout + sync.stderr
    assert _children(other, "no-mlflow")["only"].info.status == "FINISHED"


@pytest.mark.parametrize("database", ["initialised", "not yet created"])
def test_a_read_only_store_is_one_line_within_seconds_and_the_sweep_goes_on(tmp_path, database):
    """A SQLite store on a read-only mount (root ignores file modes, so a real read-only bind mount). A database not
    created yet used to cost 100 s of MLflow's silent retries before the one line."""
    from mlflow.tracking import MlflowClient

    store, ro = tmp_path / "store", tmp_path / "ro"
    store.mkdir()
    ro.mkdir()
    if database == "initialised":
        MlflowClient(tracking_uri=f"sqlite:///{store / 'mlflow.db'}").search_experiments()  # a real, initialised store
    bind = subprocess.run(["mount", "--bind", str(store), str(ro)], capture_output=True, text=True)
    if bind.returncode != 0:
        pytest.skip(f"cannot bind-mount here ({bind.stderr.strip()})")
    try:
        remount = subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], capture_output=True, text=True)
        if remount.returncode != 0:
            pytest.skip(f"cannot remount read-only here ({remount.stderr.strip()})")
        spec = fake_spec(tmp_path, "ro-store", "  - name: only", load="{users: 1, duration_s: 2, warmup_s: 0, request_timeout_s: 5}")
        t = time.monotonic()
        proc = start_harness(["run", str(spec)], tmp_path, {"MLFLOW_TRACKING_URI": f"sqlite:///{ro / 'mlflow.db'}"})
        wait_for(lambda: "MLflow unavailable (" in (tmp_path / "harness.out").read_text() or proc.poll() is not None, 300,
                 "the harness to say the store is unusable")
        said_after = time.monotonic() - t
        code = proc.wait(timeout=300)
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=False)
    out = (tmp_path / "harness.out").read_text()
    assert code == 2 and "MLflow unavailable (" in out and "Traceback" not in out, out[-3000:]
    assert said_after < 60, f"{said_after:.0f}s before the line (process start and imports included)"
    assert "read-only" in out or "readonly" in out, out[-3000:]
    assert "[1/1] only: ok" in out
    (folder,) = (tmp_path / "runs").glob("ro-store-*")
    assert (folder / "only" / "results.json").is_file()
