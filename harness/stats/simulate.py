"""Simulated measurements with the run-to-run noise of our machines: the one noise model the tests use.

A measurement (one load window of ~30-40 s) of a metric whose true level is L reads
    L * exp(+-(drift_t + e_t + o_t))          (+ for a latency, - for a throughput: noise hurts)
  - drift_t: the machine's state, shared by measurements close in time: a stationary AR(1) over the
    measurement slots in the order they are taken, sd `drift_sd`, lag-one correlation `drift_rho`;
  - e_t: independent noise of each window, sd `noise_sd`;
  - o_t: an occasional outlier: with probability `outlier_p` a run is slower by a factor drawn uniformly
    from [outlier_low, outlier_high].
Within a window, requests spread log-normally around the window's level with sd `request_sd`.

DEFAULT_NOISE is fitted to the nine runs of each closed-loop point of benchmarks/results/vllm-h100/
reference-reactor-repeats (16 users on an H100, three interleaved rounds): log-sd over runs 0.09-0.12,
consecutive runs differ by ~0.065 per run (so ~2/3 of the variance is drift shared by neighbours),
max/min over six runs 1.3-1.5; one TTFT p99 run of nine 1.6x the others (the outliers); TTFT p99/p50
within a run ~2.1 (request_sd 0.33). The open-loop point (Poisson 16 req/s) was noisier and mostly
independent from run to run (log-sd ~0.14, no shared drift): OPEN_LOOP_NOISE; it needs more repeats
(docs/statistics.md has the table).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from harness.stats.capacity import PointResult
from harness.stats.design import block_schedule


@dataclass(frozen=True)
class NoiseModel:
    drift_sd: float = 0.10
    drift_rho: float = 0.75
    noise_sd: float = 0.04
    outlier_p: float = 0.03
    outlier_low: float = 1.3
    outlier_high: float = 1.6
    request_sd: float = 0.33

    @property
    def total_sd(self) -> float:
        """Log-sd of one measurement without outliers (drift and independent noise together)."""
        return math.hypot(self.drift_sd, self.noise_sd)

    def log_noise(self, slots: int, rng: np.random.Generator) -> np.ndarray:
        """Log-factors (positive = worse) for `slots` consecutive measurements."""
        drift = np.empty(slots)
        shock = rng.normal(0.0, self.drift_sd * math.sqrt(1.0 - self.drift_rho**2), slots)
        level = rng.normal(0.0, self.drift_sd)
        for t in range(slots):
            level = self.drift_rho * level + shock[t] if t else level
            drift[t] = level
        out = rng.random(slots) < self.outlier_p
        outliers = np.where(out, np.log(rng.uniform(self.outlier_low, self.outlier_high, slots)), 0.0)
        return drift + rng.normal(0.0, self.noise_sd, slots) + outliers


DEFAULT_NOISE = NoiseModel()
OPEN_LOOP_NOISE = NoiseModel(drift_sd=0.05, drift_rho=0.3, noise_sd=0.13)


def _apply(level: float, log_factor: float, higher_is_better: bool) -> float:
    return level * math.exp(-log_factor if higher_is_better else log_factor)


def measure_blocks(levels: Mapping[str, float], repeats: int, rng: np.random.Generator, *,
                   noise: NoiseModel = DEFAULT_NOISE, higher_is_better: bool = False,
                   design: str = "interleaved") -> dict[str, list[float]]:
    """Measurements of each variant's true `levels`, `repeats` each, in the order of `design`:
    "interleaved" (blocks of every variant, shuffled order per block) or "sequential" (all repeats of
    the first variant, then of the next). Index i of each list is block i."""
    names = list(levels)
    if design == "interleaved":
        order = [name for block in block_schedule(names, repeats, int(rng.integers(2**31))) for name in block]
    elif design == "sequential":
        order = [name for name in names for _ in range(repeats)]
    else:
        raise ValueError(f"unknown design {design!r}")
    noise_t = noise.log_noise(len(order), rng)
    out: dict[str, list[float]] = {name: [] for name in names}
    for name, f in zip(order, noise_t):
        out[name].append(_apply(levels[name], float(f), higher_is_better))
    return out


def measure_requests(levels: Mapping[str, float], n_requests: int, rng: np.random.Generator, *,
                     noise: NoiseModel = DEFAULT_NOISE) -> dict[str, np.ndarray]:
    """One window per variant, back to back (repeats = 1): per-request latencies around each window's level."""
    noise_t = noise.log_noise(len(levels), rng)
    return {name: _apply(level, float(f), False) * np.exp(rng.normal(0.0, noise.request_sd, n_requests))
            for (name, level), f in zip(levels.items(), noise_t)}


class SimulatedServer:
    """A server whose latency rises like a queue, L(x) = base / (1 - x / saturation), measured with noise.

    `capacity` is the true load at which the noiseless latency equals the SLO (`slo_ratio` x base), so
    saturation = capacity * slo_ratio / (slo_ratio - 1) and, at the capacity, d log L / d log x =
    slo_ratio - 1. Each call to `measure` is the next measurement slot of `noise` (drift carries over).
    """

    def __init__(self, capacity: float, slo_ratio: float = 4.0, noise: NoiseModel = DEFAULT_NOISE, seed: int = 0,
                 slots: int = 256):
        self.capacity, self.slo_ratio = capacity, slo_ratio
        self.saturation = capacity * slo_ratio / (slo_ratio - 1.0)
        self.rng = np.random.default_rng(seed)
        self._noise, self._t = noise.log_noise(slots, self.rng), 0
        self.points: list[float] = []

    def latency(self, point: float) -> float:
        """Noiseless latency in units of the zero-load latency."""
        return math.inf if point >= self.saturation else 1.0 / (1.0 - point / self.saturation)

    def measure(self, point: float) -> PointResult:
        self.points.append(point)
        f = float(self._noise[self._t % len(self._noise)])
        self._t += 1
        measured = self.latency(point) * math.exp(f)
        return PointResult(meets=measured <= self.slo_ratio, attainment=min(1.0, self.slo_ratio / measured),
                           detail={"latency": measured}, slo_ratio=measured / self.slo_ratio)


def trials(seed: int, count: int) -> Sequence[np.random.Generator]:
    """`count` independent generators from one seed (for Monte-Carlo tests)."""
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(count)]
