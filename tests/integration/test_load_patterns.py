"""Each load pattern and workload from a spec, against the fake streaming server with known timing."""

from __future__ import annotations

import json
import time

import pytest

from harness.load.runner import LoadRun
from harness.spec.model import LoadSpec

TIMING = dict(ttft_s=0.10, interval_s=0.02, chunks=8)


def _spec(**kw) -> LoadSpec:
    base = dict(warmup_s=1, duration_s=4, prompt_tokens={"mean": 20}, output_tokens={"mean": 8, "max": 8}, request_timeout_s=10)
    base.update(kw)
    return LoadSpec(**base)


def _timing_ok(s) -> None:
    assert s.errors == 0
    assert 95 <= s.ttft_ms.p50 <= 130, s.ttft_ms  # programmed 100 ms
    assert 18 <= s.itl_ms.p50 <= 30, s.itl_ms  # programmed 20 ms


@pytest.mark.parametrize("pattern", ["constant", "poisson"])
def test_open_loop_rate_and_timing(fake_server, tmp_path, pattern):
    ep, state = fake_server(**TIMING)
    result = LoadRun(_spec(pattern=pattern, rate=10, users=8), ep, tmp_path).start().finish()
    s = result.summary
    _timing_ok(s)
    # 10 req/s for 4 measured seconds (Poisson: a seeded draw, so loose)
    tol = 0.15 if pattern == "constant" else 0.4
    assert s.requests == pytest.approx(40, rel=tol)
    assert all(r.t_scheduled is not None for r in result.records)
    assert s.send_lag_ms.count == s.requests and s.send_lag_ms.p50 < 25
    if pattern == "constant":
        starts = sorted(r.t_scheduled for r in result.records)
        assert all(abs((b - a) - 0.1) < 1e-6 for a, b in zip(starts, starts[1:]))
    assert s.client_lag_ms.count > 100  # the client's own loop lag was sampled


def test_burst_sends_groups_together(fake_server, tmp_path):
    ep, state = fake_server(**TIMING)
    result = LoadRun(_spec(pattern="burst", burst={"size": 5, "every_s": 1}, users=5, warmup_s=0, duration_s=3), ep, tmp_path).start().finish()
    _timing_ok(result.summary)
    t0 = result.window_start
    groups: dict[int, list[float]] = {}
    for r in result.records:
        groups.setdefault(round(r.t_scheduled - t0), []).append(r.t_start)
    assert sorted(groups) == [0, 1, 2] and all(len(g) == 5 for g in groups.values())
    assert all(max(g) - min(g) < 0.05 for g in groups.values())  # released together


def test_user_steps_follow_the_shape(fake_server, tmp_path):
    ep, state = fake_server(**TIMING)
    spec = _spec(pattern="steps", warmup_s=0.5, steps=[{"duration_s": 2, "users": 1}, {"duration_s": 2, "users": 3, "spawn_rate": 10}])
    result = LoadRun(spec, ep, tmp_path).start().finish()
    _timing_ok(result.summary)
    t0 = result.records[0].t_start
    first = {r.user for r in result.records if r.t_start - t0 < 1.8}
    second = {r.user for r in result.records if r.t_start - t0 > 2.6}
    assert first == {0} and len(second) == 3
    assert max(r.t_start for r in result.records) - t0 < 4.2  # the shape ended the run
    # one summary per step; the first step's window starts after the warm-up
    one, three = result.steps
    assert (one.users, three.users) == (1, 3) and (one.start_s, one.end_s, three.start_s, three.end_s) == (0.5, 2, 2, 4)
    assert three.summary.requests > 2 * one.summary.requests  # three users send ~3x as many
    assert one.summary.requests + three.summary.requests == result.summary.requests
    m = result.flat_metrics()
    assert m["perf/step/1/users"] == 3 and m["perf/step/1/requests"] == three.summary.requests
    assert 95 <= m["perf/step/0/ttft_p50_ms"] <= 130
    from harness.report.plots import load_curve_plot

    png = load_curve_plot(result, tmp_path / "curve.png")
    assert png is not None and png.read_bytes()[:4] == b"\x89PNG"


