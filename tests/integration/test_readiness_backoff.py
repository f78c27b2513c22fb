"""Readiness's retry schedule (tenacity): waits double from poll_s, the last one is cut to the deadline, and a process
exiting during a wait ends it at once."""

from __future__ import annotations

import sys
import time

import pytest

from harness.errors import ReadinessTimeout, ServerExitedError
from harness.server.process import ManagedProcess
from harness.server.readiness import wait_ready


def test_waits_double_and_the_last_probe_comes_at_the_deadline(fake_server):
    """poll_s 0.2 under a 3 s deadline: probes at about 0, 0.2, 0.6, 1.4 and 3.0 s (the 3.2 s wait cut to the 1.6 s
    left): five; a fixed 0.2 s pause would make ~15, no backoff cap-by-deadline would stop at four before 3 s."""
    ep, state = fake_server(mode="unhealthy")
    t0 = time.monotonic()
    with pytest.raises(ReadinessTimeout, match="/health answered 503"):
        wait_ready(ep, deadline_s=3.0, poll_s=0.2)
    took = time.monotonic() - t0
    assert 3.0 <= took < 3.0 + 5, f"gave up after {took:.1f}s, not at the 3 s deadline"
    assert 4 <= state.gets.get("/health", 0) <= 5, state.gets


def test_a_process_exiting_during_a_wait_ends_it_at_once(fake_server, tmp_path):
    """The first probe fails (unhealthy), the wait before the next is 5 s (MAX_WAIT_S); the process exits ~1 s into it
    and says when: the wait ends within a fraction of a second of that, not at its end."""
    ep, _ = fake_server(mode="unhealthy")
    script = "import sys, time; time.sleep(1); print('error: out of memory', time.time(), flush=True); sys.exit(3)"
    with ManagedProcess([sys.executable, "-c", script], tmp_path / "s.log") as proc:
        with pytest.raises(ServerExitedError) as info:
            wait_ready(ep, deadline_s=60, proc=proc, poll_s=20)
        noticed = time.time()
    assert info.value.returncode == 3 and "out of memory" in info.value.log_tail
    exited = float(info.value.log_tail.split("out of memory")[1].split()[0])
    assert noticed - exited < 1.5, f"the exit was noticed {noticed - exited:.1f}s late (the wait was not cut short)"
