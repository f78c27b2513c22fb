"""Capacity on a fixed grid per block, and its confirmation by one long window (docs/statistics.md).

Where the server's speed drifts between blocks, a bracketing search measures different points in every block and
for every variant; a fixed grid does not: each block measures the same few loads (`load.capacity.grid`: a geometric grid around the
expected capacity, or a given list), in a fixed order, for every variant. Per block, `grid_capacity` fits a
monotone (isotonic, pool-adjacent-violators: `isotonic`) curve of log(SLO metric / limit) against the load and
reports THE capacity estimand of harness.stats.capacity: the load where the fitted curve crosses 0, interpolated
between the grid points on either side on log scales (`crossing`); censored below the lowest point ("< lo") or at
or above the highest (">= hi") exactly as a search is. The result is a `Capacity` (its `estimate` from the fit), so
`capacity_interval`, the load stage and the paired comparison of blocks read it like a search's.

`attainment_lower_bound`: the one-sided Clopper-Pearson lower bound on a pass fraction, for the confirm window
(MLPerf's server scenario confirms a claimed rate by one long run at it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.stats.capacity import Capacity, PointResult, Step, crossing

RATIO_CAP = 1e3
"""slo_ratio values are clipped to [1/RATIO_CAP, RATIO_CAP] before the fit (a point with no measured request, or with
every request failed, reads inf): far beyond the limit either way, it still pulls the curve, but by a finite amount."""


def isotonic(y: Sequence[float], weights: Sequence[float] | None = None) -> np.ndarray:
    """The non-decreasing sequence closest to `y` in weighted least squares (pool adjacent violators)."""
    values = [float(v) for v in y]
    w = [1.0] * len(values) if weights is None else [float(v) for v in weights]
    blocks: list[list[float]] = []  # [mean, weight, count]
    for v, wi in zip(values, w):
        blocks.append([v, wi, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            m2, w2, n2 = blocks.pop()
            m1, w1, n1 = blocks.pop()
            blocks.append([(m1 * w1 + m2 * w2) / (w1 + w2), w1 + w2, n1 + n2])
    return np.array([m for m, _, n in blocks for _ in range(int(n))], dtype=float)


@dataclass(frozen=True)
class GridCapacity(Capacity):
    """One block's grid: the measurements (`steps`, one per point, phase "grid", each judged by the fitted curve),
    the fitted log-ratios (`fitted`, by point), and the final bracket [low, high] the fitted curve crosses 0 in."""

    fitted: tuple[float, ...] = ()

    @property
    def estimate(self) -> float:
        """The load where the fitted log(SLO metric / limit) crosses 0, on log scales between the bracket's ends."""
        if not self.bracketed:
            return math.nan
        at = {s.point: f for s, f in zip(self.steps, self.fitted)}
        return crossing(self.low, self.high, at[self.low], at[self.high])


def _log_ratio(r: PointResult) -> float:
    x = r.slo_ratio if not math.isnan(r.slo_ratio) else (0.5 if r.meets else 2.0)  # no ratio: only the verdict
    return math.log(min(RATIO_CAP, max(1.0 / RATIO_CAP, x)))


def grid_capacity(measured: Sequence[tuple[float, PointResult]]) -> GridCapacity:
    """The capacity of one block from its grid measurements (point, result), any order, one or more per point (several
    at a point are fitted as their mean log-ratio, weighted by their count)."""
    if not measured:
        raise ValueError("grid_capacity needs at least one measurement")
    points = sorted({p for p, _ in measured})
    if points[0] <= 0:
        raise ValueError(f"grid points must be > 0, got {points[0]}")
    by_point = {p: [r for q, r in measured if q == p] for p in points}
    fitted = isotonic([float(np.mean([_log_ratio(r) for r in by_point[p]])) for p in points], [len(by_point[p]) for p in points])
    steps = [Step(p, tuple(by_point[p]), bool(f <= 0.0), "grid") for p, f in zip(points, fitted)]
    passing = [p for p, f in zip(points, fitted) if f <= 0.0]
    if not passing:  # failed at the lowest point: capacity < lo
        return GridCapacity(math.nan, math.nan, points[0], steps, False, tuple(fitted))
    low = max(passing)
    if low == points[-1]:  # held at the highest: capacity >= hi
        return GridCapacity(low, low, math.inf, steps, False, tuple(fitted))
    return GridCapacity(low, low, points[points.index(low) + 1], steps, True, tuple(fitted))


CONFIRM_LEVEL = 0.95
"""One-sided confidence of the confirm window's lower bound on SLO attainment."""


def attainment_lower_bound(passed: int, n: int, level: float = CONFIRM_LEVEL) -> float:
    """One-sided Clopper-Pearson lower bound on a pass probability from `passed` of `n` (exact: covers at least `level`
    for every true probability): the (1 - level) quantile of Beta(passed, n - passed + 1); 0 when none passed."""
    from scipy.stats import beta

    if not 0 <= passed <= n or n < 1:
        raise ValueError(f"need 0 <= passed <= n, n >= 1; got {passed}, {n}")
    if passed == 0:
        return 0.0
    return float(beta.ppf(1.0 - level, passed, n - passed + 1))
