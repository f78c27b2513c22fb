"""The open-loop arrival process: rate and dispersion over seeded runs, bursts, steps, sharing."""

from __future__ import annotations

import multiprocessing as mp
import statistics

import pytest

from harness.loadgen.pacer import ArrivalSchedule, SharedPacer, step_at
from harness.spec.load import LoadSpec


def _offsets(spec: LoadSpec, share=(0, 1)) -> list[float]:
    sch = ArrivalSchedule(spec, share)
    out, i = [], 0
    while (o := sch.offset(i)) is not None:
        out.append(o)
        i += 1
    return out


def _gaps(xs):
    return [b - a for a, b in zip(xs, xs[1:])]


def test_poisson_mean_rate_and_dispersion():
    spec = LoadSpec(pattern="poisson", rate=50, warmup_s=0, duration_s=200, seed=7)
    xs = _offsets(spec)
    assert len(xs) == pytest.approx(10_000, rel=0.03)  # mean rate 50/s
    gaps = _gaps(xs)
    cv = statistics.pstdev(gaps) / statistics.mean(gaps)
    assert cv == pytest.approx(1.0, abs=0.05)  # exponential gaps: coefficient of variation 1
    counts = [0] * 200  # counts per second: Poisson, variance = mean
    for x in xs:
        counts[int(x)] += 1
    assert statistics.pvariance(counts) / statistics.mean(counts) == pytest.approx(1.0, abs=0.25)
    assert xs == _offsets(spec)  # seeded: identical schedule
    assert xs != _offsets(spec.model_copy(update={"seed": 8}))


def test_constant_rate_is_evenly_spaced():
    xs = _offsets(LoadSpec(pattern="constant", rate=4, warmup_s=1, duration_s=9))
    assert len(xs) == 40 and xs[0] == 0.0
    assert all(g == pytest.approx(0.25) for g in _gaps(xs))


def test_worker_shares_add_up_to_the_rate():
    spec = LoadSpec(pattern="poisson", rate=40, warmup_s=0, duration_s=100, seed=1)
    merged = sorted(_offsets(spec, (0, 2)) + _offsets(spec, (1, 2)))
    assert len(merged) == pytest.approx(4000, rel=0.05)
    const = LoadSpec(pattern="constant", rate=10, warmup_s=0, duration_s=2)
    merged = sorted(_offsets(const, (0, 2)) + _offsets(const, (1, 2)))
    assert merged == pytest.approx([i / 10 for i in range(20)])


def test_bursts_release_size_requests_together():
    xs = _offsets(LoadSpec(pattern="burst", burst={"size": 3, "every_s": 2}, users=3, warmup_s=0, duration_s=5))
    assert xs == [0, 0, 0, 2, 2, 2, 4, 4, 4]


def test_rate_steps_follow_each_steps_rate():
    spec = LoadSpec(pattern="steps", warmup_s=0, step_arrivals="constant", steps=[{"duration_s": 2, "rate": 2}, {"duration_s": 2, "rate": 10}])
    xs = _offsets(spec)
    assert sum(1 for x in xs if x < 2) == 4 and sum(1 for x in xs if x >= 2) == pytest.approx(20, abs=1)
    assert spec.open_loop and not spec.shaped and spec.run_s() == 4


def test_user_steps_shape():
    spec = LoadSpec(pattern="steps", warmup_s=1, spawn_rate=3, steps=[{"duration_s": 10, "users": 2}, {"duration_s": 5, "users": 8, "spawn_rate": 0.5}])
    assert spec.shaped and not spec.open_loop
    assert step_at(spec, 0) == (2, 3) and step_at(spec, 9.9) == (2, 3) and step_at(spec, 10) == (8, 0.5)
    assert step_at(spec, 15) is None and spec.measured_s() == 14


def _claim_many(path: str, n: int, q) -> None:
    pacer = SharedPacer(ArrivalSchedule(LoadSpec(pattern="constant", rate=1000, warmup_s=0, duration_s=10)), path)
    q.put([pacer.claim() for _ in range(n)])


def test_shared_pacer_hands_each_slot_to_exactly_one_process(tmp_path):
    path = str(tmp_path / "pacer.bin")
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_claim_many, args=(path, 200, q)) for _ in range(3)]
    for p in procs:
        p.start()
    claims = [c for _ in procs for c in q.get(timeout=30)]
    for p in procs:
        p.join(10)
    idx = sorted(i for i, _ in claims)
    assert idx == list(range(600))  # no slot twice, none skipped
    t0s = {round(t - i / 1000, 6) for i, t in claims}
    assert len(t0s) == 1  # one shared start time
    assert SharedPacer(ArrivalSchedule(LoadSpec(pattern="constant", rate=1, warmup_s=0, duration_s=1))).claim()[0] == 0


def _trace_spec(tmp_path, stamps, **load) -> LoadSpec:
    import json

    path = tmp_path / "t.jsonl"
    path.write_text("".join(json.dumps({"timestamp": t, "input_tokens": 8, "output_tokens": 4}) + "\n" for t in stamps))
    trace = {"path": str(path), **load.pop("trace", {})}
    return LoadSpec(pattern="trace", users=4, **{"warmup_s": 0, "duration_s": 30, **load}, workload={"trace": trace})


def test_trace_schedule_is_the_trace_scaled_within_the_run(tmp_path):
    spec = _trace_spec(tmp_path, [10, 12, 12, 18, 50, 70], trace={"speedup": 2})
    assert _offsets(spec) == [0.0, 1.0, 1.0, 4.0, 20.0]  # the 70 s arrival (30 s scaled) is past the 30 s run: not sent
    capped = _trace_spec(tmp_path, [10, 12, 12, 18, 50, 70], requests=3, duration_s=60)
    assert _offsets(capped) == [0.0, 2.0, 2.0]  # load.requests still caps


def test_trace_workers_take_every_nth_arrival_and_claim_its_row(tmp_path):
    spec = _trace_spec(tmp_path, [0, 1, 2, 3, 4, 5, 6])
    assert _offsets(spec, (1, 3)) == [1.0, 4.0] and _offsets(spec, (0, 3)) == [0.0, 3.0, 6.0]
    pacer = SharedPacer(ArrivalSchedule(spec, (1, 3)))
    rows = [pacer.claim() for _ in range(3)]
    assert [r[0] for r in rows[:2]] == [1, 4] and rows[2] is None  # the index handed to the source is the trace row
    assert rows[1][1] - rows[0][1] == pytest.approx(3.0)
