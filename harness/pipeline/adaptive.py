"""Adaptive repeats: interleaved blocks until every target comparison is decided at a planned look.

    blocks = BlockValues()                      # every repeated sweep: per-block metrics of every variant
    adaptive = Adaptive.of(spec)                # with `repeats.target`: the group-sequential design
    ... after each complete block: adaptive.block_done(blocks, presenter) -> True: stop the sweep

With `repeats.target` the schedule holds `max_blocks` interleaved blocks (harness/pipeline/plan.py). A block
counts once every variant measured every target metric in it (a failed measurement leaves its block out).
When the count of such blocks reaches a planned look of `GroupSequentialDesign(max_blocks, looks, alpha =
1 - level, margin)` (harness/stats/sequential.py), every comparison still open (each non-baseline variant
against the baseline, gates.baseline.variant else the first, per target metric) gets `look_decision` on its
per-block log-ratios; a comparison that stops (better, worse, equivalent; inconclusive at the last look) keeps
that decision. The sweep stops when every comparison has stopped. Only the planned looks test anything: a test
after every block would inflate the 5% false-call rate (docs/statistics.md).

The variance components `harness plan` needs are computed from the same per-block values on every repeated
sweep and logged on the sweep's run (`SweepMetric`): the between-block sd of the log-ratios per metric,
the load stage's within-window split-half sd where it logs one, the mean wall time of a block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.errors import SpecError
from harness.tracking.baselines import baseline_name
from harness.tracking.contract import (
    E2E_P95_MS, OUTPUT_TOKENS_PER_S, REQUESTS_PER_S, TPOT_P50_MS, TTFT_P50_MS, SweepMetric, SweepParam, Tag,
    higher_is_better,
)

if TYPE_CHECKING:
    from harness.outcome import VariantOutcome
    from harness.pipeline.presenter import Presenter
    from harness.spec.model import ExperimentSpec, ResolvedVariant
    from harness.stats.sequential import GroupSequentialDesign, LookDecision

PLAN_METRICS = (OUTPUT_TOKENS_PER_S, REQUESTS_PER_S, TTFT_P50_MS, TPOT_P50_MS, E2E_P95_MS)
"""The headline performance metrics whose variance every repeated sweep logs (besides its targets)."""
DECIDED = ("stop-better", "stop-worse", "stop-equivalent")


def baseline_of(spec: "ExperimentSpec") -> str:
    """The variant every other is compared with: gates.baseline.variant when it is one of the sweep's, else the first."""
    return baseline_name(spec.gates.baseline, [v.name for v in spec.variants]) or ""


def check_targets(spec: "ExperimentSpec", variants: list["ResolvedVariant"]) -> None:
    """SpecError when a target's comparison cannot be made inside this sweep (its metric names are checked with the
    gates, harness.tracking.contract.check_gates)."""
    wanted = spec.gates.baseline.variant if spec.gates.baseline is not None else None
    if spec.repeats.target and wanted is not None and wanted not in [v.name for v in variants]:
        raise SpecError([f"repeats.target: the baseline gates.baseline.variant '{wanted}' is not a variant of this sweep "
                         f"({', '.join(v.name for v in variants)}); adaptive repeats compare within one sweep"])


def metric_names(spec: "ExperimentSpec") -> list[str]:
    """The targets' metrics first, then the headline ones: those whose variance components are logged."""
    targets = [t.metric for t in spec.repeats.target or []]
    return targets + [m for m in PLAN_METRICS if m not in targets]


# ---------------------------------------------------------------- per-block values


