"""Every variant against the baseline on each headline performance metric: ratio, interval, verdict.

The baseline is gates.baseline (a variant of the same runs, or the resolved run of another sweep); when
none is configured, the first finished variant, and the report says so. The design of each comparison
(paired over blocks, unpaired, or none with one repeat) is harness.tracking.differences'; the outcome
(better / worse / equivalent within +-m / inconclusive with what it would take) is the report's judge's,
after Holm over the report's performance comparisons (harness.report.judge), so the table, the stars, the
frontiers and the recommendation say the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from harness.report.columns import LABEL, headline_perf
from harness.report.judge import Judge, correction_note
from harness.spec.gates import GatesSpec
from harness.tracking.baselines import sweep_baseline
from harness.tracking.contract import higher_is_better
from harness.tracking.differences import RunDifference
from harness.tracking.reader import RunRecord


@dataclass(frozen=True)
class BaselineChoice:
    run: RunRecord | None
    note: str


@dataclass(frozen=True)
class Differences:
    """Each variant against the baseline on each headline performance metric."""

    baseline: BaselineChoice
    level: float
    margin: float
    items: list[RunDifference] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    equivalence: float = 0.05
    correction: str = ""
    """How the outcomes were adjusted for multiplicity, e.g. `Holm over 12 performance comparisons`."""

    def of(self, variant: str, metric: str) -> RunDifference | None:
        return next((d for d in self.items if d.variant == variant and d.metric == metric), None)

    def rows(self) -> list[tuple[str, list[str]]]:
        """(variant, one cell per metric): `x0.930 [0.890, 0.970] worse` or `- (why)`."""
        variants = list(dict.fromkeys(d.variant for d in self.items))
        return [(v, [cell(self.of(v, m)) for m in self.metrics]) for v in variants]

    def header(self) -> list[str]:
        return [LABEL.get(m, m) for m in self.metrics]

    def note(self) -> str:
        margin = f", relevance margin {self.margin:g}" if self.margin else ""
        adjusted = f"; better/worse after {self.correction}" if self.correction else ""
        return (f"ratio variant / baseline with its {self.level:.0%} interval and outcome (equivalent: the "
                f"{1 - 2 * (1 - self.level):.0%} interval inside +-{self.equivalence:.0%}{margin}){adjusted}; "
                f"{self.baseline.note}")

    def details(self) -> list[str]:
        """One line per inconclusive comparison with what it would take (the cells only say `inconclusive`)."""
        return [f"{d.variant} {LABEL.get(d.metric, d.metric)}: {d.difference.outcome_text()}" for d in self.items
                if d.decided and d.difference is not None and d.verdict == "inconclusive"]


def cell(d: RunDifference | None) -> str:
    if d is None:
        return ""
    if d.decided and d.difference is not None:
        x = d.difference
        interval = "no interval" if math.isnan(x.low) else f"[{x.low:.3f}, {x.high:.3f}]"
        word = f"equiv +-{x.equivalence:.0%}" if x.verdict == "equivalent" and not x.absolute else x.verdict
        return f"x{x.ratio:.3f} {interval} {word}"
    if d.difference is not None and not math.isnan(d.difference.ratio):  # e.g. zero spread: no interval, the sign test
        x = d.difference                                                  # not significant after the correction
        how = x.method.partition("; ")[2].replace("no interval; ", "") or x.method
        adjusted = f", {x.correction} p={x.p_adjusted:.3g}" if x.correction else ""
        return f"x{x.ratio:.3f} no interval ({how}{adjusted}) {x.verdict}"
    short = "1 repeat" if "1 repeat" in d.reason else d.reason
    return f"- ({short})" if short else "-"


def choose_baseline(runs: list[RunRecord], gates: GatesSpec, resolved: dict[str, RunRecord | str] | None = None) -> BaselineChoice:
    """gates.baseline (resolved against other sweeps when `resolved` is given), else the first finished variant."""
    spec = gates.baseline
    found = next((b for b in (resolved or {}).values() if isinstance(b, RunRecord)), None)
    if found is not None:
        return BaselineChoice(found, f"baseline {found.name} (run {found.run_id}, gates.baseline)")
    in_sweep = sweep_baseline(spec, runs)
    if spec is None:
        if not isinstance(in_sweep, RunRecord):
            return BaselineChoice(None, "no finished variant: no differences")
        return BaselineChoice(in_sweep, "no baseline configured (gates.baseline.variant): against the first variant, "
                              f"{in_sweep.name}")
    if isinstance(in_sweep, str):
        return BaselineChoice(None, f"{in_sweep}: no differences")
    if in_sweep is not None:
        return BaselineChoice(in_sweep, f"baseline {spec.variant} (gates.baseline.variant)")
    why = next((b for b in (resolved or {}).values() if isinstance(b, str)), "the baseline of another sweep is resolved by the report")
    return BaselineChoice(None, f"no baseline run: {why}")


def perf_differences(runs: list[RunRecord], baseline: BaselineChoice, gates: GatesSpec,
                     resolved: dict[str, RunRecord | str] | None = None, judge: Judge | None = None) -> Differences:
    """Each finished variant (not the baseline) against its baseline on every headline performance metric:
    `resolved[run_id]` when given (a baseline sweep's variant of the same name), else `baseline`. The outcomes are
    `judge`'s (prepared: Holm-adjusted over the report); without one, a judge of these comparisons alone."""
    rec = gates.recommend
    level, margin = 1.0 - rec.alpha, rec.margin
    metrics = [m for m in headline_perf() if any(r.metric(m) is not None for r in runs)]
    pairs = []
    for r in runs:
        own = (resolved or {}).get(r.run_id)
        base = own if isinstance(own, RunRecord) else baseline.run
        if not (r.failed or base is None or r.run_id == base.run_id):
            pairs.append((base, r))
    if judge is None:
        judge = Judge.of(rec)
        judge.prepare([], [(m, higher_is_better(m)) for m in metrics], pairs)
    items = [judge.difference(base, r, m, higher_is_better(m)) for base, r in pairs for m in metrics]
    return Differences(baseline, level, margin, items, metrics, rec.equivalence_margin, correction_note(judge))
