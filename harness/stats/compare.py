"""A variant against the baseline on one metric: the ratio with its interval and one of three outcomes.

The ratio is variant / baseline (1.2 = 20% more). The outcome (`Difference.verdict`) is one of
harness.stats.decide.OUTCOMES, direction-aware (for a latency, higher_is_better=False, a ratio above 1 is
"worse"):
  - equivalent (within +-`equivalence`, default 5%): two one-sided tests at alpha = 1 - level, i.e. the
    (1 - 2 alpha) interval lies inside [1/(1+m), 1+m]. Checked first: a precise +1% is "equivalent", not "better".
  - better / worse: the interval at `level` excludes 1 (p < alpha), the result is not equivalent, and the point
    ratio differs from 1 by at least `margin` (the relevance margin, relative; default 0).
  - inconclusive: neither; `mde` (the smallest relative effect detected with 80% power at the data's noise and
    n) and `needed` (the total n that would detect +-`equivalence`) say what it would take.
The report adjusts p over its family (Holm, harness.stats.multiple): `Difference.adjusted` turns a better/worse
whose adjusted p is not below alpha into inconclusive (a better/worse was never equivalent, see above).

Designs:
  - `paired_difference`: block i of both variants was measured back to back (interleaved, order shuffled
    per block: `harness.stats.design.block_schedule`); harness.stats.decide on the per-block log-ratios (a
    t-interval with n-1 degrees of freedom, TOST). Drift shared within a block cancels. Valid at n >= 2;
    at n = 3..10 its false-positive rate stays at or below alpha under drift, outliers and log-normal noise
    (the test suite measures it), where exact sign/Wilcoxon intervals cannot reach 95% below n = 6.
  - `unpaired_difference`: independent repeats (e.g. variants on different days or machines); Welch's
    t-interval on the difference of mean logs, the same rule. Honest only if the repeats really are
    independent: repeats run one variant after the other (AAAAA BBBBB) put the drift between them into the difference.
  - `request_difference`: one run each (repeats = 1); a bootstrap over requests of the ratio of a
    per-request statistic. WITHIN-RUN only: it ignores run-to-run noise, so it calls identical
    configurations different far more often than alpha (~50% for p50 of 240 requests at our noise). Shown for
    information; a verdict from it is not a decision.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from harness.stats.decide import DEFAULT_MARGIN, OUTCOMES, decide_log_ratios, sign_test, t_outcome
from harness.stats.design import DEFAULT_LEVEL
from harness.stats.estimate import Statistic, vectorised
from harness.stats.plan import DEFAULT_POWER, blocks_to_detect, log_margin, mde

VERDICTS = OUTCOMES
DEFAULT_EQUIVALENCE = DEFAULT_MARGIN
"""Equivalence margin of performance comparisons, relative: +-5% (harness.stats.decide.DEFAULT_MARGIN)."""


@dataclass(frozen=True)
class Difference:
    """variant / baseline on `metric`: ratio, its interval [low, high] at `level`, and the outcome (`verdict`).

    `equivalence`: the margin m of "equivalent within +-m" (relative; absolute when `absolute`, for scores);
    `mde`: the smallest effect detected with 80% power at this noise and n (relative, or absolute when
    `absolute`; inf: none at this n; nan: unknown); `needed`: the total n (`unit`: blocks, repeats, documents,
    prompts) that would detect m (None: unknown). `p_adjusted`: after the report's correction over `family`."""

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
    equivalence: float = DEFAULT_EQUIVALENCE
    mde: float = math.nan
    needed: int | None = None
    unit: str = "blocks"
    absolute: bool = False
    p_adjusted: float = math.nan
    correction: str = ""
    family: int = 1

    @property
    def change(self) -> float:
        """Relative change, ratio - 1 (+0.2 = 20% more)."""
        return self.ratio - 1.0

    @property
    def significant(self) -> bool:
        """The difference test rejects no change (after the report's correction when adjusted)."""
        if not math.isnan(self.p_adjusted):
            return self.p_adjusted < 1.0 - self.level
        if math.isnan(self.low) or math.isnan(self.high):
            return self.verdict in ("better", "worse")
        return not (self.low <= 1.0 <= self.high)

    def _amount(self, x: float) -> str:
        return f"{x:.3g}" if self.absolute else f"{x:.0%}"

    def outcome_text(self) -> str:
        """`better`, `equivalent within +-5%`, or `inconclusive: could not detect less than 23%; ~40 more blocks
        would detect 5%` (what it would take)."""
        m = self._amount(self.equivalence)
        if self.verdict == "equivalent":
            return f"equivalent within +-{m}"
        if self.verdict != "inconclusive":
            return self.verdict
        head = "inconclusive"
        if self.correction and self.p_value < 1.0 - self.level <= self.p_adjusted:
            head += f" after {self.correction.capitalize()} over {self.family} (p {self.p_adjusted:.2g})"
        if math.isnan(self.mde):
            return f"{head} (no interval)"
        if math.isinf(self.mde):
            return f"{head}: too few {self.unit} to detect any difference"
        if self.needed is None:
            more = ""
        elif self.needed > self.n:
            more = f"; ~{self.needed - self.n} more {self.unit} would detect {m}"
        else:
            more = f"; these {self.unit} detect {m}: the difference lies near the margin, more {self.unit} narrow it"
        return f"{head}: could not detect less than {self._amount(self.mde)}{more}"

    def adjusted(self, p_adjusted: float, family: int, correction: str = "holm") -> "Difference":
        """This difference after the report's correction: a better/worse whose adjusted p is not below alpha is
        inconclusive (it was not equivalent: TOST is checked first)."""
        demote = self.verdict in ("better", "worse") and not p_adjusted < 1.0 - self.level
        return replace(self, p_adjusted=p_adjusted, family=family, correction=correction,
                       verdict="inconclusive" if demote else self.verdict)

    def __str__(self) -> str:
        interval = "no interval" if math.isnan(self.low) else f"[{self.low:.3f}, {self.high:.3f}]"
        return (f"{self.metric}: x{self.ratio:.3f} {interval} {self.outcome_text()} "
                f"({self.level:.0%}, n={self.n}, {self.method})")