@dataclass
class BlockValues:
    """What every (variant, block) measurement gave: its metrics (failed measurements: none) and wall time."""

    values: dict[int, dict[str, dict[str, float]]] = field(default_factory=dict)
    seconds: dict[int, dict[str, float]] = field(default_factory=dict)

    def add(self, block: int, variant: str, outcome: "VariantOutcome") -> None:
        self.seconds.setdefault(block, {})[variant] = outcome.duration_s
        if not outcome.failed:
            self.values.setdefault(block, {})[variant] = {k: float(v) for k, v in outcome.metrics().items()}

    def add_metrics(self, block: int, variant: str, metrics: dict[str, float]) -> None:
        """A logged repeat's metrics (`harness plan --from-experiment`)."""
        self.values.setdefault(block, {})[variant] = dict(metrics)
        from harness.outcome import VARIANT_S

        if VARIANT_S in metrics:
            self.seconds.setdefault(block, {})[variant] = metrics[VARIANT_S]

    def value(self, block: int, variant: str, metric: str) -> float | None:
        x = self.values.get(block, {}).get(variant, {}).get(metric)
        return x if x is not None and math.isfinite(x) and x > 0 else None

    def complete(self, variants: list[str], metrics: list[str]) -> list[int]:
        """Blocks in which every variant has every metric (positive, finite), in order."""
        return [b for b in sorted(self.values) if all(self.value(b, v, m) is not None for v in variants for m in metrics)]

    def log_ratios(self, variant: str, baseline: str, metric: str, blocks: list[int] | None = None) -> list[float]:
        """log(variant / baseline) of `metric` in each of `blocks` (default: every block where both have it)."""
        out = []
        for b in sorted(self.values) if blocks is None else blocks:
            x, y = self.value(b, variant, metric), self.value(b, baseline, metric)
            if x is not None and y is not None:
                out.append(math.log(x / y))
        return out

    def block_s(self, variants: list[str]) -> float | None:
        """Mean wall seconds of a block in which every variant was measured."""
        full = [sum(s.values()) for s in self.seconds.values() if all(v in s for v in variants)]
        return sum(full) / len(full) if full else None


def pooled_sd(groups: list[list[float]]) -> tuple[float, int] | None:
    """The pooled sd of several samples' deviations from their own means, and its degrees of freedom; None below 1 df."""
    ss = df = 0.0
    for xs in groups:
        if len(xs) >= 2:
            mean = sum(xs) / len(xs)
            ss += sum((x - mean) ** 2 for x in xs)
            df += len(xs) - 1
    return (math.sqrt(ss / df), int(df)) if df else None


