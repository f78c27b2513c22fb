"""A real `mlflow server` over a store, and headless Chromium's rendered DOM of a page: the UI tests' two parts."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def mlflow_ui(backend_uri: str, folder: Path, ready_s: float = 120.0) -> Iterator[str]:
    """`mlflow server` on a free 127.0.0.1 port, healthy; yields its base URL (the process group is reaped on exit)."""
    import httpx

    from harness.server.launch import free_port
    from harness.server.process import ManagedProcess

    port = free_port()
    argv = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", backend_uri, "--host", "127.0.0.1",
            "--port", str(port), "--workers", "1"]
    with ManagedProcess(argv, folder / "mlflow-ui.log", grace_s=5) as proc:
        deadline = time.time() + ready_s
        while time.time() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise AssertionError(proc.log_tail())
        yield f"http://127.0.0.1:{port}"


def dump_dom(url: str, profile: Path, budget_ms: int = 15000, timeout_s: float = 180) -> str:
    """The page's DOM after `budget_ms` of virtual time in headless Chromium."""
    return subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", f"--user-data-dir={profile}", "--window-size=1600,1000",
         f"--virtual-time-budget={budget_ms}", "--dump-dom", url],
        capture_output=True, text=True, timeout=timeout_s,
    ).stdout