def test_multi_turn_with_shared_system_prompt(fake_server, tmp_path):
    ep, state = fake_server(**TIMING)
    spec = _spec(users=1, duration_s=2, turns=3, system_prompt_tokens=50, ignore_eos=True, min_tokens=4)
    result = LoadRun(spec, ep, tmp_path).start().finish()
    assert result.summary.errors == 0
    sizes = [len(b["messages"]) for b in state.bodies]
    assert sizes[:6] == [2, 4, 6, 2, 4, 6]  # system + growing history
    assert len({b["messages"][0]["content"] for b in state.bodies}) == 1
    turn2 = state.bodies[1]["messages"]
    assert turn2[2]["role"] == "assistant" and turn2[2]["content"] == "".join(f" tok{i}" for i in range(8))
    assert all(b["ignore_eos"] is True and b["min_tokens"] == 4 for b in state.bodies)
    assert all(r.ignore_eos and r.min_tokens == 4 for r in result.records)
    assert [r.turn for r in result.records[:4]] == [0, 1, 2, 0]


def test_jsonl_dataset_prompts_are_sent(fake_server, tmp_path):
    ep, state = fake_server(**TIMING)
    data = tmp_path / "share.jsonl"
    data.write_text("\n".join(json.dumps({"conversations": [{"from": "human", "value": f"question {i}"}, {"from": "gpt", "value": "x"}]}) for i in range(3)))
    result = LoadRun(_spec(users=1, duration_s=2, dataset={"path": str(data)}), ep, tmp_path / "out").start().finish()
    assert result.summary.errors == 0
    sent = {b["messages"][-1]["content"] for b in state.bodies}
    assert sent == {"question 0", "question 1", "question 2"}


def test_two_processes_share_one_open_loop_schedule(fake_server, tmp_path):
    ep, state = fake_server(ttft_s=0.02, interval_s=0.005)
    result = LoadRun(_spec(pattern="constant", rate=20, users=4, processes=2, warmup_s=1, duration_s=3), ep, tmp_path).start().finish()
    files = result.artifacts.record_files()
    assert len(files) == 2 and len({r.pid for r in result.records}) == 2
    assert len(result.records) == sum(sum(1 for _ in f.open()) for f in files)  # merged = sum of the parts
    # one schedule for both processes: 20 req/s in total, not 20 each, and no slot sent twice
    slots = sorted(r.t_scheduled for r in result.records)
    assert len(set(slots)) == len(slots)
    assert len(result.records) == pytest.approx(80, rel=0.15)


def test_rate_scan_finds_the_highest_point_meeting_the_slo(fake_server, tmp_path):
    from harness.load.scan import RateScan

    ep, state = fake_server(slots=1, **TIMING)  # one stream at a time: more users queue, TTFT grows
    spec = _spec(duration_s=2, rate_scan={"points": [1, 4]}, slo={"ttft_ms": 200, "min_attainment": 0.9})
    series = RateScan(spec, ep, tmp_path).start()
    while series.running():
        time.sleep(0.2)
    result = series.finish()
    low, high = result.scan
    assert (low.point, high.point) == (1, 4)
    assert low.meets_slo and not high.meets_slo
    assert low.result.summary.slo_attainment == 1.0 and high.result.summary.ttft_ms.p50 > 200
    assert result.max_point_meeting_slo == 1 and result is low.result
    m = result.flat_metrics()
    assert m["perf/scan/max_point_meeting_slo"] == 1 and m["perf/scan/4/meets_slo"] == 0.0 and "perf/scan/1/ttft_p99_ms" in m
    assert (tmp_path / "point-1" / "records.jsonl").is_file() and (tmp_path / "point-4" / "records.jsonl").is_file()
