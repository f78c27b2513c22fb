"""Three outcomes for a paired comparison: better/worse, equivalent within +-m, or inconclusive (with what it takes).

Input: the per-block log-ratios x_i = log(variant_i / baseline_i) of an interleaved design (or the two paired
series, `decide`). With mean x, sd s and n blocks, delta = log(1 + m):
  - better / worse: the two-sided (1 - alpha) t-interval excludes 1, the difference is not shown to lie
    within the margin (not equivalent, below), and |ratio - 1| >= `min_effect` (default 0: any significant
    difference that is not negligible). Direction from `higher_is_better`.
  - equivalent (within +-m): TOST, both one-sided t-tests at `alpha` reject, i.e. the (1 - 2 alpha)
    interval lies inside [1/(1+m), 1+m]. Checked first: a significant difference smaller than the margin
    is "equivalent" (it does not matter at this margin), never "better".
  - inconclusive: neither; carries the minimum detectable effect at the data's sd and n (`mde`: detected
    with 80% power) and the blocks needed to detect the margin (`blocks_needed`, total), so a report can say
    "could not detect less than 23%; ~40 more blocks would detect 5%".
Zero spread (all log-ratios equal, s = 0): no t-interval (a zero-width one would claim certainty). The
exact sign test decides instead: all n differences on one side has two-sided p = 2 * 0.5^n; better/worse
if p < alpha, never equivalent (no interval), the interval is nan and the method says so.
Error rates (tests/unit/stats/test_stats_decide.py; 4000 seeded A/A trials under DEFAULT_NOISE): false
better/worse <= alpha; equivalence in >= 80% of A/A trials at plan.blocks_for_equivalence's n; power >= 80%
at plan.blocks_to_detect's n; 95% interval coverage 95% +- 1.5%.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from harness.stats.plan import DEFAULT_POWER, blocks_to_detect, log_margin, mde

OUTCOMES = ("better", "worse", "equivalent", "inconclusive")
DEFAULT_MARGIN = 0.05
"""Equivalence margin for performance comparisons: +-5% (the ratio inside [1/1.05, 1.05])."""


@dataclass(frozen=True)
class Decision:
    """One comparison's outcome with everything needed to print it.

    ratio: exp(mean log-ratio); [low, high]: the two-sided (1 - alpha) interval (nan: none); margin: the
    equivalence margin m; n: blocks; method: how it was decided; p_value: of the two-sided test against
    ratio 1; sd: of the log-ratios. `mde` and `blocks_needed` (computed on first use) say what it would take."""

    outcome: str
    ratio: float
    low: float
    high: float
    margin: float
    n: int
    method: str
    alpha: float = 0.05
    p_value: float = math.nan
    sd: float = math.nan  # of the per-block log-ratios (0: zero spread; nan: one block)
    power: float = DEFAULT_POWER

    @cached_property
    def mde(self) -> float:
        """Smallest relative effect detected with `power` at this sd and n (inf: n < 2; nan: zero spread)."""
        if self.n < 2 or math.isnan(self.sd):
            return math.inf
        return mde(self.n, self.sd, self.power, self.alpha) if self.sd > 0 else math.nan

    @cached_property
    def blocks_needed(self) -> int | None:
        """Total blocks to detect an effect of size `margin` at this sd (None: sd zero or unknown)."""
        if not self.sd > 0:
            return None
        return blocks_to_detect(self.margin, self.sd, self.power, self.alpha)

    @property
    def more_blocks(self) -> int | None:
        """Blocks beyond the n already measured to detect the margin (0 if already enough)."""
        return None if self.blocks_needed is None else max(0, self.blocks_needed - self.n)

    def __str__(self) -> str:
        interval = "no interval" if math.isnan(self.low) else f"[{self.low:.3f}, {self.high:.3f}]"
        head = f"x{self.ratio:.3f} {interval} n={self.n}: "
        if self.outcome == "equivalent":
            return head + f"equivalent within +-{self.margin:.0%}"
        if self.outcome != "inconclusive":
            return head + self.outcome
        if math.isnan(self.mde):
            return head + "inconclusive (zero spread, too few blocks for the sign test)"
        tail = "" if self.more_blocks is None else f"; ~{self.more_blocks} more blocks would detect {self.margin:.0%}"
        return head + f"inconclusive: could not detect less than {self.mde:.0%}" + tail


def _sign_test_p(n: int) -> float:
    return min(1.0, 2.0 * 0.5**n)


def _direction(mean: float, higher_is_better: bool) -> str:
    return "better" if (mean > 0) == higher_is_better else "worse"


def sign_test(mean: float, n: int, *, higher_is_better: bool, alpha: float, relevant: bool) -> tuple[str, float]:
    """Zero spread (every difference equal): (outcome, p) by the exact sign test, all n differences on one side
    (p = 2 * 0.5^n; 1 when they are all 0): better/worse if p < alpha and the effect is `relevant` (at least the
    caller's min_effect), else inconclusive; never equivalent (no interval)."""
    p = 1.0 if mean == 0.0 else _sign_test_p(n)
    return (_direction(mean, higher_is_better) if p < alpha and relevant else "inconclusive"), p


def t_outcome(mean: float, se: float, df: float, *, delta: float, higher_is_better: bool, alpha: float,
              relevant: bool) -> tuple[str, float, float, float]:
    """(outcome, low, high, p) of a mean difference with standard error `se` (> 0) and `df` degrees of freedom, on
    the test's own scale (log-ratios here; harness.stats.compare also passes a Welch mean of logs or a raw
    difference): the two-sided (1 - alpha) t-interval [low, high] and its p; equivalent when TOST at `alpha`
    puts the (1 - 2 alpha) interval inside +-`delta` (checked first); better/worse when the interval excludes 0
    and the effect is `relevant`; else inconclusive (the module docstring)."""
    from scipy.special import stdtr, stdtrit  # Student's t cdf and quantile

    half = float(stdtrit(df, 1.0 - alpha / 2.0)) * se
    low, high = mean - half, mean + half
    p = 2.0 * float(stdtr(df, -abs(mean) / se))
    tost = float(stdtrit(df, 1.0 - alpha)) * se
    if mean - tost > -delta and mean + tost < delta:
        return "equivalent", low, high, p
    if (low > 0 or high < 0) and relevant:
        return _direction(mean, higher_is_better), low, high, p
    return "inconclusive", low, high, p


def decide_log_ratios(log_ratios: Sequence[float], *, higher_is_better: bool, margin: float = DEFAULT_MARGIN,
                      alpha: float = 0.05, min_effect: float = 0.0, power: float = DEFAULT_POWER) -> Decision:
    """The outcome from per-block log-ratios log(variant / baseline) (see the module docstring)."""
    if not 0.0 < alpha < 0.5:
        raise ValueError(f"alpha must be in (0, 0.5), got {alpha}")
    if not 0.0 <= min_effect < 1.0:
        raise ValueError(f"min_effect must be in [0, 1), got {min_effect}")
    delta = log_margin(margin)
    x = np.asarray(log_ratios, dtype=float)
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise ValueError(f"log-ratios must be finite numbers, got {list(log_ratios)}")
    n = len(x)
    if n == 0:
        raise ValueError("no log-ratios")
    mean = float(x.mean())
    ratio = math.exp(mean)

    def result(outcome, low, high, s, method, p):
        return Decision(outcome, ratio, low, high, margin, n, method, alpha, p, s, power)

    if n < 2:
        return result("inconclusive", math.nan, math.nan, math.nan, "one block: no interval", math.nan)
    s = float(np.std(x, ddof=1))
    relevant = abs(math.expm1(mean)) >= min_effect
    if s <= 1e-12 * max(1.0, abs(mean)):  # zero spread (up to rounding): no zero-width interval; the exact sign test
        outcome, p = sign_test(mean, n, higher_is_better=higher_is_better, alpha=alpha, relevant=relevant)
        return result(outcome, math.nan, math.nan, 0.0, f"zero spread: no interval; exact sign test (p = {p:.3g})", p)
    outcome, low, high, p = t_outcome(mean, s / math.sqrt(n), n - 1.0, delta=delta, higher_is_better=higher_is_better,
                                      alpha=alpha, relevant=relevant)
    return result(outcome, math.exp(low), math.exp(high), s, f"paired t on log-ratios; TOST +-{margin:.0%} at {alpha:g}", p)


def decide(baseline: Sequence[float], variant: Sequence[float], *, higher_is_better: bool,
           margin: float = DEFAULT_MARGIN, alpha: float = 0.05, min_effect: float = 0.0,
           power: float = DEFAULT_POWER) -> Decision:
    """`decide_log_ratios` of two series paired by block (baseline[i] and variant[i] measured in block i).
    Values must be positive: a censored capacity ("< lo") has no ratio; the caller reports it as such."""
    a, b = np.asarray(baseline, dtype=float), np.asarray(variant, dtype=float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"paired design needs one baseline value per block ({a.shape} vs {b.shape})")
    if np.any(~np.isfinite(a)) or np.any(~np.isfinite(b)) or np.any(a <= 0) or np.any(b <= 0):
        raise ValueError("decide needs positive finite values (a censored capacity has no ratio)")
    return decide_log_ratios(np.log(b) - np.log(a), higher_is_better=higher_is_better, margin=margin,
                             alpha=alpha, min_effect=min_effect, power=power)
