"""Warm-up until the rate settles (`load.warmup`): where the measured window starts, decided on the records.

The load runs `warmup.max_s + duration_s`; afterwards the window starts at the first time `s` (from `warmup_s` on,
in steps of a quarter sub-window) where the `windows` sub-windows just before `s`, each `sub_window_s` long, all
have an output-token rate within +-`tolerance` of their mean; the window is then `duration_s` long. A rate that
has not settled by `max_s` starts the window at `max_s`, and the result says so (a warning on screen). Deciding
after the run keeps the load generator unaware of it; the cost is the run's length, which is always the longest.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from harness.load.records import RequestRecord
from harness.load.window import token_times
from harness.spec.load import WarmupSpec


@dataclass(frozen=True)
class Settled:
    """Where the measured window starts, in seconds from the load's start."""

    start_s: float
    settled: bool
    """False: the rate had not settled by `max_s`, and the window starts there."""


class _Cumulative:
    """Output tokens arrived up to a time, by bisection over every chunk of the load."""

    def __init__(self, records: Sequence[RequestRecord]):
        pairs = sorted(p for r in records for p in token_times(r))
        self.times = [t for t, _ in pairs]
        self.sums = [0.0, *itertools.accumulate(n for _, n in pairs)]

    def between(self, lo: float, hi: float) -> float:
        return self.sums[bisect.bisect_left(self.times, hi)] - self.sums[bisect.bisect_left(self.times, lo)]


def settled_start(records: Sequence[RequestRecord], t0: float, warmup: WarmupSpec, min_s: float = 0.0) -> Settled:
    """The measured window's start, from `min_s` (the spec's `warmup_s`) to `warmup.max_s` after `t0`."""
    tokens = _Cumulative(records)
    w, k, tol = warmup.sub_window_s, warmup.windows, warmup.tolerance
    step = w / 4
    s = max(min_s, k * w)
    while s <= warmup.max_s + 1e-9:
        rates = [tokens.between(t0 + s - (i + 1) * w, t0 + s - i * w) / w for i in range(k)]
        mean = sum(rates) / k
        if mean > 0 and all(abs(r - mean) <= tol * mean for r in rates):
            return Settled(s, True)
        s += step
    return Settled(warmup.max_s, False)
