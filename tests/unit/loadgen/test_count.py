"""load.requests in the load generator: the shared request count and an arrival schedule of N arrivals."""

from __future__ import annotations

import multiprocessing as mp

from harness.loadgen.count import RequestBudget, read_counts
from harness.loadgen.pacer import ArrivalSchedule
from harness.spec.load import LoadSpec


def test_budget_starts_n_and_reports_the_last_finish_once(tmp_path):
    for budget in (RequestBudget(3), RequestBudget(3, tmp_path / "requests.bin")):
        assert [budget.take() for _ in range(5)] == [True, True, True, False, False]
        assert budget.spent() and budget.counts() == (3, 0)
        assert [budget.finish() for _ in range(3)] == [False, False, True]
        assert budget.counts() == (3, 3)
    assert read_counts(tmp_path / "requests.bin") == (3, 3) and read_counts(tmp_path / "none.bin") is None


def _work(path: str, q) -> None:
    budget = RequestBudget(250, path)
    taken = 0
    while budget.take():
        taken += 1
    q.put((taken, sum(budget.finish() for _ in range(taken))))


def test_processes_share_one_count(tmp_path):
    path = str(tmp_path / "requests.bin")
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_work, args=(path, q)) for _ in range(3)]
    for p in procs:
        p.start()
    got = [q.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(10)
    assert sum(t for t, _ in got) == 250  # exactly N started over all processes
    assert sum(last for _, last in got) == 1  # and exactly one saw the last finish
    assert read_counts(tmp_path / "requests.bin") == (250, 250)


def test_the_schedule_has_exactly_n_arrivals():
    for pattern in ("constant", "poisson"):
        schedule = ArrivalSchedule(LoadSpec(pattern=pattern, rate=100, requests=7))
        offsets = [schedule.offset(i) for i in range(10)]
        assert all(x is not None for x in offsets[:7]) and offsets[7:] == [None] * 3
    burst = ArrivalSchedule(LoadSpec(pattern="burst", burst={"size": 4, "every_s": 1}, users=4, requests=6))
    assert [burst.offset(i) for i in range(7)] == [0, 0, 0, 0, 1, 1, None]
    assert ArrivalSchedule(LoadSpec(pattern="constant", rate=100, warmup_s=0, duration_s=1)).offset(99) is not None
