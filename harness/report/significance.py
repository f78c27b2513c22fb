"""Is a quality difference between two variants real? Paired bootstrap over the same samples.

lm-eval's `--log_samples` files (samples_<task>_<time>.jsonl) hold one line per document and
filter with the per-sample metric values; both variants score the same documents, so the
difference is resampled by document (paired), which is much tighter than comparing two stderrs.
The report adjusts the p-values of all its quality comparisons together (Holm, harness.stats.multiple)
and prints next to each the smallest drop its sample size could detect (`detectable_drop`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

from harness.quality.results import metric_name, safe
from harness.quality.samples import sample_task
from harness.stats.power import mdd_proportion
from harness.tracking.contract import GSM8K_FLEXIBLE, GSM8K_STRICT, IFEVAL_PROMPT_LOOSE, IFEVAL_PROMPT_STRICT, quality_metric

# (task, lm-eval filter, lm-eval metric) -> harness metric name: the quality metrics compared in every report
SAMPLE_METRICS = {
    ("gsm8k", "strict-match", "exact_match"): GSM8K_STRICT,
    ("gsm8k", "flexible-extract", "exact_match"): GSM8K_FLEXIBLE,
    ("ifeval", "none", "prompt_level_strict_acc"): IFEVAL_PROMPT_STRICT,
    ("ifeval", "none", "prompt_level_loose_acc"): IFEVAL_PROMPT_LOOSE,
}
RENDERED_PREFIX = "harness_"
"""A single task runs as a rendered `harness_<task>` config (harness/quality/tasks.py); its metrics are `quality/<task>/…`."""


def _score(value: object) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def read_samples(paths: list[Path]) -> dict[str, dict[int, float]]:
    """Per-document scores of every task and metric lm-eval logged per sample (scalar values: IFEval's
    per-instruction lists are left out): {'quality/gsm8k/exact_match_flexible': {doc_id: 0.0 or 1.0}, ...}."""
    out: dict[str, dict[int, float]] = {}
    for path in paths:
        lm_task = sample_task(path)
        if lm_task is None:
            continue
        task = safe(lm_task.removeprefix(RENDERED_PREFIX))
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                row = json.loads(line)
                filt = str(row.get("filter", "none"))
                for metric in row.get("metrics") or [m for t, f, m in SAMPLE_METRICS if t == task and f == filt]:
                    value = _score(row.get(metric))
                    if value is not None:
                        out.setdefault(quality_metric(task, metric_name(metric, filt)), {})[int(row["doc_id"])] = value
    return out


@dataclass(frozen=True)
class Difference:
    """variant minus baseline on the documents both scored."""

    metric: str
    baseline: str
    variant: str
    n: int
    baseline_mean: float
    variant_mean: float
    delta: float
    stderr: float
    """Standard error of the paired difference (std of per-document differences / sqrt(n))."""
    ci_low: float
    ci_high: float
    p_value: float
    alpha: float
    p_adjusted: float = math.nan
    """The p-value adjusted over all quality comparisons of the report (nan: not adjusted)."""
    correction: str = ""
    """holm | bh | none, with `family` comparisons."""
    family: int = 1
    mdd: float = math.nan
    """The smallest drop this sample size detects (80% power at alpha, paired): `detectable_drop`."""
    eq_low: float = math.nan
    eq_high: float = math.nan
    """The (1 - 2 alpha) bootstrap interval of delta: equivalence within +-m when it lies inside (TOST)."""
    equivalence: float = math.nan
    """The absolute equivalence margin the report used (gates.recommend.quality_equivalence_margin; nan: none)."""

    def outcome(self, equivalence: float, higher: bool = True, margin: float = 0.0) -> str:
        """better / worse / equivalent (the (1 - 2 alpha) interval inside +-`equivalence`, absolute) / inconclusive;
        better/worse need `significant` (after the report's correction when adjusted) and a change of at least
        `margin` relative to the baseline."""
        if self.n < 2:
            return "inconclusive"
        if -equivalence < self.eq_low and self.eq_high < equivalence:
            return "equivalent"
        relevant = not margin or (self.baseline_mean > 0 and abs(self.delta) / self.baseline_mean >= margin)
        if self.significant and relevant:
            return "better" if (self.delta > 0) == higher else "worse"
        return "inconclusive"

    @property
    def significant(self) -> bool:
        """After the report's correction when adjusted (p_adjusted < alpha), else the interval excludes 0."""
        if self.n < 2:
            return False
        if not math.isnan(self.p_adjusted):
            return self.p_adjusted < self.alpha
        return self.ci_low > 0 or self.ci_high < 0

    def mirrored(self) -> "Difference":
        """The same comparison the other way round (baseline and variant swapped), from the same resampling: the
        differences negate, so the intervals flip and the p-value, stderr and MDD stay (one bootstrap per pair of runs)."""
        return replace(self, baseline=self.variant, variant=self.baseline, baseline_mean=self.variant_mean,
                       variant_mean=self.baseline_mean, delta=-self.delta, ci_low=-self.ci_high, ci_high=-self.ci_low,
                       eq_low=-self.eq_high, eq_high=-self.eq_low)

    def mdd_text(self) -> str:
        """`n=40: drops smaller than 0.20 cannot be detected`, or ''."""
        if math.isnan(self.mdd):
            return ""
        if self.mdd >= 1.0:  # even a score falling from 1 to 0 on every document would not be significant
            return f"n={self.n}: too few samples to detect any drop"
        return f"n={self.n}: drops smaller than {self.mdd:.2f} cannot be detected"

    def sentence(self) -> str:
        level = f"{100 * (1 - self.alpha):.0f}%"
        what = "drop" if self.delta < 0 else "gain" if self.delta > 0 else "no change"
        sig = "significant" if self.significant else "not significant"
        if not math.isnan(self.equivalence):
            sig = self.outcome(self.equivalence)
            sig = f"equivalent within +-{self.equivalence:g}" if sig == "equivalent" else sig
        adjusted = (f", {self.correction} p={self.p_adjusted:.3g} over {self.family} comparisons"
                    if not math.isnan(self.p_adjusted) else "")
        text = (
            f"{self.variant} vs {self.baseline} on {self.metric}: {what} of {self.delta:+.3f} "
            f"({level} CI {self.ci_low:+.3f}..{self.ci_high:+.3f}, p={self.p_value:.3g}{adjusted}, n={self.n}): {sig}"
        )
        return text + (f" ({self.mdd_text()})" if self.mdd_text() else "")


def detectable_drop(n: int, discordant: float, alpha: float = 0.05, power: float = 0.8) -> float:
    """The minimum detectable difference of a paired comparison of n documents on which the two variants
    disagree in a share `discordant`: (z_{1-alpha/2} + z_power) sqrt(psi / n) (harness.stats.power,
    paired), and never below (z_{1-alpha/2} + z_power)^2 / n, since a difference d changes at least a share d
    of the documents (n=40: 0.20 at 5% and 80% power)."""
    if n < 1:
        return math.nan
    floor = mdd_proportion(n, alpha=alpha, power=power, paired=True, discordant=1.0) ** 2
    psi = min(1.0, max(0.0, discordant))
    return max(floor, mdd_proportion(n, alpha=alpha, power=power, paired=True, discordant=psi))


def paired_bootstrap(
    baseline: dict[int, float], variant: dict[int, float], metric: str = "", names: tuple[str, str] = ("baseline", "variant"),
    resamples: int = 2000, alpha: float = 0.05, seed: int = 0,
) -> Difference:
    import numpy as np

    docs = sorted(set(baseline) & set(variant))
    n = len(docs)
    if n == 0:
        nan = math.nan
        return Difference(metric, names[0], names[1], 0, nan, nan, nan, nan, nan, nan, nan, alpha)
    a = np.array([baseline[d] for d in docs], dtype=float)
    b = np.array([variant[d] for d in docs], dtype=float)
    diff = b - a
    delta = float(diff.mean())
    stderr = float(diff.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    rng = np.random.default_rng(seed)
    boots = diff[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    lo, hi, eq_lo, eq_hi = (float(x) for x in np.quantile(boots, [alpha / 2, 1 - alpha / 2, alpha, 1 - alpha]))
    k = min(int((boots <= 0).sum()), int((boots >= 0).sum()))
    p = min(1.0, 2 * (k + 1) / (resamples + 1))  # (k + 1) / (B + 1) per side: never exactly 0
    binary = bool(np.isin(a, (0.0, 1.0)).all() and np.isin(b, (0.0, 1.0)).all())
    mdd = detectable_drop(n, float((a != b).mean()), alpha) if binary else math.nan  # the MDD formula is for proportions
    return Difference(metric, names[0], names[1], n, float(a.mean()), float(b.mean()), delta, stderr, lo, hi, p, alpha, mdd=mdd,
                      eq_low=eq_lo, eq_high=eq_hi)


def stderr_difference(a: float, a_se: float | None, b: float, b_se: float | None) -> tuple[float, float | None]:
    """Unpaired fallback from logged stderrs: (delta, stderr of delta) or None when a stderr is missing."""
    if a_se is None or b_se is None:
        return b - a, None
    return b - a, math.sqrt(a_se**2 + b_se**2)
