"""What a sweep will do, settled before any server starts: `RunPlan.of(spec, resume)`.

    plan = RunPlan.of(spec, resume=False)   # gate names checked, quality and fidelity preflight, the schedule built
    run_sweep(plan, presenter)              # the one sweep loop (harness/pipeline/sweep.py) walks plan.schedule

The spec's own checks (variants resolved, fidelity against the variants) ran once when it was validated
(ExperimentSpec); the plan adds what needs the layers above the spec: the gate and objective names
against the MLflow contract, the quality tasks and the fidelity prompts or saved reference.

The schedule is a list of (variant, block) pairs in the order they are measured: one block per
variant when `repeats.count` is 1. With repeats, block b holds one repeat of every variant, in an
order shuffled with `repeats.seed` (`order: interleaved`, harness.stats.design.block_schedule), or all
repeats of a variant in a row (`sequential`: drift then falls between variants; use it only when a
server cannot be restarted). With `repeats.target` the schedule holds `max_blocks` interleaved blocks
and the sweep may stop at an earlier planned look (harness/pipeline/adaptive.py). The fidelity
baseline's first block comes first (its pass is the reference of the others). A resumed sweep's
finished variants are kept, not scheduled (not with a target: its looks need every variant's blocks).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.pipeline.fidelity import preflight as fidelity_preflight
from harness.errors import SpecError
from harness.pipeline.adaptive import check_targets
from harness.spec.fidelity import fidelity_baseline, fidelity_on
from harness.spec.model import ExperimentSpec, ResolvedVariant
from harness.stats.design import block_schedule
from harness.tracking.contract import check_gates
from harness.tracking.state import SweepState, latest_resumable


@dataclass
class RunPlan:
    """A checked spec, where a resumed sweep stands, and the (variant, block) pairs left to measure."""

    spec: ExperimentSpec
    variants: list[ResolvedVariant]
    """Every variant of the spec (kept ones included), in spec order."""
    schedule: list[tuple[ResolvedVariant, int]] = field(default_factory=list)
    resumed: SweepState | None = None
    """`--resume`: the unfinished sweep's state (its folder is `folder`)."""
    folder: Path | None = None

    @classmethod
    def of(cls, spec: ExperimentSpec, resume: bool = False) -> "RunPlan":
        """SpecError (each problem naming its field) for what would fail later: an unknown gate metric, a quality task
        without data or API, an unreadable fidelity reference, no unfinished sweep to resume."""
        check_gates(spec)  # a misspelled gate metric fails now, not after hours of measuring
        from harness.quality.preflight import check as quality_preflight

        variants = spec.resolved
        # quality tasks known, their data found (or the Hub reachable) and their API served, before any server starts
        quality_preflight(spec.quality, engine_kinds=[v.server.kind for v in variants])
        fidelity_preflight(spec)  # a saved reference readable, dataset prompts found
        plan = cls(spec, variants)
        if resume and spec.repeats.target:
            raise SpecError(["repeats.target: --resume cannot continue an adaptive sweep (its looks need every variant's "
                             "blocks in one sweep); run it again without --resume"])
        check_targets(spec, variants)
        if resume:
            plan.folder = latest_resumable(Path(spec.tracking.run_dir), spec)
            plan.resumed = SweepState.read(plan.folder)
        todo = plan.resumed.to_run([v.name for v in variants]) if plan.resumed else [v.name for v in variants]
        by_name = {v.name: v for v in variants}
        baseline = fidelity_baseline(spec) if fidelity_on(spec) and spec.fidelity.reference is None else None
        plan.schedule = [(by_name[n], b) for n, b in baseline_first(schedule(spec, todo), baseline)]
        return plan

    @property
    def repeated(self) -> bool:
        return self.spec.repeats.blocks > 1

    @property
    def kept(self) -> dict[str, str]:
        """A resumed sweep's finished variants and their status; they are not measured again."""
        if self.resumed is None:
            return {}
        todo = self.resumed.to_run([v.name for v in self.variants])
        return {v.name: self.resumed.variants[v.name].status for v in self.variants if v.name not in todo}

    def block_spec(self, block: int, first: bool) -> ExperimentSpec:
        """The spec one (variant, block) pair is measured with."""
        return repeat_spec(self.spec, block, first) if self.repeated else self.spec


def schedule(spec: ExperimentSpec, names: list[str]) -> list[tuple[str, int]]:
    """(variant, block) in the order they are measured; one block each when `repeats.count` is 1 (and no target)."""
    r = spec.repeats
    if r.blocks == 1 or r.order == "sequential":
        return [(n, b) for n in names for b in range(r.blocks)]
    return [(n, b) for b, block in enumerate(block_schedule(names, r.blocks, r.seed)) for n in block]


def repeat_spec(spec: ExperimentSpec, block: int, first: bool) -> ExperimentSpec:
    """The spec of one repeat: its own prompt seed (`load.seed + 1000 x block`, so no repeat measures the prompt or
    prefix cache an earlier one filled); quality in every repeat (`repeats.quality: every`), or in the first only, after
    its load (`separate`: harness.pipeline.variant runs it on the idle server, outside the measured window)."""
    quality = spec.quality.enabled and (first or spec.repeats.quality == "every")
    return spec.model_copy(update={
        "load": spec.load.model_copy(update={"seed": spec.load.seed + 1000 * block}),
        "quality": spec.quality.model_copy(update={"enabled": quality}),
    })


def baseline_first(plan: list[tuple[str, int]], baseline: str | None) -> list[tuple[str, int]]:
    """The baseline's first block moved to the front (fidelity: its pass is the reference of the others' first)."""
    first = next((i for i, (name, _) in enumerate(plan) if name == baseline), None)
    return plan if first is None else [plan[first]] + plan[:first] + plan[first + 1:]
