"""How many interleaved blocks a decision needs, from the sd of the per-block log-ratio (or its parts).

The unit everywhere is the per-block log-ratio x_i = log(variant_i / baseline_i) of a paired, interleaved
design (harness.stats.design), assumed normal with sd `sd` (estimate it from a pilot, an A/A run, or a
previous sweep). A relative margin m is the log-margin delta = log(1 + m); the equivalence region is the
ratio range [1/(1+m), 1+m] (symmetric on the log scale).

- detect (better/worse): a two-sided t-test at `alpha` on the mean of n log-ratios. Its power against a
  true log-ratio delta is exact for normal data: the noncentral t with n-1 df and noncentrality
  delta sqrt(n) / sd (`detect_power`).
- equivalence (TOST, two one-sided tests at `alpha`, i.e. the (1 - 2 alpha) interval inside +-delta): its
  power when the variants are the same is bounded below by 1 - 2 P(T' <= t_{n-1, 1-alpha}), T' noncentral
  t with noncentrality delta sqrt(n) / sd (`equivalence_power`, the Bonferroni bound: the planned n is
  safe, slightly more than needed).
- mde: the smallest relative difference detected with `power` at n blocks (`mde`), from the same formula.

Variance components (`sd_from_components`): the per-block log-ratio varies because the machine moves
between the two windows of a block (`between_block_sd`: the sd of the log-ratio part that windows of one
block do not share) and because each window is a finite sample (`within_window_sd`: the sd of one window's
log-metric around its block's level, e.g. from split halves: sd(log(first half / second half)) / 2 for a
window split in two equal halves, each half having twice the window's variance). Then
sd^2 = between_block_sd^2 + 2 within_window_sd^2. Halving a window doubles within_window_sd^2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEFAULT_POWER = 0.8
DEFAULT_ALPHA = 0.05
MAX_BLOCKS = 100_000


def _check(sd: float, alpha: float, power: float) -> None:
    if not (sd > 0 and math.isfinite(sd)):
        raise ValueError(f"sd must be positive and finite, got {sd}")
    if not (0.0 < alpha < 0.5 and 0.0 < power < 1.0):
        raise ValueError(f"need 0 < alpha < 0.5 and 0 < power < 1, got {alpha}, {power}")


def log_margin(margin: float) -> float:
    """delta = log(1 + m) for a relative margin m in (0, 1): the equivalence region is [1/(1+m), 1+m]."""
    if not 0.0 < margin < 1.0:
        raise ValueError(f"margin must be in (0, 1), got {margin}")
    return math.log1p(margin)


def sd_from_components(between_block_sd: float = 0.0, within_window_sd: float = 0.0) -> float:
    """sd of the per-block log-ratio from its parts: sqrt(between^2 + 2 within^2) (see the module docstring)."""
    if between_block_sd < 0 or within_window_sd < 0 or not (between_block_sd > 0 or within_window_sd > 0):
        raise ValueError(f"need non-negative components, one positive, got {between_block_sd}, {within_window_sd}")
    return math.sqrt(between_block_sd**2 + 2.0 * within_window_sd**2)


def detect_power(n: int, effect: float, sd: float, alpha: float = DEFAULT_ALPHA) -> float:
    """Power of the two-sided paired t-test at `alpha` with n blocks against a relative effect (0.05 = 5%)."""
    _check(sd, alpha, 0.5)
    if n < 2 or effect <= -1.0:
        return 0.0 if n < 2 else 1.0
    from scipy.special import nctdtr, stdtrit  # noncentral t cdf, Student's t quantile

    df, nc = n - 1.0, abs(math.log1p(effect)) * math.sqrt(n) / sd
    crit = float(stdtrit(df, 1.0 - alpha / 2.0))
    return float(1.0 - nctdtr(df, nc, crit) + nctdtr(df, nc, -crit))


def equivalence_power(n: int, margin: float, sd: float, alpha: float = DEFAULT_ALPHA) -> float:
    """Lower bound on the chance that TOST at `alpha` declares equivalence within +-margin at n blocks when
    the variants are the same (true ratio 1)."""
    _check(sd, alpha, 0.5)
    if n < 2:
        return 0.0
    from scipy.special import nctdtr, stdtrit

    df, nc = n - 1.0, log_margin(margin) * math.sqrt(n) / sd
    return max(0.0, float(1.0 - 2.0 * nctdtr(df, nc, float(stdtrit(df, 1.0 - alpha)))))


def _smallest_n(ok, guess: float) -> int:
    """The smallest n >= 2 with ok(n), for ok monotone in n; starts near `guess` (a normal approximation)."""
    n = max(2, int(math.floor(guess)))
    while n > 2 and ok(n - 1):
        n -= 1
    while not ok(n):
        n = n + 1 if n < 64 else int(n * 1.05) + 1
        if n > MAX_BLOCKS:
            raise ValueError(f"more than {MAX_BLOCKS} blocks needed")
    lo = max(2, int(n / 1.05) - 1)
    while lo < n and not ok(lo):
        lo += 1
    return lo


def _z(p: float) -> float:
    from scipy.special import ndtri

    return float(ndtri(p))


def blocks_to_detect(effect: float, sd: float, power: float = DEFAULT_POWER, alpha: float = DEFAULT_ALPHA) -> int:
    """Blocks at which `detect_power` reaches `power` for a relative effect (e.g. 0.05)."""
    _check(sd, alpha, power)
    delta = abs(math.log1p(effect))
    if delta == 0:
        raise ValueError("effect must differ from 0")
    guess = ((_z(1 - alpha / 2) + _z(power)) * sd / delta) ** 2
    return _smallest_n(lambda n: detect_power(n, effect, sd, alpha) >= power, guess)


def blocks_for_equivalence(margin: float, sd: float, power: float = DEFAULT_POWER,
                           alpha: float = DEFAULT_ALPHA) -> int:
    """Blocks at which TOST declares two identical variants equivalent within +-margin with `power`."""
    _check(sd, alpha, power)
    guess = ((_z(1 - alpha) + _z(1 - (1 - power) / 2)) * sd / log_margin(margin)) ** 2
    return _smallest_n(lambda n: equivalence_power(n, margin, sd, alpha) >= power, guess)


def mde(n: int, sd: float, power: float = DEFAULT_POWER, alpha: float = DEFAULT_ALPHA) -> float:
    """Minimum detectable relative effect (e.g. 0.23 = 23%) at n blocks: detected with `power` by the two-sided
    t-test at `alpha`. inf below 2 blocks."""
    _check(sd, alpha, power)
    if n < 2:
        return math.inf
    from scipy.special import stdtrit

    guess = (float(stdtrit(n - 1.0, 1.0 - alpha / 2.0)) + float(stdtrit(n - 1.0, power))) * sd / math.sqrt(n)
    lo, hi = 0.5 * guess, 2.0 * guess  # the noncentral-t solution lies near the usual t approximation
    while detect_power(n, math.expm1(lo), sd, alpha) >= power:
        lo *= 0.5
    while detect_power(n, math.expm1(hi), sd, alpha) < power:
        lo, hi = hi, hi * 2.0
        if hi > 50:
            return math.inf
    for _ in range(24):  # relative precision ~1e-7 of the guess
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if detect_power(n, math.expm1(mid), sd, alpha) < power else (lo, mid)
    return math.expm1(hi)


@dataclass(frozen=True)
class Plan:
    """Blocks needed for a target margin: to detect an effect of `margin` and to show equivalence within it."""

    margin: float
    sd: float
    power: float
    alpha: float
    detect_blocks: int
    equivalence_blocks: int
    max_blocks: int | None

    @property
    def blocks(self) -> int:
        """Blocks to decide either way (the larger of the two)."""
        return max(self.detect_blocks, self.equivalence_blocks)

    @property
    def reachable(self) -> bool:
        return self.max_blocks is None or self.blocks <= self.max_blocks

    def __str__(self) -> str:
        s = (f"+-{self.margin:.0%} at sd {self.sd:.3f}: {self.detect_blocks} blocks to detect, "
             f"{self.equivalence_blocks} to show equivalence (power {self.power:.0%}, alpha {self.alpha:g})")
        return s if self.reachable else s + f": out of reach of {self.max_blocks} blocks"


def plan_blocks(margin: float, sd: float | None = None, *, between_block_sd: float = 0.0,
                within_window_sd: float = 0.0, power: float = DEFAULT_POWER, alpha: float = DEFAULT_ALPHA,
                max_blocks: int | None = None) -> Plan:
    """Blocks for a target margin at `power` from a pilot's per-block log-ratio sd, or from its variance
    components when `sd` is None (`sd_from_components`). `max_blocks`: what the spec allows (reachable)."""
    s = sd if sd is not None else sd_from_components(between_block_sd, within_window_sd)
    return Plan(margin, s, power, alpha, blocks_to_detect(margin, s, power, alpha),
                blocks_for_equivalence(margin, s, power, alpha), max_blocks)
