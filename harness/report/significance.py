"""Is a quality difference between two variants real? Paired bootstrap over the same samples.

lm-eval's `--log_samples` files (samples_<task>_<time>.jsonl) hold one line per document and
filter with the per-sample metric values; both variants score the same documents, so the
difference is resampled by document (paired), which is much tighter than comparing two stderrs.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

from harness.tracking.contract import GSM8K_FLEXIBLE, GSM8K_STRICT, IFEVAL_PROMPT_LOOSE, IFEVAL_PROMPT_STRICT

# (task, lm-eval filter, lm-eval metric) -> harness metric name
SAMPLE_METRICS = {
    ("gsm8k", "strict-match", "exact_match"): GSM8K_STRICT,
    ("gsm8k", "flexible-extract", "exact_match"): GSM8K_FLEXIBLE,
    ("ifeval", "none", "prompt_level_strict_acc"): IFEVAL_PROMPT_STRICT,
    ("ifeval", "none", "prompt_level_loose_acc"): IFEVAL_PROMPT_LOOSE,
}
_TASK_RE = re.compile(r"^samples_(?:harness_)?(gsm8k|ifeval)_")


def read_samples(paths: list[Path]) -> dict[str, dict[int, float]]:
    """Per-document scores: {'quality/gsm8k/exact_match_flexible': {doc_id: 0.0 or 1.0}, ...}."""
    out: dict[str, dict[int, float]] = {}
    for path in paths:
        m = _TASK_RE.match(path.name)
        if not m:
            continue
        task = m.group(1)
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                row = json.loads(line)
                for (t, filt, metric), name in SAMPLE_METRICS.items():
                    if t == task and row.get("filter", "none") == filt and metric in row:
                        out.setdefault(name, {})[int(row["doc_id"])] = float(row[metric])
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

    @property
    def significant(self) -> bool:
        return self.n >= 2 and (self.ci_low > 0 or self.ci_high < 0)

    def sentence(self) -> str:
        level = f"{100 * (1 - self.alpha):.0f}%"
        what = "drop" if self.delta < 0 else "gain" if self.delta > 0 else "no change"
        sig = "significant" if self.significant else "not significant"
        return (
            f"{self.variant} vs {self.baseline} on {self.metric}: {what} of {self.delta:+.3f} "
            f"({level} CI {self.ci_low:+.3f}..{self.ci_high:+.3f}, p={self.p_value:.3g}, n={self.n}): {sig}"
        )


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
    lo, hi = (float(x) for x in np.quantile(boots, [alpha / 2, 1 - alpha / 2]))
    p = min(1.0, 2 * min(float((boots <= 0).mean()), float((boots >= 0).mean())))
    return Difference(metric, names[0], names[1], n, float(a.mean()), float(b.mean()), delta, stderr, lo, hi, p, alpha)


def stderr_difference(a: float, a_se: float | None, b: float, b_se: float | None) -> tuple[float, float | None]:
    """Unpaired fallback from logged stderrs: (delta, stderr of delta) or None when a stderr is missing."""
    if a_se is None or b_se is None:
        return b - a, None
    return b - a, math.sqrt(a_se**2 + b_se**2)
