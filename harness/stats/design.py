"""How repeats are laid out in time: the defaults and the interleaved block schedule.

The machine drifts (10-50% between runs here, most of it shared by measurements close in time). In the
paired design every block holds one measurement of every variant, back to back, so a block's variants
see nearly the same machine state; the order inside each block is shuffled with a recorded seed so that
a trend (warm-up, throttling) does not always favour the variant measured first. Comparisons are then
made within blocks (`harness.stats.compare.paired_difference`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

DEFAULT_LEVEL = 0.95
"""Confidence level of intervals and verdicts."""

DEFAULT_REPEATS = 10
"""Repeats (blocks) per variant. Under the noise model of harness.stats.simulate (DEFAULT_NOISE, fitted to
our H100 runs), the paired interleaved design with 10 blocks calls a 20% slowdown "worse" in ~95% of
trials (8 blocks: ~89%, 5: ~77%: the occasional outlier run costs most), while identical variants are
called different in <= 5% at any n (tests/unit/stats/test_stats_decisions.py; docs/statistics.md)."""


def block_schedule(variants: Sequence[str], repeats: int = DEFAULT_REPEATS, seed: int = 0) -> list[list[str]]:
    """`repeats` blocks, each a seeded random permutation of `variants`: the order to measure them in.

    Blocks are measured one after the other; block i of every variant forms the pair (or set) compared.
    The same (variants, repeats, seed) always gives the same schedule: record the seed with the results.
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    names = list(variants)
    if len(set(names)) != len(names):
        raise ValueError(f"variant names must be unique: {names}")
    rng = np.random.default_rng(seed)
    return [[names[i] for i in rng.permutation(len(names))] for _ in range(repeats)]