def verdict(ratio: float, low: float, high: float, higher_is_better: bool, margin: float = 0.0, *,
            equivalent: bool = False) -> str:
    """better / worse / equivalent / inconclusive from a ratio, its interval and the TOST result (module docstring)."""
    if equivalent:
        return "equivalent"
    if any(math.isnan(v) for v in (ratio, low, high)) or low <= 1.0 <= high or abs(ratio - 1.0) < margin:
        return "inconclusive"
    up = low > 1.0
    return "better" if up == higher_is_better else "worse"


def _check(level: float, margin: float, equivalence: float = DEFAULT_EQUIVALENCE) -> None:
    if not 0.5 < level < 1.0:
        raise ValueError(f"level must be in (0.5, 1), got {level}")
    if not 0.0 <= margin < 1.0:
        raise ValueError(f"margin must be in [0, 1), got {margin}")
    if not 0.0 < equivalence < 1.0:
        raise ValueError(f"equivalence margin must be in (0, 1), got {equivalence}")


def _logs(values: Sequence[float], what: str) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    if x.ndim != 1 or np.any(~np.isfinite(x)) or np.any(x <= 0):
        raise ValueError(f"{what}: need positive finite numbers, got {list(values)}")
    return np.log(x)


def _reach(n: int, sd: float, level: float, equivalence: float) -> tuple[float, int | None]:
    """(mde, total n to detect `equivalence`) at a log-scale per-unit sd (harness.stats.plan)."""
    if n < 2 or not math.isfinite(sd):
        return math.inf, None
    if sd <= 0:
        return math.nan, None
    alpha = 1.0 - level
    try:
        return mde(n, sd, DEFAULT_POWER, alpha), blocks_to_detect(equivalence, sd, DEFAULT_POWER, alpha)
    except ValueError:
        return math.inf, None


def _t_result(metric, mean, se, df, level, n, method, higher_is_better, margin, equivalence,
              to_ratio=math.exp, unit="repeats", scale=1.0) -> Difference:
    """The t interval of `mean` (a log-ratio, or a difference / `scale`: `to_ratio` maps it to the ratio shown),
    with TOST within +-`equivalence` (on the log scale for logs; relative to the baseline's mean otherwise):
    harness.stats.decide's rule (`t_outcome`, and `sign_test` at zero spread) on this design's mean, se and df.

    Zero spread (se = 0, e.g. identical values in every block): no interval (a zero-width one would claim
    certainty) and, instead of p = 0, the exact sign test: all n differences on one side, p = 2 * 0.5^n
    (p = 1 when they are all 0); never equivalent (no interval)."""
    alpha = 1.0 - level
    ratio = to_ratio(mean)
    relevant = not abs(ratio - 1.0) < margin
    if se <= 1e-12 * max(1.0, abs(mean)) or not math.isfinite(se):
        v, p = sign_test(mean, n, higher_is_better=higher_is_better, alpha=alpha, relevant=relevant)
        return Difference(metric, ratio, math.nan, math.nan, v, level, n,
                          f"{method}; zero spread: no interval, exact sign test", higher_is_better, margin, p,
                          equivalence, math.nan, None, unit)
    delta = log_margin(equivalence) if to_ratio is math.exp else equivalence * scale
    v, low, high, p = t_outcome(mean, se, df, delta=delta, higher_is_better=higher_is_better, alpha=alpha,
                                relevant=relevant)
    lo, hi = to_ratio(low), to_ratio(high)
    unit_sd = se * math.sqrt(n) / (1.0 if to_ratio is math.exp else scale)
    reach, needed = _reach(n, unit_sd, level, equivalence)
    if lo <= 0.0:  # a ratio cannot be <= 0: refuse the interval rather than print a negative bound
        return Difference(metric, ratio, math.nan, math.nan, "inconclusive", level, n,
                          f"{method}; lower bound <= 0: no ratio interval", higher_is_better, margin, p,
                          equivalence, reach, needed, unit)
    return Difference(metric, ratio, lo, hi, v, level, n, method, higher_is_better, margin, p, equivalence, reach,
                      needed, unit)


