"""How big a difference a sample can detect, and how many repeats a decision needs.

Proportions (quality scores, n samples per task), two-sided test at `alpha` with power `power`:
  unpaired (independent samples, normal approximation, both variants near p):
      MDD = (z_{1-alpha/2} + z_{power}) * sqrt(2 p (1 - p) / n)      n=40, p=0.5: 0.313
  paired (the same n items scored by both; McNemar-type, normal approximation):
      MDD = (z_{1-alpha/2} + z_{power}) * sqrt(psi / n)
  with psi the share of items on which the two variants disagree (discordant); without it, psi = 2p(1-p),
  the share when the variants err independently, which gives the unpaired value. Similar models disagree
  on far fewer items (psi ~0.1-0.2), hence the gain from pairing: n=40, psi=0.18: 0.188.

Performance (a relative difference d = variant / baseline - 1 on a metric with run-to-run noise):
  cv: the coefficient of variation of one measurement that the design does not cancel. Paired
  interleaved design: the part not shared within a block; estimate it from an A/A run as
  sd(per-block log-ratio) / sqrt(2). Unpaired: the whole run-to-run CV.
  With s = sqrt(log(1 + cv^2)) (log-normal), the per-block log-ratio has sd sqrt(2) s (paired,
  df = n - 1), the difference of mean logs sd s sqrt(2 / n) (unpaired, df = 2n - 2); the power of the
  t-test at delta = log(1 + d) / se is about T_df(delta - t_{df, 1-alpha/2}) (normal, log-normal noise;
  outlier runs lower it: see docs/statistics.md).
"""

from __future__ import annotations

import math


def _z(alpha: float, power: float) -> float:
    if not (0.0 < alpha < 1.0 and 0.0 < power < 1.0):
        raise ValueError(f"need 0 < alpha < 1 and 0 < power < 1, got {alpha}, {power}")
    from scipy.special import ndtri  # the standard normal quantile

    return float(ndtri(1.0 - alpha / 2.0) + ndtri(power))


def mdd_proportion(n: int, p: float = 0.5, alpha: float = 0.05, power: float = 0.8, *,
                   paired: bool = False, discordant: float | None = None) -> float:
    """Minimum detectable difference of a proportion metric at n samples per variant (see the module doc)."""
    if n < 1 or not 0.0 <= p <= 1.0:
        raise ValueError(f"need n >= 1 and 0 <= p <= 1, got n={n}, p={p}")
    if paired:
        psi = 2.0 * p * (1.0 - p) if discordant is None else discordant
        if not 0.0 <= psi <= 1.0:
            raise ValueError(f"discordant share must be in [0, 1], got {psi}")
        return _z(alpha, power) * math.sqrt(psi / n)
    return _z(alpha, power) * math.sqrt(2.0 * p * (1.0 - p) / n)


def mdd_normal(stderr: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """Minimum detectable difference of a mean whose standard error is `stderr`, by the normal approximation:
    (z_{1-alpha/2} + z_{power}) * stderr. For a paired bootstrap over documents (harness.report.judge) on a score
    that is not a proportion (BLEU, a graded score): the difference is absolute, on the score's scale, and n is
    documents (hundreds), so the normal quantile stands where harness.stats.plan.mde's t on per-block log-ratios
    (relative, a handful of blocks) would not apply; proportions use `mdd_proportion` (paired) instead."""
    return _z(alpha, power) * stderr


def n_to_detect(n: int, mdd: float, margin: float) -> int | None:
    """Total n that would detect `margin` when n detect `mdd` (the MDD shrinks as 1 / sqrt(n)):
    ceil(n (mdd / margin)^2); None when mdd is not positive (no spread: no estimate)."""
    if not mdd > 0:
        return None
    return math.ceil(n * (mdd / margin) ** 2)


def _se_df(n: int, cv: float, paired: bool) -> tuple[float, float]:
    s = math.sqrt(math.log1p(cv * cv))
    if paired:
        return math.sqrt(2.0) * s / math.sqrt(n), n - 1.0
    return s * math.sqrt(2.0 / n), 2.0 * n - 2.0


def power_relative(n: int, d: float, cv: float, alpha: float = 0.05, *, paired: bool = True) -> float:
    """Approximate power of the t-test to detect a relative difference d with n repeats per variant."""
    if n < 2 or cv <= 0 or d <= -1:
        raise ValueError(f"need n >= 2, cv > 0, d > -1, got n={n}, cv={cv}, d={d}")
    from scipy.special import stdtr, stdtrit  # Student's t cdf and quantile

    se, df = _se_df(n, cv, paired)
    delta = abs(math.log1p(d)) / se
    return float(stdtr(df, delta - stdtrit(df, 1.0 - alpha / 2.0)))


def repeats_needed(d: float, cv: float, alpha: float = 0.05, power: float = 0.8, *, paired: bool = True,
                   max_n: int = 10_000) -> int:
    """Smallest number of repeats (blocks) per variant whose `power_relative` reaches `power`."""
    for n in range(2, max_n + 1):
        if power_relative(n, d, cv, alpha, paired=paired) >= power:
            return n
    raise ValueError(f"more than {max_n} repeats needed for d={d} at cv={cv}")


def mdd_relative(n: int, cv: float, alpha: float = 0.05, power: float = 0.8, *, paired: bool = True) -> float:
    """Smallest relative difference (d > 0, e.g. 0.2 = 20% slower) detected with `power` at n repeats."""
    lo, hi = 0.0, 1.0
    while power_relative(n, hi, cv, alpha, paired=paired) < power:
        hi *= 2.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        if power_relative(n, mid, cv, alpha, paired=paired) < power:
            lo = mid
        else:
            hi = mid
    return hi
