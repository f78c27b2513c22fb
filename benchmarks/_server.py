"""Start/stop benchmarks/sse_server.py as a subprocess (shared by the benchmarks)."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent


class SSEServer:
    def __init__(self, chunks: int, interval: float, ttft: float, extra: list[str] | None = None):
        self.argv = [sys.executable, str(HERE / "sse_server.py"), "--port", "0", "--chunks", str(chunks), "--interval", str(interval), "--ttft", str(ttft)]
        self.argv += extra or []
        self.proc: subprocess.Popen | None = None
        self.port = 0

    def __enter__(self) -> "SSEServer":
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        self.port = int(line.split()[-1])
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stats(self) -> dict:
        with urllib.request.urlopen(self.url + "/stats", timeout=10) as r:
            return json.loads(r.read())

    def __exit__(self, *exc) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
