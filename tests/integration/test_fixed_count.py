"""load.requests: exactly N requests, open and closed loop, one and two Locust processes, and the run ends at the last one."""

from __future__ import annotations

import time

import pytest

from harness.load.runner import LoadRun
from harness.loadgen.count import read_counts
from harness.spec.model import LoadSpec

CAP_S = 40  # duration_s is only a safety cap with `requests`


def _spec(**kw) -> LoadSpec:
    base = dict(duration_s=CAP_S, prompt_tokens={"mean": 20}, output_tokens={"mean": 8, "max": 8}, request_timeout_s=10)
    return LoadSpec(**{**base, **kw})


@pytest.mark.parametrize("processes", [1, 2])
@pytest.mark.parametrize("loop", ["open", "closed"])
def test_exactly_n_requests_and_the_run_ends_early(fake_server, tmp_path, loop, processes):
    ep, state = fake_server(ttft_s=0.05, interval_s=0.01, chunks=8)
    n = 30
    kw = dict(pattern="constant", rate=20, users=4) if loop == "open" else dict(pattern="closed", users=3)
    t = time.time()
    result = LoadRun(_spec(requests=n, processes=processes, **kw), ep, tmp_path).start().finish()
    took = time.time() - t
    assert len(result.records) == n and len(state.bodies) == n  # sent and recorded: exactly N
    assert result.summary.requests == n and result.summary.errors == 0 and result.summary.excluded_warmup == 0  # no warm-up by default
    assert len({r.pid for r in result.records}) == processes and len(result.artifacts.record_files()) == processes
    assert read_counts(result.artifacts.count) == (n, n)
    assert result.exit_code == 0 and not result.failures
    assert took < CAP_S / 2, took  # ended at the last request, not at the cap
    if loop == "open":
        slots = sorted(r.t_scheduled for r in result.records)
        assert len(set(slots)) == n and slots[-1] - slots[0] == pytest.approx((n - 1) / 20, abs=1e-6)


def test_warmup_requests_count_towards_n_and_idle_users_do_not_hold_the_stop(fake_server, tmp_path):
    ep, state = fake_server(ttft_s=0.05, interval_s=0.01, chunks=8)
    t = time.time()
    result = LoadRun(_spec(requests=12, users=20, warmup_s=1), ep, tmp_path).start().finish()  # more users than requests
    took = time.time() - t
    s = result.summary
    assert len(result.records) == 12 and s.requests + s.excluded_warmup == 12 and s.excluded_warmup > 0
    assert took < CAP_S / 2, took  # the users without a request idle interruptibly: no stop timeout


def test_a_run_that_reaches_the_cap_says_how_many_requests_it_sent(fake_server, tmp_path):
    ep, state = fake_server(ttft_s=0.05, interval_s=0.01, chunks=8)
    result = LoadRun(_spec(pattern="closed", users=1, requests=1000, duration_s=2), ep, tmp_path).start().finish()
    (failure,) = result.failures
    assert 0 < len(result.records) < 1000 and f"only {len(result.records)} of 1000 requests" in failure.message
    assert "raise duration_s" in failure.message
