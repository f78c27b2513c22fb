"""The load generator under server faults: a dead or erroring endpoint is not hammered, Retry-After is honoured and counted."""

from __future__ import annotations

import pytest

from harness.load.runner import LoadRun
from harness.server.endpoint import Endpoint
from harness.server.launch import free_port
from harness.spec.model import LengthDist, LoadSpec

pytestmark = pytest.mark.integration


def _spec(**kw) -> LoadSpec:
    base = dict(users=2, spawn_rate=10, duration_s=6, warmup_s=0, prompt_tokens=LengthDist(mean=10),
                output_tokens=LengthDist(mean=4, max=4), request_timeout_s=5)
    base.update(kw)
    return LoadSpec(**base)


@pytest.mark.parametrize("client", ["reactor", "requests"])
def test_connection_refused_backs_off_instead_of_hammering(tmp_path, client):
    port = free_port()
    ep = Endpoint(base_url=f"http://127.0.0.1:{port}", model="m", metrics_url=None, engine="openai")
    result = LoadRun(_spec(http_client=client), ep, tmp_path).start().finish()
    s = result.summary
    # 2 users x 6 s: with backoff (0.1, 0.2, 0.4, ... up to 5 s) about 12 attempts; without it, thousands
    assert 0 < s.requests <= 40 and s.errors == s.requests and s.backoffs == s.requests
    assert s.error_kinds and all("Connection" in k or "refused" in k.lower() for k in s.error_kinds), s.error_kinds


@pytest.mark.parametrize("client", ["reactor", "requests"])
def test_retry_after_is_honoured_and_counted(fake_server, tmp_path, client):
    ep, state = fake_server(mode="http429")
    state.retry_after_s = 2
    result = LoadRun(_spec(http_client=client, duration_s=5), ep, tmp_path).start().finish()
    s = result.summary
    # each user waits 2 s after every 429: ~3 requests each in 5 s, not hundreds
    assert 2 <= s.requests <= 10 and s.retry_after_waits == s.requests
    assert all(r.retry_after_s == 2.0 and r.status == 429 for r in result.records)
    assert result.flat_metrics()["perf/retry_after_waits"] == s.retry_after_waits


def test_error_bodies_back_off_like_connection_failures(fake_server, tmp_path):
    """The requests transport (the sweep in test_not_served.py uses the reactor): a 200 + error JSON is an error with the
    server's message, and the users back off instead of sending hundreds of requests per second."""
    from tests.fakes.openai_server import MESSAGE

    ep, state = fake_server(mode="error_body")
    result = LoadRun(_spec(http_client="requests", duration_s=3), ep, tmp_path).start().finish()
    s = result.summary
    assert 0 < s.requests <= 30 and s.errors == s.requests and s.backoffs == s.requests, s
    assert s.error_kinds == {"ErrorBody": s.requests} and s.error_examples["ErrorBody"] == f"ErrorBody: {MESSAGE}"
    assert len(result.records) == state.streamed


def _tmpfs(path, size: str):
    import subprocess

    path.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({proc.stderr.strip()}); needs root in a sandbox that allows mounts")


@pytest.mark.parametrize("processes", [1, 2])
def test_a_full_disk_stops_the_load_loudly(fake_server, tmp_path, processes):
    import subprocess

    from harness.errors import LoadError

    ep, state = fake_server(ttft_s=0.01, interval_s=0.005, chunks=4)
    disk = tmp_path / "small"
    _tmpfs(disk, "160k")
    try:
        run = LoadRun(_spec(users=4, processes=processes, duration_s=30), ep, disk / "load").start()
        with pytest.raises(LoadError, match=r"could not write its raw records \(ENOSPC: No space left on device\) and the load was stopped"):
            run.finish()
        assert run.unwritable()
        assert time_taken(run) < 25  # stopped when the disk filled, not at the end of the 30 s load
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def time_taken(run) -> float:
    import time

    return time.time() - run.started
