"""load.capacity against the fake streaming server with N slots, whose capacity is known from its timing.

With `slots=2` the server streams two requests at once and queues the rest; a request takes about
ttft + chunks * interval = 0.05 + 8 * 0.02 = 0.21 s, so an open loop at constant rate starts
queueing (TTFT past the SLO) above 2 / 0.21 ~ 9.5 req/s, and a closed loop above 2 users.
"""

from __future__ import annotations

import math
import time

from harness.load.capacity import CapacitySearch
from harness.spec.model import LoadSpec

TIMING = dict(slots=2, ttft_s=0.05, interval_s=0.02, chunks=8)
SLO = {"ttft_ms": 150, "min_attainment": 0.9}
LOAD = dict(prompt_tokens={"mean": 20}, output_tokens={"mean": 8, "max": 8}, request_timeout_s=10, duration_s=30, slo=SLO)


def test_open_loop_capacity_brackets_the_slot_limit(fake_server, tmp_path):
    ep, state = fake_server(**TIMING)
    true = 2 / (0.05 + 8 * 0.02)
    spec = LoadSpec(pattern="constant", users=8, requests=30, capacity={"lo": 2, "hi": 32, "tolerance": 0.25, "searches": 1}, **LOAD)
    t = time.time()
    stage = CapacitySearch(spec, ep, tmp_path).start()
    while stage.running():
        assert stage.progress().stage == "load"
        time.sleep(0.2)
    result = stage.finish()
    cap = result.capacity
    assert cap is not None and cap.bracketed and cap.users is None, cap
    assert cap.low <= true * 1.25 and cap.high >= true / 1.25, (cap.low, cap.high, true)  # generous: the client and server share 2 cores
    # the estimand: the crossing of the SLO limit inside the bracket, from each measurement's slo_ratio (<= 1 when it passed)
    assert cap.low <= cap.rate <= cap.high and cap.rate == cap.searches[0].estimate and not cap.censored
    results = [(r, st.meets) for st in cap.searches[0].steps for r in st.results]
    assert all(math.isfinite(r.slo_ratio) and (r.slo_ratio <= 1) == r.meets for r, _ in results)
    assert result.max_point_meeting_slo == cap.low and result.summary.requests == 30 and result.summary.slo_attainment >= 0.9
    assert all((tmp_path / f"capacity-{k}-{p:g}" / "records.jsonl").is_file()
               for k, p in enumerate((s.point for s in cap.searches[0].steps), 1))
    m = result.flat_metrics()
    assert m["perf/capacity_rps_at_slo"] == cap.rate and m["perf/capacity_rps_at_slo_ci_high"] == cap.high
    assert f"perf/scan/{cap.low:g}/ttft_p50_ms" in m and m["perf/scan/max_point_meeting_slo"] == cap.low
    assert time.time() - t < 60


def test_closed_loop_capacity_through_the_pipeline_is_the_slot_count(fake_server, tmp_path):
    from harness.outcome import VariantOutcome
    from harness.pipeline.presenter import Presenter
    from harness.pipeline.variant import _Measurement
    from harness.server.launch import RunningServer
    from harness.spec import build_spec, resolve_variants

    ep, state = fake_server(**TIMING)
    load = {**LOAD, "pattern": "closed", "requests": 24, "capacity": {"lo": 1, "hi": 8, "searches": 1}}
    spec = build_spec({"name": "cap", "load": load, "quality": {"enabled": False}, "metrics": {"enabled": False}}, {}, [])
    outcome = VariantOutcome(variant=resolve_variants(spec)[0], folder=tmp_path / "v")
    _Measurement(spec, RunningServer(endpoint=ep, model=None), outcome, Presenter(lambda m: None)).run()
    assert not outcome.failures and outcome.load is not None and outcome.load.capacity is not None
    cap = outcome.load.capacity
    assert (cap.low, cap.high) == (2, 3) and 2 <= cap.users <= 3 and cap.users == cap.searches[0].estimate, cap
    m = outcome.metrics()
    assert m["perf/capacity_users_at_slo"] == cap.users and m["perf/capacity_bracketed"] == 1.0 and m["perf/capacity_censored"] == 0
    assert m["perf/ttft_p99_ms"] < 150 and m["perf/requests"] == 24  # the headline is the point at capacity
    assert sorted(p.name for p in (tmp_path / "v" / "load").iterdir()) == [f"capacity-{k}-{s.point:g}" for k, s in enumerate(cap.searches[0].steps, 1)]
