"""ManagedProcess reaps its whole process group on any exit."""

from __future__ import annotations

import os
import sys
import time

import pytest

from harness.errors import DependencyError
from harness.server.process import ManagedProcess, likely_cause


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0); look at its state
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_reaps_children_on_exception(tmp_path):
    script = "import subprocess,sys,time; p=subprocess.Popen([sys.executable,'-c','import time; time.sleep(60)']); print(p.pid, flush=True); time.sleep(60)"
    log = tmp_path / "p.log"
    with pytest.raises(RuntimeError):
        with ManagedProcess([sys.executable, "-c", script], log, grace_s=2) as proc:
            deadline = time.time() + 10
            while not log.read_text().strip() and time.time() < deadline:
                time.sleep(0.05)
            child = int(log.read_text().split()[0])
            parent = proc.pid
            raise RuntimeError("boom")
    time.sleep(0.2)
    assert not _alive(parent) and not _alive(child)


def test_sigterm_ignored_gets_sigkill(tmp_path):
    script = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    with ManagedProcess([sys.executable, "-c", script], tmp_path / "p.log", grace_s=0.5) as proc:
        time.sleep(0.5)
        pid = proc.pid
    assert proc.poll() is not None and not _alive(pid)


def test_missing_binary_is_a_dependency_error(tmp_path):
    with pytest.raises(DependencyError, match="not found"):
        ManagedProcess(["/nonexistent/llama-server"], tmp_path / "p.log").start()


def test_argv_must_be_a_list():
    with pytest.raises(TypeError):
        ManagedProcess("llama-server --port 1", None)  # type: ignore[arg-type]


def test_likely_cause():
    assert "out of memory" in likely_cause("torch.OutOfMemoryError: CUDA out of memory. Tried")
    assert "unknown command-line flag" in likely_cause("vllm serve: error: unrecognized arguments: --foo")
    assert likely_cause("all good") is None
