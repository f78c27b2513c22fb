"""One logged run against another on one metric: the ratio with its interval and a verdict (harness.stats.compare).

The design follows from what both runs logged (docs/statistics.md):
  - paired: both have repeats (RunRecord.repeats) of the same sweep, measured in interleaved blocks:
    `paired_difference` over the blocks both have (at least 2);
  - unpaired: both have at least 2 repeats otherwise (another sweep, or order: sequential):
    `unpaired_difference`, which assumes the repeats are independent;
  - none: a side with one repeat gives no verdict ("not enough data: 1 repeat"). A per-request
    `request_difference` would need the request records, which are not in MLflow (and it is within-run only).
Quality scores are compared by `stderr_difference` (normal interval from lm-eval's logged stderrs, unpaired,
so conservative) where per-document samples are not at hand (gates); the report uses its paired bootstrap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from harness.stats.compare import Difference, paired_difference, unpaired_difference, verdict
from harness.tracking.contract import Param
from harness.tracking.run_record import RunRecord

NO_VERDICT = "no verdict"


@dataclass(frozen=True)
class RunDifference:
    """`variant` against `baseline` on `metric`: the stats Difference, or why there is none."""

    metric: str
    baseline: str
    variant: str
    difference: Difference | None
    reason: str = ""
    """Why there is no verdict (or a caveat on the one given)."""

    @property
    def decided(self) -> bool:
        """Is there a verdict from an interval (not just point values)?"""
        d = self.difference
        return d is not None and not (math.isnan(d.low) or math.isnan(d.high))

    @property
    def verdict(self) -> str:
        """better | worse | indistinguishable (of the variant), or 'no verdict'."""
        return self.difference.verdict if self.decided and self.difference is not None else NO_VERDICT

    def text(self) -> str:
        """`x0.930 [0.890, 0.970] worse (95%, paired t on log-ratios, n=10)` or `no verdict: not enough data: 1 repeat`."""
        d = self.difference
        if not self.decided or d is None:
            return f"{NO_VERDICT}: {self.reason}"
        note = f"; {self.reason}" if self.reason else ""
        return f"x{d.ratio:.3f} [{d.low:.3f}, {d.high:.3f}] {d.verdict} ({d.level:.0%}, {d.method}, n={d.n}{note})"


def _values(run: RunRecord, metric: str) -> dict[int, float]:
    return run.repeat_values(metric)


def run_difference(baseline: RunRecord, variant: RunRecord, metric: str, *, higher_is_better: bool,
                   level: float = 0.95, margin: float = 0.0) -> RunDifference:
    """The verdict of `variant` against `baseline` on a performance metric, from their repeats."""
    names = (metric, baseline.name, variant.name)
    a, b = _values(baseline, metric), _values(variant, metric)
    if len(a) < 2 or len(b) < 2:
        lacking = [r for r, v in ((baseline, a), (variant, b)) if len(v) < 2]
        if any(r.metric(metric) is None for r in lacking):
            who = [r.name for r in lacking if r.metric(metric) is None]
            return RunDifference(*names, None, f"{metric} not logged by {', '.join(who)}")
        if len(lacking) == 2:
            return RunDifference(*names, None, "not enough data: 1 repeat")
        return RunDifference(*names, None, f"not enough data: {lacking[0].name} has 1 repeat")
    common = sorted(set(a) & set(b))
    same_sweep = baseline.parent_id is not None and baseline.parent_id == variant.parent_id
    try:
        if same_sweep and baseline.interleaved and variant.interleaved and len(common) >= 2:
            d = paired_difference(metric, [a[i] for i in common], [b[i] for i in common],
                                  higher_is_better=higher_is_better, level=level, margin=margin)
            return RunDifference(*names, d, "" if len(common) == min(len(a), len(b)) else f"{len(common)} blocks in common")
        why = "other sweeps" if not same_sweep else "not interleaved" if len(common) >= 2 else "no blocks in common"
        d = unpaired_difference(metric, list(a.values()), list(b.values()), higher_is_better=higher_is_better,
                                level=level, margin=margin)
        return RunDifference(*names, d, f"unpaired ({why}): assumes independent repeats")
    except ValueError as exc:  # zeros or negative values: a ratio is undefined
        return RunDifference(*names, None, f"no ratio: {exc}")


def stderr_difference(baseline: RunRecord, variant: RunRecord, metric: str, *, higher_is_better: bool = True,
                      level: float = 0.95, margin: float = 0.0) -> RunDifference:
    """A score (quality/*) against the baseline's by a normal interval on the difference of the means, from the
    logged `<metric>_stderr`s; as a ratio to the baseline (its interval 1 + [delta low, high] / baseline)."""
    names = (metric, baseline.name, variant.name)
    base, value = baseline.metric(metric), variant.metric(metric)
    se_a, se_b = baseline.metric(metric + "_stderr"), variant.metric(metric + "_stderr")
    if base is None or value is None:
        return RunDifference(*names, None, f"{metric} not logged")
    if se_a is None or se_b is None or base <= 0:
        return RunDifference(*names, None, f"no stderr logged for {metric}" if base > 0 else "baseline score is 0")
    samples = variant.metric("/".join(metric.split("/")[:2]) + "/samples")
    return _normal(names, base, value, math.hypot(se_a, se_b), int(samples or 0), "normal on lm-eval stderrs (unpaired)",
                   higher_is_better, level, margin)


def _normal(names: tuple[str, str, str], base: float, value: float, se: float, n: int, method: str,
            higher_is_better: bool, level: float, margin: float) -> RunDifference:
    """A normal interval on value - base with standard error `se`, as a ratio to the baseline (1 + [low, high] / base)."""
    delta, half = value - base, NormalDist().inv_cdf(0.5 + level / 2.0) * se
    ratio, low, high = value / base, 1.0 + (delta - half) / base, 1.0 + (delta + half) / base
    p = math.erfc(abs(delta) / se / math.sqrt(2.0)) if se > 0 else float(delta == 0.0)
    d = Difference(names[0], ratio, low, high, verdict(ratio, low, high, higher_is_better, margin), level, n, method,
                   higher_is_better, margin, p)
    return RunDifference(*names, d)


def interval_difference(baseline: RunRecord, variant: RunRecord, metric: str, *, higher_is_better: bool = True,
                        level: float = 0.95, margin: float = 0.0) -> RunDifference:
    """A fidelity metric against the baseline's from the logged bootstrap intervals over prompts (`_ci_low/_ci_high`
    at the logged `fidelity.confidence`): each half-width / z as a standard error, a normal interval on the
    difference (unpaired: conservative, the two runs answered the same prompts); as a ratio to the baseline."""
    names = (metric, baseline.name, variant.name)
    base, value = baseline.metric(metric), variant.metric(metric)
    ia, ib = baseline.interval(metric), variant.interval(metric)
    if base is None or value is None:
        return RunDifference(*names, None, f"{metric} not logged")
    if ia is None or ib is None or base <= 0:
        return RunDifference(*names, None, f"no interval logged for {metric}" if base > 0 else "baseline value is 0")
    try:
        logged = float(variant.params.get(Param.FIDELITY_CONFIDENCE, 0.95))
    except ValueError:
        logged = 0.95
    z = NormalDist().inv_cdf(0.5 + logged / 2.0)
    se = math.hypot((ia[1] - ia[0]) / (2 * z), (ib[1] - ib[0]) / (2 * z))
    prompts = variant.metric("fidelity/prompts")
    return _normal(names, base, value, se, int(prompts or 0), "normal on the logged bootstrap intervals over prompts (unpaired)",
                   higher_is_better, level, margin)


def difference(baseline: RunRecord, variant: RunRecord, metric: str, *, higher_is_better: bool,
               level: float = 0.95, margin: float = 0.0) -> RunDifference:
    """Repeats where both have them; for a quality score without repeats, the stderr interval; for a fidelity
    metric, its logged bootstrap interval."""
    result = run_difference(baseline, variant, metric, higher_is_better=higher_is_better, level=level, margin=margin)
    fallback = stderr_difference if metric.startswith("quality") else interval_difference if metric.startswith("fidelity/") else None
    if not result.decided and fallback is not None:
        other = fallback(baseline, variant, metric, higher_is_better=higher_is_better, level=level, margin=margin)
        if other.decided:
            return other
    return result
