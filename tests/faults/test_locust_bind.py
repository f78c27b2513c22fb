"""`load.processes > 1`: Locust's master listens on loopback and a port of its own, so two concurrent runs
never share workers (it used to bind *:5557, where a second run's workers joined the first)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from harness.load.runner import LoadRun
from harness.spec.model import LengthDist, LoadSpec

pytestmark = pytest.mark.integration


def _listeners() -> set[tuple[str, int]]:
    """(address hex, port) of every IPv4 TCP socket in LISTEN state."""
    out = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        if state == "0A":
            addr, port = local.split(":")
            out.add((addr, int(port, 16)))
    return out


def test_two_concurrent_multi_process_runs_keep_their_own_workers(fake_server, tmp_path):
    ep, _ = fake_server(ttft_s=0.02, interval_s=0.01, chunks=4)
    spec = LoadSpec(users=4, processes=2, duration_s=6, warmup_s=0, prompt_tokens=LengthDist(mean=10),
                    output_tokens=LengthDist(mean=4, max=4), request_timeout_s=10)
    before = _listeners()
    runs = [LoadRun(spec, ep, tmp_path / name) for name in ("a", "b")]
    seen: set[tuple[str, int]] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            seen.update(_listeners() - before)
            time.sleep(0.2)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    for r in runs:
        r.start()
    results = [r.finish() for r in runs]
    stop.set()
    t.join()
    for r, res in zip(runs, results):
        assert "0.0.0.0" not in " ".join(r.proc.argv) and "--master-bind-host" in r.proc.argv
        assert res.summary.requests > 0 and res.summary.errors == 0
        assert len(res.artifacts.record_files()) == 2  # its own two worker processes, nobody else's
    wildcard = [p for a, p in seen if a == "00000000"]
    assert not wildcard, f"something listened on all interfaces: ports {wildcard}"
    ports = {int(r.proc.argv[r.proc.argv.index("--master-bind-port") + 1]) for r in runs}
    assert len(ports) == 2 and 5557 not in ports
