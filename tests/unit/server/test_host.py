"""Host noise (CPU steal from /proc/stat) and the core split between a launched server and the load generator."""

from __future__ import annotations

import math
import os

import pytest

from harness.server.host import cpu_times, pin, split_cores, steal_pct


def test_steal_from_proc_stat_deltas(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 10 0 0 40 0 0\ncpu0 1 2 3\n")
    before = cpu_times(str(stat))
    stat.write_text("cpu  200 0 100 1600 20 0 0 80 0 0\n")
    after = cpu_times(str(stat))
    assert steal_pct(before, after) == pytest.approx(100 * 40 / 1000)
    assert math.isnan(steal_pct(None, after)) and math.isnan(steal_pct(before, before))
    assert cpu_times(str(tmp_path / "missing")) is None
    if os.path.exists("/proc/stat"):
        assert len(cpu_times() or ()) >= 8  # this host's own


def test_split_keeps_the_load_generator_off_the_server_cores():
    split = split_cores(frozenset(range(16)))
    assert split.load == {14, 15} and split.server == frozenset(range(14)) and not split.load & split.server
    four = split_cores({0, 1, 2, 3})
    assert four.load == {3} and four.server == {0, 1, 2}
    assert "core(s) 3" in four.reason


def test_too_few_cores_is_a_no_op_that_says_why():
    split = split_cores({0, 1})
    assert split.server is None and split.load is None
    assert "only 2 usable core(s)" in split.reason
    assert pin(os.getpid(), None) is None  # nothing pinned
    if hasattr(os, "sched_getaffinity"):
        before = os.sched_getaffinity(0)
        here = split_cores()
        if len(before) < 4:
            assert here.load is None and "usable core" in here.reason
        assert os.sched_getaffinity(0) == before  # deciding never pins


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="no CPU affinity on this platform")
def test_pin_sets_and_reports_failure():
    mine = os.sched_getaffinity(0)
    assert pin(os.getpid(), frozenset(mine)) is None
    assert "CPU affinity not set" in (pin(os.getpid(), frozenset({10_000})) or "")
    assert os.sched_getaffinity(0) == mine
