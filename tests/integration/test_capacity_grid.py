"""load.capacity.grid and load.capacity.confirm against the fake streaming server with 2 slots, through the pipeline's
measurement, logged into a real MLflow store and read back.

As in test_capacity_search.py: a request takes about 0.05 + 8 * 0.02 = 0.21 s and the server streams two at once, so a
closed loop of 1 or 2 users meets a 150 ms TTFT SLO and one of 4 users queues half its requests past it: the grid
[2, 4] brackets the capacity in (2, 4) (two points keep the test short); the confirm window at 0.7 x the capacity (2 users) meets the SLO.
"""

from __future__ import annotations

import math
import time

TIMING = dict(slots=2, ttft_s=0.05, interval_s=0.02, chunks=8)
LOAD = dict(pattern="closed", prompt_tokens={"mean": 20}, output_tokens={"mean": 8, "max": 8}, request_timeout_s=10, warmup_s=0.3,
            duration_s=2, slo={"ttft_ms": 150, "min_attainment": 0.9},
            capacity={"grid": {"rates": [2, 4]}, "confirm": {"duration_s": 2.5, "target": 0.8, "fraction": 0.7}})


def test_grid_and_confirm_window_are_logged(fake_server, tmp_path):
    from harness.outcome import VariantOutcome
    from harness.pipeline.presenter import Presenter
    from harness.pipeline.variant import _Measurement
    from harness.server.launch import RunningServer
    from harness.spec import build_spec, resolve_variants
    from harness.tracking.mlflow_logger import SweepLogger
    from harness.tracking.reader import read_runs

    ep, _ = fake_server(**TIMING)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    spec = build_spec({"name": "grid", "load": LOAD, "quality": {"enabled": False}, "metrics": {"enabled": False},
                       "tracking": {"uri": uri, "experiment": "grid"}}, {}, [])
    (variant,) = resolve_variants(spec)
    outcome = VariantOutcome(variant=variant, folder=tmp_path / "v")
    t = time.time()
    said: list[str] = []
    _Measurement(spec, RunningServer(endpoint=ep, model=None), outcome, Presenter(said.append)).run()
    took = time.time() - t
    assert not outcome.failures, outcome.failures
    cap = outcome.load.capacity
    (grid,) = cap.searches
    assert [s.point for s in grid.steps] == [2.0, 4.0] and [s.meets for s in grid.steps] == [True, False], grid
    assert (cap.low, cap.high) == (2.0, 4.0) and 2.0 < cap.users < 4.0 and cap.users == grid.estimate and cap.method.startswith("grid")
    confirm = cap.confirm
    assert confirm is not None and confirm.point == round(0.7 * cap.users) == 2.0, confirm
    assert confirm.requests >= 10 and confirm.attainment >= 0.9 and confirm.low < confirm.attainment and confirm.confirmed, confirm
    assert any(line.startswith("capacity confirmation: confirmed at 2:") for line in said), said
    assert sorted(p.name for p in (tmp_path / "v" / "load").iterdir()) == ["capacity-confirm-2", "grid-1-2", "grid-2-4"]

    log = SweepLogger(spec, [variant])
    parent = log.start_sweep(tmp_path / "run")
    log.finish_variant(log.start_variant(variant), outcome)
    log.end_sweep(failed=False)
    (run,) = read_runs(uri, [parent]).runs
    m = run.metrics
    assert m["perf/capacity_users_at_slo"] == cap.users and m["perf/capacity_censored"] == 0 and m["perf/capacity_searches"] == 1
    assert m["perf/capacity_measurements"] == 3  # two grid points and the confirm window
    assert m["perf/capacity_confirm_attainment"] == confirm.attainment and m["perf/capacity_confirm_pass"] == 1.0
    assert m["perf/capacity_confirm_attainment_low"] == confirm.low and m["perf/capacity_confirm_at"] == 2.0
    assert m["perf/capacity_confirm_requests"] == confirm.requests and math.isfinite(m["perf/capacity_confirm_attainment_low"])
    print(f"grid + confirm took {took:.1f} s: {cap.label}; {confirm.label}")
