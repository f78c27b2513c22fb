"""Adaptive repeats' stop rule on per-block values: looks only at the planned blocks, every comparison decided or
inconclusive at the last look, a block with a failed measurement left out, and the variance components logged."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.pipeline.adaptive import Adaptive, BlockValues, pooled_sd, variance_metrics
from harness.pipeline.presenter import Presenter
from harness.spec import build_spec

METRIC = "perf/output_tokens_per_s"


def _spec(**repeats):
    return build_spec({"name": "x", "variants": [{"name": "base"}, {"name": "same"}, {"name": "slow"}],
                       "gates": {"baseline": {"variant": "base"}},
                       "repeats": {"target": {"metric": METRIC, "margin": 0.1}, "max_blocks": 6, "looks": 2, **repeats}}, {}, [])


def _feed(blocks: BlockValues, b: int, levels: dict[str, float], rng) -> None:
    for name, level in levels.items():
        blocks.add_metrics(b, name, {METRIC: level * math.exp(rng.normal(0, 0.01)), "timing/variant_s": 10.0,
                                     f"{METRIC}_split_half_sd": 0.02})


def test_it_looks_at_the_planned_blocks_only_and_stops_when_every_comparison_is_decided():
    rng = np.random.default_rng(1)
    lines: list[str] = []
    adaptive = Adaptive.of(_spec())
    assert adaptive.baseline == "base" and adaptive.look_blocks == (3, 6) and [c.variant for c in adaptive.comparisons] == ["same", "slow"]
    blocks = BlockValues()
    stops = []
    for b in range(3):
        _feed(blocks, b, {"base": 100.0, "same": 100.0, "slow": 70.0}, rng)  # throughput: 30% lower is worse
        stops.append(adaptive.block_done(blocks, Presenter(lines.append)))
    assert stops == [False, False, True] and adaptive.looks_taken == 1
    assert {c.variant: c.outcome for c in adaptive.comparisons} == {"same": "equivalent", "slow": "worse"}
    assert lines[0] == "look 1/2 after 3 blocks:" and "equivalent within +-10%" in lines[1] and lines[2].endswith("worse")
    assert lines[-1] == "adaptive repeats stop: decided at look 1 of 2 (3 blocks)"
    params, metrics, tags = adaptive.record()
    assert params["repeats.look_blocks"] == "3,6" and params["repeats.alpha"] == "0.05" and params["repeats.baseline"] == "base"
    assert metrics["repeats/blocks"] == 3 and metrics["repeats/looks_taken"] == 1
    assert 0.65 < metrics["repeats/ratio/slow/perf/output_tokens_per_s"] < 0.75
    assert tags["harness.repeats_stop"].startswith("decided") and len(tags["harness.repeats_decisions"].splitlines()) == 2


def test_a_noisy_pair_runs_to_max_blocks_and_ends_inconclusive_with_what_it_would_take():
    rng = np.random.default_rng(2)
    adaptive = Adaptive.of(_spec())
    blocks = BlockValues()
    lines: list[str] = []
    for b in range(6):
        for name in ("base", "same", "slow"):  # 30% noise per window: nothing decides at 3 or 6 blocks
            blocks.add_metrics(b, name, {METRIC: 100.0 * math.exp(rng.normal(0, 0.3))})
        stopped = adaptive.block_done(blocks, Presenter(lines.append))
        assert adaptive.looks_taken == (0 if b < 2 else 1 if b < 5 else 2)  # no look between the planned ones
        assert stopped == (b == 5)
    assert {c.outcome for c in adaptive.comparisons} == {"inconclusive"}
    assert adaptive.stop_reason == "max_blocks: 6 blocks, 2 of 2 comparisons inconclusive"
    assert "could not detect less than" in adaptive.comparisons[0].line() and "blocks would detect 10%" in adaptive.comparisons[0].line()


def test_a_block_with_a_failed_measurement_is_not_counted_and_the_schedule_can_end_open():
    rng = np.random.default_rng(3)
    adaptive = Adaptive.of(_spec())
    blocks = BlockValues()
    for b in range(3):
        _feed(blocks, b, {"base": 100.0, "same": 100.0, "slow": 70.0} if b != 1 else {"base": 100.0, "same": 100.0}, rng)
        assert not adaptive.block_done(blocks, Presenter(lambda _: None))
    assert adaptive.blocks_used == 2 and adaptive.looks_taken == 0
    adaptive.schedule_ended(Presenter(lambda _: None))
    assert adaptive.stop_reason.startswith("blocks failed: 2 complete blocks of 6")


def test_variance_components_pool_the_comparisons_and_read_the_split_halves():
    rng = np.random.default_rng(4)
    blocks = BlockValues()
    for b in range(5):
        _feed(blocks, b, {"base": 100.0, "same": 100.0, "slow": 70.0}, rng)
    out = variance_metrics(blocks, ["base", "same", "slow"], "base", [METRIC])
    same = blocks.log_ratios("same", "base", METRIC)
    slow = blocks.log_ratios("slow", "base", METRIC)
    assert out["repeats/log_ratio_sd/same/perf/output_tokens_per_s"] == pytest.approx(np.std(same, ddof=1))
    pooled = math.sqrt((np.var(same, ddof=1) + np.var(slow, ddof=1)) / 2)
    assert out["repeats/log_ratio_sd/perf/output_tokens_per_s"] == pytest.approx(pooled)
    assert out["repeats/split_half_sd/perf/output_tokens_per_s"] == 0.02 and out["repeats/block_s"] == 30.0
    assert pooled_sd([[1.0]]) is None