def variance_metrics(blocks: BlockValues, variants: list[str], baseline: str, metrics: list[str]) -> dict[str, float]:
    """`SweepMetric` values: per metric the pooled between-block sd of the log-ratios (and each variant's), the
    within-window split-half sd where the load stage logs one, the mean block time."""
    out: dict[str, float] = {}
    others = [v for v in variants if v != baseline]
    for metric in metrics:
        groups = {v: blocks.log_ratios(v, baseline, metric) for v in others}
        for v, xs in groups.items():
            one = pooled_sd([xs])
            if one is not None:
                out[SweepMetric.VARIANT_LOG_RATIO_SD.format(variant=v, metric=metric)] = one[0]
        pooled = pooled_sd(list(groups.values()))
        if pooled is not None:
            out[SweepMetric.LOG_RATIO_SD.format(metric=metric)] = pooled[0]
        halves = sorted(x for b in blocks.values.values() for m in b.values()
                        if (x := m.get(f"{metric}_split_half_sd")) is not None and math.isfinite(x))
        if halves:
            out[SweepMetric.SPLIT_HALF_SD.format(metric=metric)] = halves[len(halves) // 2]
    block_s = blocks.block_s(variants)
    if block_s is not None:
        out[SweepMetric.BLOCK_S] = block_s
    return out


# ---------------------------------------------------------------- the design


@dataclass
class Comparison:
    """One variant against the baseline on one target metric: the look decision it stopped at (None: still open)."""

    variant: str
    metric: str
    margin: float
    higher_is_better: bool
    last: "LookDecision | None" = None
    stopped: "LookDecision | None" = None

    @property
    def outcome(self) -> str:
        """better | worse | equivalent | inconclusive | open."""
        d = self.stopped
        return "open" if d is None else d.action.removeprefix("stop-")

    def line(self) -> str:
        d = self.stopped or self.last
        if d is None:
            return f"{self.variant} {self.metric}: no look yet"
        interval = "no interval" if math.isnan(d.low) else f"[{d.low:.3f}, {d.high:.3f}]"
        head = f"{self.variant} {self.metric}: x{d.ratio:.3f} {interval} n={d.n}: "
        action = d.action.removeprefix("stop-")
        if action == "equivalent":
            return head + f"equivalent within +-{self.margin:.0%}"
        if action == "continue":
            return head + "continue"
        if action == "inconclusive":
            mde = "" if math.isnan(d.mde) else f": could not detect less than {d.mde:.0%}"
            need = "" if d.blocks_needed is None else f"; ~{d.blocks_needed} blocks would detect {self.margin:.0%}"
            return head + "inconclusive" + mde + need
        return head + action


@dataclass
class Adaptive:
    """The group-sequential stop rule over a sweep's blocks (one design per target margin, the same looks)."""

    spec: "ExperimentSpec"
    baseline: str
    variants: list[str]
    comparisons: list[Comparison]
    designs: dict[float, "GroupSequentialDesign"]
    looks_taken: int = 0
    blocks_used: int = 0
    stop_reason: str | None = None

    @classmethod
    def of(cls, spec: "ExperimentSpec") -> "Adaptive | None":
        from harness.stats.sequential import GroupSequentialDesign

        r = spec.repeats
        if not r.target:
            return None
        baseline = baseline_of(spec)
        names = [v.name for v in spec.variants]
        designs = {t.margin: GroupSequentialDesign(r.max_blocks, r.looks, alpha=round(1 - r.level, 10), margin=t.margin)
                   for t in r.target}
        comparisons = [Comparison(v, t.metric, t.margin, higher_is_better(t.metric)) for t in r.target for v in names if v != baseline]
        return cls(spec, baseline, names, comparisons, designs)

    @property
    def look_blocks(self) -> tuple[int, ...]:
        return next(iter(self.designs.values())).look_blocks

    @property
    def open(self) -> list[Comparison]:
        return [c for c in self.comparisons if c.stopped is None]

    def block_done(self, blocks: BlockValues, presenter: "Presenter") -> bool:
        """After a block: at a planned look, decide every open comparison; True when the sweep should stop."""
        from harness.stats.sequential import look_decision

        complete = blocks.complete(self.variants, sorted({c.metric for c in self.comparisons}))
        self.blocks_used = len(complete)
        looks = self.look_blocks
        if self.looks_taken >= len(looks) or len(complete) != looks[self.looks_taken]:
            return False
        self.looks_taken += 1
        for c in self.open:
            ratios = blocks.log_ratios(c.variant, self.baseline, c.metric, complete)
            c.last = look_decision(self.designs[c.margin], ratios, self.looks_taken, higher_is_better=c.higher_is_better)
            if c.last.stopped:
                c.stopped = c.last
        presenter.look_done(self.looks_taken, len(looks), len(complete), self.comparisons)
        if self.open:
            return False
        last = self.looks_taken == len(looks)
        undecided = [c for c in self.comparisons if c.outcome == "inconclusive"]
        self.stop_reason = (f"max_blocks: {len(complete)} blocks, {len(undecided)} of {len(self.comparisons)} comparisons inconclusive"
                            if last and undecided else f"decided at look {self.looks_taken} of {len(looks)} ({len(complete)} blocks)")
        presenter.say_adaptive_stop(self.stop_reason)
        return True

    def schedule_ended(self, presenter: "Presenter") -> None:
        """The schedule ran out before a stop (measurements failed, so fewer complete blocks than the last look needs)."""
        if self.stop_reason is None:
            self.stop_reason = (f"blocks failed: {self.blocks_used} complete blocks of {self.spec.repeats.max_blocks}; "
                                f"{len(self.open)} comparisons left open (inconclusive)")
            presenter.say_adaptive_stop(self.stop_reason)

    def record(self) -> tuple[dict[str, str], dict[str, float], dict[str, str]]:
        """(params, metrics, tags) for the sweep's run: the design, the looks taken, the stop reason and decisions."""
        r = self.spec.repeats
        design = next(iter(self.designs.values()))
        params = {
            SweepParam.TARGET: SweepParam.targets({t.metric: t.margin for t in r.target or []}),
            SweepParam.MAX_BLOCKS: str(r.max_blocks),
            SweepParam.LOOKS: str(r.looks),
            SweepParam.LOOK_BLOCKS: ",".join(str(n) for n in self.look_blocks),
            SweepParam.ALPHA: f"{design.alpha:g}",
            SweepParam.DESIGN: "group-sequential, O'Brien-Fleming (Lan-DeMets) spending, TOST stop for equivalence",
            SweepParam.BASELINE: self.baseline,
        }
        metrics = {SweepMetric.BLOCKS: float(self.blocks_used), SweepMetric.LOOKS_TAKEN: float(self.looks_taken)}
        for c in self.comparisons:
            d = c.stopped or c.last
            if d is not None:
                metrics[SweepMetric.RATIO.format(variant=c.variant, metric=c.metric)] = d.ratio
        tags = {Tag.REPEATS: str(self.blocks_used), Tag.REPEATS_STOP: self.stop_reason or "interrupted",
                Tag.REPEATS_DECISIONS: "\n".join(c.line() for c in self.comparisons)[:4900]}
        return params, metrics, tags
