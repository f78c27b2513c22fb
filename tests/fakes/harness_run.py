"""Builders shared by the fault and end-to-end tiers: a spec on the fake llama-server, a real `harness run` subprocess,
waiting for a condition, and finding processes a test left behind."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

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
