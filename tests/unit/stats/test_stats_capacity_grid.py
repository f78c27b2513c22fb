"""Capacity on a fixed grid per block (harness/stats/capacity_grid.py, `load.capacity.grid`): the isotonic fit, the
crossing, censoring both ways, the spec's checks, and simulations with the project's noise model (harness.stats.simulate):
the per-block estimate is unbiased, and the paired comparison of blocks keeps its error rate on a drifting server."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from harness.spec.capacity import CapacityConfirmSpec, CapacityGridSpec
from harness.spec.model import LoadSpec
from harness.stats.capacity import PointResult, capacity_interval, crossing
from harness.stats.capacity_grid import attainment_lower_bound, grid_capacity, isotonic
from harness.stats.compare import paired_difference
from harness.stats.design import block_schedule
from harness.stats.simulate import DEFAULT_NOISE, SimulatedServer


def _at(ratios: dict[float, float]) -> list[tuple[float, PointResult]]:
    return [(x, PointResult(r <= 1.0, slo_ratio=r)) for x, r in ratios.items()]


def test_isotonic_pools_adjacent_violators():
    assert isotonic([1.0, 2.0, 3.0]).tolist() == [1.0, 2.0, 3.0]
    assert isotonic([1.0, 3.0, 2.0, 4.0]).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert isotonic([3.0, 2.0, 1.0]).tolist() == [2.0, 2.0, 2.0]
    assert isotonic([0.0, 4.0, 1.0], [1, 1, 3]).tolist() == pytest.approx([0.0, 1.75, 1.75])
    from scipy.optimize import isotonic_regression  # the reference, where scipy has it (>= 1.12)

    y = np.random.default_rng(0).normal(size=40).cumsum()
    assert isotonic(y) == pytest.approx(isotonic_regression(y).x)


def test_a_noisy_monotone_curve_crosses_where_the_fit_does():
    # log-ratios at 8, 10, 12, 14, 16: one violator (12 reads below 10), the limit crossed between 12 and 14
    ratios = {8.0: 0.5, 10.0: 0.8, 12.0: 0.7, 14.0: 1.5, 16.0: 3.0}
    g = grid_capacity(_at(ratios))
    assert g.bracketed and (g.low, g.high) == (12.0, 14.0) and not g.censored
    pooled = (math.log(0.8) + math.log(0.7)) / 2  # 10 and 12 pooled
    assert g.fitted[1] == pytest.approx(pooled) and g.fitted[2] == pytest.approx(pooled)
    assert g.estimate == pytest.approx(crossing(12.0, 14.0, pooled, math.log(1.5)))
    assert [s.meets for s in g.steps] == [True, True, True, False, False] and {s.phase for s in g.steps} == {"grid"}
    # a violator across the limit: 12 fails, 14 passes -> pooled above 0: the bracket is (10, 12)
    g = grid_capacity(_at({8.0: 0.5, 10.0: 0.8, 12.0: 1.3, 14.0: 0.9, 16.0: 2.0}))
    assert (g.low, g.high) == (10.0, 12.0) and 10.0 < g.estimate < 12.0
    # a point with no request or every request failed (inf) still fits, clipped
    g = grid_capacity(_at({8.0: 0.5, 10.0: 0.9, 12.0: math.inf}))
    assert (g.low, g.high) == (10.0, 12.0) and math.isfinite(g.estimate)


def test_censoring_both_ways_like_the_search():
    below = grid_capacity(_at({8.0: 1.2, 10.0: 1.5, 12.0: 2.0}))
    assert below.censored == "below" and below.bound == 8.0 and below.label == "< 8" and math.isnan(below.estimate)
    above = grid_capacity(_at({8.0: 0.2, 10.0: 0.5, 12.0: 0.9}))
    assert above.censored == "above" and above.bound == 12.0 and above.label == ">= 12" and math.isnan(above.estimate)
    # a violator at the bottom pooled above the limit: censored below, not a capacity of 0
    assert grid_capacity(_at({8.0: 1.4, 10.0: 0.9, 12.0: 2.0})).censored == "below"
    e = capacity_interval([below])
    assert e.censored == "below" and e.bound == 8.0 and math.isnan(e.value)
    one = capacity_interval([grid_capacity(_at({8.0: 0.5, 10.0: 2.0}))])
    assert 8.0 < one.value < 10.0 and math.isnan(one.low)


def test_grid_spec_and_its_exclusions():
    g = CapacityGridSpec(around=10, points=5, spread=1.5)
    assert g.loads() == pytest.approx([10 / 1.5, 10 / 1.5**0.5, 10.0, 10 * 1.5**0.5, 15.0])
    assert CapacityGridSpec(around=3, points=5, spread=1.5).loads(integer=True) == [2.0, 3.0, 4.0]
    assert CapacityGridSpec(rates=[2, 4, 8]).loads() == [2, 4, 8]
    base = dict(pattern="constant", duration_s=10, slo={"ttft_ms": 100})
    spec = LoadSpec(**base, capacity={"grid": {"around": 10}, "confirm": {"duration_s": 60}})
    assert spec.capacity.bounds() == pytest.approx((10 / 1.5, 15.0)) and spec.capacity.confirm == CapacityConfirmSpec(duration_s=60)
    for bad, field in (({"grid": {"around": 10}, "lo": 1}, "load.capacity.lo"), ({"grid": {"around": 10}, "searches": 3}, "load.capacity.searches"),
                       ({"grid": {"rates": [1, 2], "spread": 2}}, "load.capacity.grid.spread"), ({"grid": {"rates": [2, 1]}}, "strictly increasing"),
                       ({"grid": {"around": 1, "rates": [1, 2]}}, "exactly one of"), ({"hi": 4}, "needs `lo` and `hi`")):
        with pytest.raises(ValidationError, match=field.replace(".", r"\.")):
            LoadSpec(**base, capacity=bad)
    with pytest.raises(ValidationError, match="whole numbers"):
        LoadSpec(**{**base, "pattern": "closed"}, capacity={"grid": {"rates": [1.5, 3]}})
    with pytest.raises(ValidationError, match="fewer than 2 distinct"):
        LoadSpec(**{**base, "pattern": "closed"}, capacity={"grid": {"around": 1, "spread": 1.2}})


def test_clopper_pearson_lower_bound():
    from scipy.stats import binomtest

    assert attainment_lower_bound(0, 10) == 0.0
    assert attainment_lower_bound(10, 10) == pytest.approx(0.05 ** (1 / 10))  # all passed: (1 - level)^(1/n)
    assert attainment_lower_bound(180, 200) == pytest.approx(binomtest(180, 200).proportion_ci(0.90, "exact").low)
    # coverage: the bound lies below the true attainment in at least 95% of windows
    rng = np.random.default_rng(1)
    p, n = 0.9, 300
    lows = [attainment_lower_bound(int(k), n) for k in rng.binomial(n, p, 2000)]
    assert np.mean(np.array(lows) <= p) >= 0.95


def _grid_block(servers: dict[str, SimulatedServer], order: list[str], loads: dict[str, list[float]], noise: np.ndarray,
                t: int, speed: float) -> tuple[dict[str, float], int]:
    """One block: each variant's grid, in `order`, one measurement slot each (the machine's drift carries over), the
    whole block `speed` times faster (a latency divided by it at the same load per unit of speed)."""
    out = {}
    for name in order:
        measured = []
        for x in loads[name]:
            latency = servers[name].latency(x / speed) * math.exp(float(noise[t]))
            t += 1
            measured.append((x, PointResult(latency <= servers[name].slo_ratio, slo_ratio=latency / servers[name].slo_ratio)))
        out[name] = grid_capacity(measured)
    return out, t


def test_the_grid_estimate_is_unbiased_per_block():
    """600 simulated servers (capacity uniform in [5, 50], the SimulatedServer queue curve), DEFAULT_NOISE (drift,
    noise, 3% outliers); a grid of 5 loads spread 1.5 around a guess within +-25% of the truth, one block each: the
    mean log error of the crossing is within 2% and censoring is rare."""
    rng = np.random.default_rng(7)
    errors, censored = [], 0
    for _ in range(600):
        cap = float(rng.uniform(5, 50))
        server = SimulatedServer(cap)
        loads = CapacityGridSpec(around=cap * math.exp(rng.uniform(-0.25, 0.25))).loads()
        g, _ = _grid_block({"a": server}, ["a"], {"a": loads}, DEFAULT_NOISE.log_noise(len(loads), rng), 0, 1.0)
        if g["a"].censored:
            censored += 1
        else:
            errors.append(math.log(g["a"].estimate / cap))
    print(f"grid: mean log error {np.mean(errors):+.4f}, sd {np.std(errors):.4f}, censored {censored}/600")
    assert abs(float(np.mean(errors))) <= math.log(1.02) and censored <= 12


@pytest.mark.parametrize("effect", [1.0, 1.15])
def test_paired_blocks_of_grids_keep_their_error_rate_on_a_drifting_server(effect):
    """Two variants, 6 interleaved blocks each (block_schedule), each block a grid per variant; the server's speed jumps
    between blocks (log-sd 0.2, shared by the variants of a block) on top of DEFAULT_NOISE's drift; 300 trials. Equal
    capacities: the paired comparison (harness.stats.compare.paired_difference, what the report runs per metric)
    calls a difference in at most ~5% (+ Monte-Carlo error: <= 8%); a 15% better variant is found in most trials and
    never called worse."""
    rng = np.random.default_rng(11 if effect == 1.0 else 12)
    calls = {"better": 0, "worse": 0, "equivalent": 0, "inconclusive": 0}
    trials, blocks = 300, 6
    for _ in range(trials):
        cap = float(rng.uniform(5, 50))
        servers = {"base": SimulatedServer(cap), "new": SimulatedServer(cap * effect)}
        loads = dict.fromkeys(servers, CapacityGridSpec(around=cap * 1.05).loads())
        noise = DEFAULT_NOISE.log_noise(blocks * 2 * 5, rng)
        t, per = 0, {"base": [], "new": []}
        for order in block_schedule(list(servers), blocks, int(rng.integers(2**31))):
            g, t = _grid_block(servers, order, loads, noise, t, float(math.exp(rng.normal(0, 0.2))))
            if any(c.censored for c in g.values()):
                continue  # a censored block has no value (never 0): the pair is dropped, as the report does with a missing metric
            for name in per:
                per[name].append(g[name].estimate)
        if len(per["base"]) < 2:
            calls["inconclusive"] += 1
            continue
        d = paired_difference("perf/capacity_rps_at_slo", per["base"], per["new"], higher_is_better=True)
        calls[d.verdict] += 1
    print(f"effect {effect}: {calls} over {trials} trials")
    if effect == 1.0:
        assert (calls["better"] + calls["worse"]) / trials <= 0.08
    else:
        assert calls["better"] / trials >= 0.6 and calls["worse"] == 0
