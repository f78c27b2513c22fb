"""Point values with confidence intervals: over repeats, or over the requests of one run.

Over repeats (`median_ci`) the interval is honest at the small n a benchmark can afford:
- n >= n_min(level) (6 at 95%): the distribution-free order-statistic interval for the median,
  [x_(k), x_(n+1-k)] with the largest k whose binomial coverage 1 - 2 P(Bin(n, 1/2) <= k-1) is at
  least `level` (n=6..8: [min, max], 96.9-99.2%; n=9: 2nd-lowest..2nd-highest, 96.1%). It assumes
  only that repeats are independent draws of one distribution; its coverage is at least `level`.
- all values equal: no interval (a zero-width one would claim certainty); method "zero spread".
- values with a zero or negative among them (no logs) at n < n_min: [min, max], its `level` set to its
  true coverage 1 - 2 * 0.5^n (`range_coverage`: 75% at n=3, 87.5% at n=4), never the requested level.
- 2 <= n < n_min: no order-statistic interval reaches `level` (n=5 at best 93.75%), so a t-interval
  on the logs (exp(mean log +- t s/sqrt(n))), the median of a log-normal; near `level` for
  log-normal noise, conservative when an outlier inflates s.
- A bootstrap over few repeats is not used: it cannot see beyond the observed range and covers less
  than it claims (simulated, 95% nominal: 51% at n=2, 75% at n=3, 88% at n=4, 88-94% at n=5..10).
Repeats measured back to back share the machine's drift, which no interval over them can see:
compare variants with `harness.stats.compare` (paired, interleaved), not by overlapping intervals.

Over requests (`request_bootstrap_ci`, for repeats = 1): a percentile bootstrap of a per-request
statistic. It describes WITHIN-RUN sampling noise only: a second run on the same machine differs by
more (10-50% here) than this interval says. Never use it to call two runs different.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

Statistic = str | Callable[[np.ndarray], float]


@dataclass(frozen=True)
class Estimate:
    """A value with its interval [low, high] at confidence `level`, from `n` observations."""

    value: float
    low: float
    high: float
    n: int
    method: str
    level: float

    @property
    def has_interval(self) -> bool:
        return not (math.isnan(self.low) or math.isnan(self.high))

    def __str__(self) -> str:
        if not self.has_interval:
            return f"{self.value:.4g} (n={self.n}, no interval)"
        return f"{self.value:.4g} [{self.low:.4g}, {self.high:.4g}] ({self.level:.0%}, n={self.n}, {self.method})"


def _check_level(level: float) -> None:
    if not 0.5 <= level < 1.0:
        raise ValueError(f"level must be in [0.5, 1), got {level}")


def order_statistic_rank(n: int, level: float) -> int | None:
    """Largest k such that [x_(k), x_(n+1-k)] covers the median with probability >= level; None if none."""
    best = None
    for k in range(1, n // 2 + 1):
        if order_statistic_coverage(n, k) >= level:
            best = k
    return best


def order_statistic_coverage(n: int, k: int) -> float:
    """Exact coverage of [x_(k), x_(n+1-k)] for the median of a continuous distribution: 1 - 2 P(Bin(n, 1/2) < k)."""
    from scipy.special import bdtr  # the binomial cdf scipy.stats.binom.cdf evaluates

    return 1.0 - 2.0 * float(bdtr(k - 1, n, 0.5))


def range_coverage(n: int) -> float:
    """True coverage of [min, max] of n repeats for the median: 1 - 2 * 0.5^n (n=3: 75%, n=4: 87.5%)."""
    return 1.0 - 2.0 * 0.5**n if n >= 1 else 0.0


def _finite(values: Sequence[float]) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1:
        raise ValueError("values must be one-dimensional")
    return x[np.isfinite(x)]


def log_t_interval(x: np.ndarray, level: float) -> tuple[float, float]:
    """exp(mean(log x) -+ t_{n-1} s / sqrt(n)): the interval for the median of a log-normal."""
    from scipy.special import stdtrit  # Student's t quantile (what scipy.stats.t.ppf evaluates)

    logs = np.log(x)
    half = float(stdtrit(len(x) - 1, 0.5 + level / 2.0)) * float(np.std(logs, ddof=1)) / math.sqrt(len(x))
    centre = float(np.mean(logs))
    return math.exp(centre - half), math.exp(centre + half)


def median_ci(values: Sequence[float], level: float = 0.95, seed: int | None = None) -> Estimate:
    """The median over repeats with its confidence interval (see the module docstring for the method).

    Non-finite values are dropped. `seed` is accepted for a uniform signature; the methods used are exact,
    so nothing is random. n = 1 gives no interval (low = high = nan); n = 0 raises ValueError.
    """
    del seed
    _check_level(level)
    x = np.sort(_finite(values))
    n = len(x)
    if n == 0:
        raise ValueError("median_ci needs at least one finite value")
    value = float(np.median(x))
    if n == 1:
        return Estimate(value, math.nan, math.nan, 1, "single", level)
    if x[0] == x[-1]:  # zero spread: no zero-width interval
        return Estimate(value, math.nan, math.nan, n, "zero spread: no interval", level)
    k = order_statistic_rank(n, level)
    if k is not None:
        return Estimate(value, float(x[k - 1]), float(x[n - k]), n, f"order-statistic k={k}", level)
    if np.any(x <= 0):  # logs impossible: the range, labelled with its true coverage (75% at n=3), not `level`
        coverage = range_coverage(n)
        return Estimate(value, float(x[0]), float(x[-1]), n, f"range ({coverage:.1%})", coverage)
    low, high = log_t_interval(x, level)
    return Estimate(value, min(low, value), max(high, value), n, "t on logs", level)


def vectorised(statistic: Statistic) -> tuple[str, Callable[[np.ndarray], np.ndarray]]:
    """Name and a vectorised form (rows = resamples) of a per-request statistic."""
    if callable(statistic):
        return getattr(statistic, "__name__", "statistic"), lambda m: np.apply_along_axis(statistic, 1, m)
    name = statistic.lower()
    if name == "mean":
        return name, lambda m: m.mean(axis=1)
    if name == "median":
        name = "p50"
    if name.startswith("p"):
        try:
            q = float(name[1:])
        except ValueError:
            q = -1.0
        if 0.0 <= q <= 100.0:
            return name, lambda m: np.percentile(m, q, axis=1)
    raise ValueError(f"unknown statistic {statistic!r}: use 'mean', 'median', 'pNN' or a callable")


def request_bootstrap_ci(
    per_request_values: Sequence[float],
    statistic: Statistic = "p50",
    level: float = 0.95,
    seed: int = 0,
    resamples: int = 2000,
) -> Estimate:
    """A per-request statistic of ONE run ('mean', 'p50', 'p95', 'p99', or a callable) with a percentile
    bootstrap interval over its requests.

    Within-run only: it says how much the statistic would move if the same run had drawn other requests,
    not how much a second run would differ (between-run noise is larger; see the module docstring).
    Tail percentiles need enough requests beyond them (p99 from fewer than ~1000 requests is the maximum
    of a handful; the interval is then too narrow). Percentiles are numpy's linear ones, as in
    harness.load.stats.
    """
    _check_level(level)
    x = _finite(per_request_values)
    n = len(x)
    if n == 0:
        raise ValueError("request_bootstrap_ci needs at least one finite value")
    name, vector = vectorised(statistic)
    value = float(vector(x[None, :])[0])
    if n == 1:
        return Estimate(value, math.nan, math.nan, 1, f"single request ({name})", level)
    rng = np.random.default_rng(seed)
    chunk = max(1, min(resamples, 2_000_000 // n))
    stats = []
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        stats.append(vector(x[rng.integers(0, n, size=(rows, n))]))
    boot = np.concatenate(stats)
    alpha = 1.0 - level
    low, high = (float(v) for v in np.quantile(boot, [alpha / 2.0, 1.0 - alpha / 2.0]))
    return Estimate(value, low, high, n, f"request bootstrap ({name}, within-run)", level)
