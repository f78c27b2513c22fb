"""A variant against the baseline on one metric: the ratio with its interval and a verdict.

The ratio is variant / baseline (1.2 = 20% more). The verdict is direction-aware: for a latency
(higher_is_better=False) a ratio above 1 is "worse", for a throughput "better". A verdict other than
"indistinguishable" needs both
  - significance: the interval at `level` excludes 1 (so identical variants are called different in at
    most 1 - level of comparisons, when the design's assumptions hold), and
  - relevance: the point ratio differs from 1 by at least `margin` (relative; 0.02 = 2%), so a difference
    smaller than the margin is never called better or worse, however precise.

Designs:
  - `paired_difference`: block i of both variants was measured back to back (interleaved, order shuffled
    per block: `harness.stats.design.block_schedule`); the interval is a t-interval on the mean of the
    per-block log-ratios (n-1 degrees of freedom). Drift shared within a block cancels. Valid at n >= 2;
    at n = 3..10 its false-positive rate stays at or below alpha under drift, outliers and log-normal noise
    (the test suite measures it), where exact sign/Wilcoxon intervals cannot reach 95% below n = 6.
  - `unpaired_difference`: independent repeats (e.g. variants on different days or machines); Welch's
    t-interval on the difference of mean logs. Honest only if the repeats really are independent: repeats
    run one variant after the other (AAAAA BBBBB) put the drift between them into the difference.
  - `request_difference`: one run each (repeats = 1); a bootstrap over requests of the ratio of a
    per-request statistic. WITHIN-RUN only: it ignores run-to-run noise, so it calls identical
    configurations different far more often than alpha (~50% for p50 of 240 requests at our noise). Shown for
    information; a verdict from it is not a decision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.stats.design import DEFAULT_LEVEL
from harness.stats.estimate import Statistic, vectorised

VERDICTS = ("better", "worse", "indistinguishable")


@dataclass(frozen=True)
class Difference:
    """variant / baseline on `metric`: ratio, its interval [low, high] at `level`, and the verdict."""

    metric: str
    ratio: float
    low: float
    high: float
    verdict: str
    level: float
    n: int
    method: str
    higher_is_better: bool
    margin: float
    p_value: float = math.nan

    @property
    def change(self) -> float:
        """Relative change, ratio - 1 (+0.2 = 20% more)."""
        return self.ratio - 1.0

    @property
    def significant(self) -> bool:
        return not (self.low <= 1.0 <= self.high)

    def __str__(self) -> str:
        return (f"{self.metric}: x{self.ratio:.3f} [{self.low:.3f}, {self.high:.3f}] {self.verdict} "
                f"({self.level:.0%}, n={self.n}, {self.method})")


def verdict(ratio: float, low: float, high: float, higher_is_better: bool, margin: float = 0.0) -> str:
    """better / worse / indistinguishable from a ratio and its interval (see the module docstring)."""
    if any(math.isnan(v) for v in (ratio, low, high)) or low <= 1.0 <= high or abs(ratio - 1.0) < margin:
        return "indistinguishable"
    up = low > 1.0
    return "better" if up == higher_is_better else "worse"


def _check(level: float, margin: float) -> None:
    if not 0.5 <= level < 1.0:
        raise ValueError(f"level must be in [0.5, 1), got {level}")
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"margin must be in [0, 1), got {margin}")


def _logs(values: Sequence[float], what: str) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or np.any(~np.isfinite(x)) or np.any(x <= 0):
        raise ValueError(f"{what}: need positive finite numbers, got {list(values)}")
    return np.log(x)


def _t_result(metric, mean, se, df, level, n, method, higher_is_better, margin, to_ratio=math.exp) -> Difference:
    """The t interval of `mean` (a log-ratio, or a difference: `to_ratio` maps it to the ratio shown).

    Zero spread (se = 0, e.g. identical values in every block): no interval (a zero-width one would claim
    certainty) and, instead of p = 0, the exact sign test: all n differences on one side, p = 2 * 0.5^n
    (p = 1 when they are all 0); the verdict follows it (significant when p < 1 - level)."""
    if se <= 1e-12 * max(1.0, abs(mean)) or not math.isfinite(se):
        p = 1.0 if mean == 0.0 else min(1.0, 2.0 * 0.5**n)
        ratio = to_ratio(mean)
        v = "indistinguishable" if p >= 1.0 - level or abs(ratio - 1.0) < margin else \
            ("better" if (ratio > 1.0) == higher_is_better else "worse")
        return Difference(metric, ratio, math.nan, math.nan, v, level, n,
                          f"{method}; zero spread: no interval, exact sign test", higher_is_better, margin, p)
    from scipy.special import stdtr, stdtrit  # Student's t cdf and quantile (what scipy.stats.t evaluates)

    half = float(stdtrit(df, 0.5 + level / 2.0)) * se
    low, high = mean - half, mean + half
    p = 2.0 * float(stdtr(df, -abs(mean) / se))
    ratio, lo, hi = to_ratio(mean), to_ratio(low), to_ratio(high)
    if lo <= 0.0:  # a ratio cannot be <= 0: refuse the interval rather than print a negative bound
        return Difference(metric, ratio, math.nan, math.nan, "indistinguishable", level, n,
                          f"{method}; lower bound <= 0: no ratio interval", higher_is_better, margin, p)
    return Difference(metric, ratio, lo, hi, verdict(ratio, lo, hi, higher_is_better, margin), level, n,
                      method, higher_is_better, margin, p)


def _with_zeros(*groups: Sequence[float]) -> bool:
    """Finite, non-negative, and some zero (a capacity below the search's lowest point is 0): logs cannot be taken."""
    x = np.concatenate([np.asarray(g, dtype=float) for g in groups])
    return bool(len(x)) and bool(np.all(np.isfinite(x))) and bool(np.all(x >= 0)) and bool(np.any(x == 0)) and bool(np.any(x > 0))


def _paired_raw(metric, a: np.ndarray, b: np.ndarray, level, higher_is_better, margin) -> Difference:
    """Paired t on the differences, shown as a ratio to the baseline's mean: 1 + mean(d) / mean(baseline)."""
    n = len(a)
    d = b - a
    scale = float(a.mean())
    if n < 2 or scale <= 0:
        ratio = 1.0 + float(d.mean()) / scale if scale > 0 else math.nan
        return Difference(metric, ratio, math.nan, math.nan, "indistinguishable", level, n,
                          "paired on differences (no interval)", higher_is_better, margin)
    se = float(np.std(d, ddof=1)) / math.sqrt(n)
    return _t_result(metric, float(d.mean()), se, n - 1, level, n, "paired t on differences (a zero among the values: no logs)",
                     higher_is_better, margin, to_ratio=lambda x: 1.0 + x / scale)


def paired_difference(metric: str, baseline: Sequence[float], variant: Sequence[float], *,
                      higher_is_better: bool, level: float = DEFAULT_LEVEL, margin: float = 0.0) -> Difference:
    """Paired by block: baseline[i] and variant[i] were measured in block i (interleaved).

    Values with a zero among them (a capacity below the search's lowest point, stored as 0 by older runs; it is
    censored, "< lo", see harness.stats.capacity.Capacity.censored) cannot be compared on logs; they get a
    paired t on the differences, expressed as a ratio to the baseline's mean, and no interval at all when its
    lower bound would be <= 0 (a ratio is positive)."""
    _check(level, margin)
    if _with_zeros(baseline, variant) and len(baseline) == len(variant):
        return _paired_raw(metric, np.asarray(baseline, dtype=float), np.asarray(variant, dtype=float), level,
                           higher_is_better, margin)
    a, b = _logs(baseline, f"{metric} baseline"), _logs(variant, f"{metric} variant")
    if len(a) != len(b):
        raise ValueError(f"{metric}: paired design needs one baseline value per block ({len(a)} vs {len(b)})")
    n = len(a)
    d = b - a
    if n < 2:
        ratio = math.exp(float(d[0])) if n else math.nan
        return Difference(metric, ratio, math.nan, math.nan, "indistinguishable", level, n,
                          "paired (one block: no interval)", higher_is_better, margin)
    se = float(np.std(d, ddof=1)) / math.sqrt(n)
    return _t_result(metric, float(d.mean()), se, n - 1, level, n, "paired t on log-ratios",
                     higher_is_better, margin)


def unpaired_difference(metric: str, baseline: Sequence[float], variant: Sequence[float], *,
                        higher_is_better: bool, level: float = DEFAULT_LEVEL, margin: float = 0.0) -> Difference:
    """Independent repeats of each: Welch's t-interval on mean log difference (ratio of geometric means)."""
    _check(level, margin)
    a, b = _logs(baseline, f"{metric} baseline"), _logs(variant, f"{metric} variant")
    n = min(len(a), len(b))
    mean = float(b.mean() - a.mean()) if len(a) and len(b) else math.nan
    if n < 2:
        return Difference(metric, math.exp(mean), math.nan, math.nan, "indistinguishable", level, n,
                          "unpaired (fewer than 2 repeats: no interval)", higher_is_better, margin)
    va, vb = float(np.var(a, ddof=1)) / len(a), float(np.var(b, ddof=1)) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else float(n - 1)
    return _t_result(metric, mean, se, df, level, n, "unpaired Welch t on logs", higher_is_better, margin)


def request_difference(metric: str, baseline_requests: Sequence[float], variant_requests: Sequence[float],
                       statistic: Statistic = "p50", *, higher_is_better: bool, level: float = DEFAULT_LEVEL,
                       margin: float = 0.0, seed: int = 0, resamples: int = 2000) -> Difference:
    """One run each (repeats = 1): bootstrap over requests of statistic(variant) / statistic(baseline).

    Within-run only (see the module docstring): its interval ignores run-to-run noise.
    """
    _check(level, margin)
    name, vector = vectorised(statistic)
    a = np.asarray(baseline_requests, dtype=float)
    b = np.asarray(variant_requests, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"{metric}: need at least 2 requests per run")
    rng = np.random.default_rng(seed)
    va, vb = float(vector(a[None, :])[0]), float(vector(b[None, :])[0])
    ratio = vb / va if va > 0 else math.nan
    boot = []
    chunk = max(1, min(resamples, 1_000_000 // max(len(a), len(b))))
    for start in range(0, resamples, chunk):
        rows = min(chunk, resamples - start)
        ra = vector(a[rng.integers(0, len(a), size=(rows, len(a)))])
        rb = vector(b[rng.integers(0, len(b), size=(rows, len(b)))])
        with np.errstate(divide="ignore", invalid="ignore"):
            boot.append(rb / ra)
    r = np.concatenate(boot)
    r = r[np.isfinite(r)]
    alpha = 1.0 - level
    low, high = (float(v) for v in np.quantile(r, [alpha / 2.0, 1.0 - alpha / 2.0]))
    k = min(int(np.sum(r <= 1.0)), int(np.sum(r >= 1.0)))
    p = min(1.0, 2.0 * (k + 1) / (len(r) + 1))  # (k + 1) / (B + 1) per side: never exactly 0
    return Difference(metric, ratio, low, high, verdict(ratio, low, high, higher_is_better, margin), level,
                      min(len(a), len(b)), f"request bootstrap ({name}, within-run)", higher_is_better, margin, p)