def _with_zeros(*groups: Sequence[float]) -> bool:
    """Finite, non-negative, and some zero (a capacity below the search's lowest point is 0): logs cannot be taken."""
    x = np.concatenate([np.asarray(g, dtype=float) for g in groups])
    return bool(len(x)) and bool(np.all(np.isfinite(x))) and bool(np.all(x >= 0)) and bool(np.any(x == 0)) and bool(np.any(x > 0))


def _paired_raw(metric, a: np.ndarray, b: np.ndarray, level, higher_is_better, margin, equivalence) -> Difference:
    """Paired t on the differences, shown as a ratio to the baseline's mean: 1 + mean(d) / mean(baseline)."""
    n = len(a)
    d = b - a
    scale = float(a.mean())
    if n < 2 or scale <= 0:
        ratio = 1.0 + float(d.mean()) / scale if scale > 0 else math.nan
        return Difference(metric, ratio, math.nan, math.nan, "inconclusive", level, n,
                          "paired on differences (no interval)", higher_is_better, margin, equivalence=equivalence,
                          mde=math.inf)
    se = float(np.std(d, ddof=1)) / math.sqrt(n)
    return _t_result(metric, float(d.mean()), se, n - 1, level, n, "paired t on differences (a zero among the values: no logs)",
                     higher_is_better, margin, equivalence, to_ratio=lambda x: 1.0 + x / scale, unit="blocks", scale=scale)


def paired_difference(metric: str, baseline: Sequence[float], variant: Sequence[float], *,
                      higher_is_better: bool, level: float = DEFAULT_LEVEL, margin: float = 0.0,
                      equivalence: float = DEFAULT_EQUIVALENCE) -> Difference:
    """Paired by block: baseline[i] and variant[i] were measured in block i (interleaved): harness.stats.decide
    on the per-block log-ratios, with `margin` as its min_effect and `equivalence` as its margin.

    Values with a zero among them (a capacity below the search's lowest point, stored as 0 by older runs; it is
    censored, "< lo", see harness.stats.capacity.Capacity.censored) cannot be compared on logs; they get a
    paired t on the differences, expressed as a ratio to the baseline's mean, and no interval at all when its
    lower bound would be <= 0 (a ratio is positive)."""
    _check(level, margin, equivalence)
    if _with_zeros(baseline, variant) and len(baseline) == len(variant):
        return _paired_raw(metric, np.asarray(baseline, dtype=float), np.asarray(variant, dtype=float), level,
                           higher_is_better, margin, equivalence)
    a, b = _logs(baseline, f"{metric} baseline"), _logs(variant, f"{metric} variant")
    if len(a) != len(b):
        raise ValueError(f"{metric}: paired design needs one baseline value per block ({len(a)} vs {len(b)})")
    if len(a) == 0:
        raise ValueError(f"{metric}: no blocks")
    x = decide_log_ratios(b - a, higher_is_better=higher_is_better, margin=equivalence, alpha=1.0 - level,
                          min_effect=margin)
    method = "paired t on log-ratios" if x.method.startswith("paired t") else \
        "paired (one block: no interval)" if x.n < 2 else f"paired t on log-ratios; {x.method}"
    return Difference(metric, x.ratio, x.low, x.high, x.outcome, level, x.n, method, higher_is_better, margin,
                      x.p_value, equivalence, x.mde, x.blocks_needed, "blocks")


def unpaired_difference(metric: str, baseline: Sequence[float], variant: Sequence[float], *,
                        higher_is_better: bool, level: float = DEFAULT_LEVEL, margin: float = 0.0,
                        equivalence: float = DEFAULT_EQUIVALENCE) -> Difference:
    """Independent repeats of each: Welch's t-interval on mean log difference (ratio of geometric means), TOST
    within +-`equivalence` on the same scale; `needed` counts repeats of each variant."""
    _check(level, margin, equivalence)
    a, b = _logs(baseline, f"{metric} baseline"), _logs(variant, f"{metric} variant")
    n = min(len(a), len(b))
    mean = float(b.mean() - a.mean()) if len(a) and len(b) else math.nan
    if n < 2:
        return Difference(metric, math.exp(mean), math.nan, math.nan, "inconclusive", level, n,
                          "unpaired (fewer than 2 repeats: no interval)", higher_is_better, margin,
                          equivalence=equivalence, mde=math.inf, unit="repeats")
    va, vb = float(np.var(a, ddof=1)) / len(a), float(np.var(b, ddof=1)) / len(b)
    se = math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1)) if se > 0 else float(n - 1)
    return _t_result(metric, mean, se, df, level, n, "unpaired Welch t on logs", higher_is_better, margin, equivalence)


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
                      min(len(a), len(b)), f"request bootstrap ({name}, within-run)", higher_is_better, margin, p,
                      unit="requests")
