"""A port already in use, as a user meets it (first-hour finding): `harness run` on the command line with a real
process holding `server.port`, and the likely cause on the screen (stderr), not only in MLflow's harness.error tag.

Two ways a port is taken: a process listening on it (found before anything is launched), and a process that bound
it without listening yet (the server itself fails to bind, and its log says so): the fake llama-server (Python's
"Address already in use") and, where it is installed, the real llama-server ("couldn't bind HTTP server socket").
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.fakes.harness_run import fake_spec
from tests.integration.conftest import llamacpp_available

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
TAKEN = "the port is taken: set server.port to a free port or leave it empty to pick one"

HOLD = """import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
if sys.argv[1] == "listen":
    s.listen(8)
print(s.getsockname()[1], flush=True)
time.sleep(600)
"""


@contextmanager
def port_holder(listen: bool) -> Iterator[int]:
    """Another process (a real one) holding a port: listening on it, or only bound to it."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD, "listen" if listen else "bind"], stdout=subprocess.PIPE, text=True)
    try:
        yield int(proc.stdout.readline())
    finally:
        proc.kill()
        proc.wait(10)


def _run(tmp: Path, spec: Path | str, *sets: str, variant: str | None = None) -> subprocess.CompletedProcess:
    args = [sys.executable, "-m", "harness", "run", str(spec), "--no-compare"] + (["--variant", variant] if variant else [])
    for s in sets:
        args += ["--set", s]
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}", "PYTHONPATH": str(REPO)}
    return subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def _error_tag(tmp: Path, experiment: str) -> str:
    from mlflow.tracking import MlflowClient

    c = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}")
    exp = c.get_experiment_by_name(experiment)
    (run,) = [r for r in c.search_runs([exp.experiment_id]) if r.data.tags.get("harness.kind") == "variant"]
    return run.data.tags["harness.error"]


def test_a_listening_process_on_the_port_is_named_on_screen_before_anything_starts(tmp_path):
    spec = fake_spec(tmp_path, "port-listened", "  - name: only", load="{users: 1, duration_s: 2, warmup_s: 0}")
    with port_holder(listen=True) as port:
        proc = _run(tmp_path, spec, f"server.port={port}")
    said = f"port {port} is already in use by another process; leave server.port empty to pick a free one"
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert f"[1/1] only: FAILED: server: {said}" in proc.stderr and "Traceback" not in proc.stderr
    assert not list((tmp_path / "runs").glob("port-listened-*/only/server/server.log"))  # nothing was launched
    assert said in _error_tag(tmp_path, "port-listened")


def test_a_server_that_cannot_bind_shows_the_likely_cause_on_screen(tmp_path):
    spec = fake_spec(tmp_path, "port-bound", "  - name: only", load="{users: 1, duration_s: 2, warmup_s: 0}")
    with port_holder(listen=False) as port:  # bound, not listening: the harness's check passes, the server's bind fails
        proc = _run(tmp_path, spec, f"server.port={port}")
    assert proc.returncode == 2, proc.stderr[-3000:]
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("[1/1] only: FAILED"))
    assert "server exited with code 1 before it was ready" in line and f"likely cause: {TAKEN}" in line, proc.stderr[-3000:]
    tag = _error_tag(tmp_path, "port-bound")
    assert f"likely cause: {TAKEN}" in tag and "Address already in use" in tag  # and the log's own words in MLflow


@pytest.mark.skipif(not llamacpp_available(), reason="llama-cpp-server not installed (./scripts/setup.sh builds it)")
def test_the_real_llama_server_on_a_bound_port_shows_the_likely_cause_on_screen(tmp_path):
    with port_holder(listen=False) as port:
        proc = _run(tmp_path, "examples/local-smoke.yaml", f"server.port={port}", "quality.enabled=false", "load.duration_s=2",
                    f"tracking.run_dir={tmp_path / 'runs'}", variant="parallel-1")
    assert proc.returncode == 2, proc.stderr[-3000:]
    line = next(ln for ln in proc.stderr.splitlines() if ln.startswith("[1/1] parallel-1: FAILED"))
    assert "before it was ready" in line and f"likely cause: {TAKEN}" in line, proc.stderr[-3000:]
    assert "couldn't bind" in _error_tag(tmp_path, "local-smoke")
