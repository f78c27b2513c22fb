"""Readiness against real HTTP servers: ready, never healthy, and a process that dies."""

from __future__ import annotations

import sys
import time

import pytest

from harness.errors import ReadinessTimeout, ServerExitedError
from harness.server.endpoint import Endpoint
from harness.server.process import ManagedProcess
from harness.server.readiness import wait_ready


def test_ready_fake(fake_server):
    ep, state = fake_server()
    took = wait_ready(ep, deadline_s=10)
    assert took < 10 and state.requests == 1  # exactly one warm-up completion


def test_model_not_listed_times_out_naming_it(fake_server):
    ep, _ = fake_server(model="other")
    wrong = Endpoint(base_url=ep.base_url, model="smollm2")
    with pytest.raises(ReadinessTimeout, match="not 'smollm2'"):
        wait_ready(wrong, deadline_s=1.5, poll_s=0.1)


def test_unhealthy_times_out(fake_server):
    ep, _ = fake_server(mode="unhealthy")
    t0 = time.monotonic()
    with pytest.raises(ReadinessTimeout, match="/health answered 503"):
        wait_ready(ep, deadline_s=1.5, poll_s=0.1)
    assert time.monotonic() - t0 < 10


def test_process_exit_is_raced(tmp_path):
    script = "import sys; print('error: unrecognized arguments: --bogus', flush=True); sys.exit(2)"
    with ManagedProcess([sys.executable, "-c", script], tmp_path / "s.log") as proc:
        t0 = time.monotonic()
        with pytest.raises(ServerExitedError) as info:
            wait_ready(Endpoint(base_url="http://127.0.0.1:9", model="m"), deadline_s=60, proc=proc, poll_s=0.1)
    assert time.monotonic() - t0 < 10  # did not wait for the 60 s deadline
    assert info.value.returncode == 2
    assert "unrecognized arguments" in info.value.log_tail
    assert "unknown command-line flag" in (info.value.cause or "")
