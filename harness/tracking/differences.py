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
Every comparison ends in one of harness.stats.decide.OUTCOMES: better / worse / equivalent within +-m /
inconclusive with what it would take (harness.stats.compare). m is `equivalence` (relative, for repeats and
fidelity) or `score_equivalence` (an absolute score difference, for quality scores: gates.recommend).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

from harness.stats.compare import DEFAULT_EQUIVALENCE, Difference, paired_difference, unpaired_difference, verdict
from harness.stats.plan import DEFAULT_POWER
from harness.stats.power import mdd_normal, n_to_detect
from harness.tracking.contract import Param
from harness.tracking.run_record import RunRecord

NO_VERDICT = "no verdict"
DEFAULT_SCORE_EQUIVALENCE = 0.02
"""Equivalence margin of quality scores, absolute (gates.recommend.quality_equivalence_margin's default)."""


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
        """Is there a verdict from an interval, or from the exact sign test (zero spread), not just point values?"""
        d = self.difference
        return d is not None and (not (math.isnan(d.low) or math.isnan(d.high)) or d.verdict in ("better", "worse"))

    @property
    def verdict(self) -> str:
        """better | worse | equivalent | inconclusive (of the variant), or 'no verdict'."""
        return self.difference.verdict if self.decided and self.difference is not None else NO_VERDICT

    def text(self) -> str:
        """`x0.930 [0.890, 0.970] worse (95%, paired t on log-ratios, n=10)`, `... equivalent within +-5% (...)`,
        `... inconclusive: could not detect less than 23%; ~40 more blocks would detect 5% (...)`, or
        `no verdict: not enough data: 1 repeat`."""
        d = self.difference
        if not self.decided or d is None:
            return f"{NO_VERDICT}: {self.reason}"
        note = f"; {self.reason}" if self.reason else ""
        adjusted = f", {d.correction} p={d.p_adjusted:.3g} over {d.family}" if d.correction else ""
        interval = "no interval" if math.isnan(d.low) else f"[{d.low:.3f}, {d.high:.3f}]"
        return (f"x{d.ratio:.3f} {interval} {d.outcome_text()} "
                f"({d.level:.0%}, {d.method}, n={d.n}{adjusted}{note})")


def _values(run: RunRecord, metric: str) -> dict[int, float]:
    return run.repeat_values(metric)


def run_difference(baseline: RunRecord, variant: RunRecord, metric: str, *, higher_is_better: bool,
                   level: float = 0.95, margin: float = 0.0, equivalence: float = DEFAULT_EQUIVALENCE) -> RunDifference:
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
                                  higher_is_better=higher_is_better, level=level, margin=margin, equivalence=equivalence)
            return RunDifference(*names, d, "" if len(common) == min(len(a), len(b)) else f"{len(common)} blocks in common")
        why = "other sweeps" if not same_sweep else "not interleaved" if len(common) >= 2 else "no blocks in common"
        d = unpaired_difference(metric, list(a.values()), list(b.values()), higher_is_better=higher_is_better,
                                level=level, margin=margin, equivalence=equivalence)
        return RunDifference(*names, d, f"unpaired ({why}): assumes independent repeats")
    except ValueError as exc:  # zeros or negative values: a ratio is undefined
        return RunDifference(*names, None, f"no ratio: {exc}")


def stderr_difference(baseline: RunRecord, variant: RunRecord, metric: str, *, higher_is_better: bool = True,
                      level: float = 0.95, margin: float = 0.0,
                      score_equivalence: float = DEFAULT_SCORE_EQUIVALENCE) -> RunDifference:
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
                   higher_is_better, level, margin, score_equivalence, "documents", absolute=True)


def _normal(names: tuple[str, str, str], base: float, value: float, se: float, n: int, method: str,
            higher_is_better: bool, level: float, margin: float, equivalence: float, unit: str, *,
            absolute: bool) -> RunDifference:
    """A normal interval on value - base with standard error `se`, as a ratio to the baseline (1 + [low, high] / base).

    Equivalent: the (1 - 2 alpha) interval of the difference lies inside +-m (m = `equivalence`, absolute when
    `absolute`, else relative to the baseline); better/worse: the (1 - alpha) interval excludes 0 and it is not
    equivalent; else inconclusive with the minimum detectable difference (z_{1-alpha/2} + z_{0.8}) se (absolute,
    or relative) and the n (`unit`) that would detect m, n (mde / m)^2 (se shrinks as 1/sqrt(n);
    harness.stats.power's mdd_normal and n_to_detect)."""
    alpha = 1.0 - level
    z = NormalDist().inv_cdf
    delta, half, tost = value - base, z(1.0 - alpha / 2.0) * se, z(1.0 - alpha) * se
    m = equivalence if absolute else equivalence * base
    ratio, low, high = value / base, 1.0 + (delta - half) / base, 1.0 + (delta + half) / base
    p = min(1.0, math.erfc(abs(delta) / se / math.sqrt(2.0))) if se > 0 else float(delta == 0.0)
    equivalent = se > 0 and abs(delta) + tost < m
    reach = mdd_normal(se, alpha, DEFAULT_POWER)
    needed = n_to_detect(n, reach, m) if n > 0 and m > 0 else None
    d = Difference(names[0], ratio, low, high, verdict(ratio, low, high, higher_is_better, margin, equivalent=equivalent),
                   level, n, method, higher_is_better, margin, p, equivalence, reach if absolute else reach / base,
                   needed, unit, absolute)
    return RunDifference(*names, d)


def interval_difference(baseline: RunRecord, variant: RunRecord, metric: str, *, higher_is_better: bool = True,
                        level: float = 0.95, margin: float = 0.0, equivalence: float = DEFAULT_EQUIVALENCE) -> RunDifference:
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
                   higher_is_better, level, margin, equivalence, "prompts", absolute=False)


def difference(baseline: RunRecord, variant: RunRecord, metric: str, *, higher_is_better: bool,
               level: float = 0.95, margin: float = 0.0, equivalence: float = DEFAULT_EQUIVALENCE,
               score_equivalence: float = DEFAULT_SCORE_EQUIVALENCE) -> RunDifference:
    """Repeats where both have them; for a quality score without repeats, the stderr interval; for a fidelity
    metric, its logged bootstrap interval. `equivalence`: relative margin (repeats, fidelity);
    `score_equivalence`: absolute margin of a quality score's stderr comparison."""
    result = run_difference(baseline, variant, metric, higher_is_better=higher_is_better, level=level, margin=margin,
                            equivalence=equivalence)
    if result.decided:
        return result
    if metric.startswith("quality"):
        other = stderr_difference(baseline, variant, metric, higher_is_better=higher_is_better, level=level, margin=margin,
                                  score_equivalence=score_equivalence)
    elif metric.startswith("fidelity/"):
        other = interval_difference(baseline, variant, metric, higher_is_better=higher_is_better, level=level, margin=margin,
                                    equivalence=equivalence)
    else:
        return result
    return other if other.decided else result
