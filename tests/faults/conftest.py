"""Fault tests: a real `harness run` against misbehaving real servers, stopped by real signals."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import fake_server  # noqa: F401  (a real streaming HTTP server, faults on demand)

REPO = Path(__file__).resolve().parents[2]


def leftover_processes(marker: str) -> list[str]:
    """Command lines of live processes that mention `marker` (a test's tmp path), except this test itself."""
    out = []
    me = os.getpid()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == me:
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = next((line for line in (proc / "status").read_text().splitlines() if line.startswith("State:")), "")
        except OSError:
            continue
        if marker in cmd and "zombie" not in state:
            out.append(f"{proc.name}: {cmd[:200]}")
    return out


def wait_for(predicate, timeout_s: float, what: str) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}")


def start_harness(args: list[str], tmp: Path, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp / 'mlflow.db'}", "PYTHONPATH": str(REPO), **(extra_env or {})}
    log = (tmp / "harness.out").open("w")
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, text=True)


def fake_spec(tmp: Path, name: str, variants: str, load: str = "{users: 2, duration_s: 60, warmup_s: 0, request_timeout_s: 5}",
              quality: str = "{enabled: false}", extra: str = "") -> Path:
    from tests.fakes.fake_llama_server import install

    fake, model = install(tmp)
    spec = tmp / f"{name}.yaml"
    spec.write_text(f"""
name: {name}
server:
  kind: llamacpp
  model: {model}
  served_model_name: fake-model
  startup_timeout_s: 30
  env: {{PYTHONPATH: "{REPO}"}}
  llamacpp: {{binary: "{fake}"}}
variants:
{variants}
load: {load}
quality: {quality}
metrics: {{interval_s: 1}}
tracking: {{run_dir: "{tmp / 'runs'}"}}
{extra}
""")
    return spec


@pytest.fixture()
def mlflow_runs():
    def read(tmp: Path, experiment: str):
        from mlflow.tracking import MlflowClient

        c = MlflowClient(tracking_uri=f"sqlite:///{tmp / 'mlflow.db'}")
        exp = c.get_experiment_by_name(experiment)
        runs = c.search_runs([exp.experiment_id]) if exp else []
        parents = [r for r in runs if r.data.tags.get("harness.kind") == "sweep"]
        children = {r.data.tags.get("harness.variant"): r for r in runs if r.data.tags.get("harness.kind") == "variant"}
        return c, parents, children

    return read
