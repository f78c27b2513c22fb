"""Repeated measurements: `repeats.count` per variant, interleaved in blocks so machine drift falls on all alike.

Each repeat is a full measurement of its own (server started, stages run, server stopped) with fresh seeded
prompts (`load.seed + 1000 x block`), so no repeat measures the prompt or prefix cache an earlier one filled.
With `order: interleaved` block b holds one repeat of every variant, in an order shuffled with `repeats.seed`
(harness.stats.design.block_schedule); `sequential` measures all repeats of a variant in a row (drift then
falls between variants: use it only when a server cannot be restarted). Every repeat is kept: its raw files
in `<variant>/repeat-<b>/`, its own nested MLflow run; a repeat that fails loses nothing of the others. The
variant's run gets the medians over repeats with intervals (outcome.RepeatedOutcome).
"""

from __future__ import annotations

from pathlib import Path

from harness.errors import Failure
from harness.outcome import RepeatedOutcome, VariantOutcome
from harness.pipeline.fidelity import FidelityPlan
from harness.pipeline.presenter import Presenter
from harness.pipeline.variant import run_variant
from harness.spec.model import ExperimentSpec, ResolvedVariant
from harness.stats.design import block_schedule
from harness.tracking.session import TrackingSession
from harness.tracking.state import SweepState


def schedule(spec: ExperimentSpec, names: list[str]) -> list[tuple[str, int]]:
    """(variant, block) in the order they are measured."""
    r = spec.repeats
    if r.order == "sequential":
        return [(n, b) for n in names for b in range(r.count)]
    return [(n, b) for b, block in enumerate(block_schedule(names, r.count, r.seed)) for n in block]


def repeat_spec(spec: ExperimentSpec, block: int, first: bool) -> ExperimentSpec:
    """The spec of one repeat: its own prompt seed; quality only in the first repeat unless `repeats.quality: every`."""
    quality = spec.quality.enabled and (first or spec.repeats.quality == "every")
    return spec.model_copy(update={
        "load": spec.load.model_copy(update={"seed": spec.load.seed + 1000 * block}),
        "quality": spec.quality.model_copy(update={"enabled": quality}),
    })


def baseline_first(plan: list[tuple[str, int]], baseline: str | None) -> list[tuple[str, int]]:
    """The baseline's first repeat moved to the front (fidelity: its pass is the reference of the others' first repeats)."""
    first = next((i for i, (name, _) in enumerate(plan) if name == baseline), None)
    return plan if first is None else [plan[first]] + plan[:first] + plan[first + 1:]


def run_repeated(spec: ExperimentSpec, variants: list[ResolvedVariant], folder: Path, logger: TrackingSession, state: SweepState,
                 presenter: Presenter, kept: dict[str, str], outcomes: list[VariantOutcome],
                 fidelity: FidelityPlan | None = None) -> None:
    """Fidelity (`fidelity`: the sweep's plan) is measured in the first repeat of each variant, the baseline's first."""
    by_name = {v.name: v for v in variants}
    todo = [n for n in by_name if n not in kept]
    plan = schedule(spec, todo)
    if fidelity is not None:
        plan = baseline_first(plan, fidelity.baseline)
    runs: dict[str, str | None] = {}
    agg: dict[str, RepeatedOutcome] = {}
    left = {n: spec.repeats.count for n in todo}
    step = 0
    try:
        for name, block in plan:
            step += 1
            variant = by_name[name]
            if name not in agg:
                runs[name] = logger.start_variant(variant)
                agg[name] = RepeatedOutcome(variant=variant, folder=folder / name / "aggregate", level=spec.repeats.level)
                state.record(name, agg[name], status="running", run_id=runs[name], logged=False)
            presenter.variant_started(step, len(plan), variant)
            presenter.say(f"repeat {spec.repeats.count - left[name] + 1}/{spec.repeats.count} (block {block})")
            one = VariantOutcome(variant=variant, folder=folder / name / f"repeat-{block}")
            rid = logger.start_repeat(runs[name], variant, block)
            # the once-per-variant stages (quality, fidelity) go to the first repeat that reaches a ready server: on
            # the H200 a server down for the first repeats left its variant without them
            first = all(r.server is None for r in agg[name].repeats)
            try:
                run_variant(repeat_spec(spec, block, first=first), variant, one, presenter, fidelity if first else None)
            except KeyboardInterrupt as exc:
                one.failures.append(Failure.of("interrupt", exc))
                logger.finish_repeat(rid, one)
                agg[name].repeats.append(one)
                agg[name].blocks.append(block)
                presenter.variant_done(step, len(plan), one, rid)  # the interrupt first, then what it cut short
                raise
            logger.finish_repeat(rid, one)
            agg[name].repeats.append(one)
            agg[name].blocks.append(block)
            presenter.variant_done(step, len(plan), one, rid)
            left[name] -= 1
            if left[name] == 0:
                _finish(name, agg[name], runs[name], logger, state, outcomes)
    except KeyboardInterrupt as exc:
        for name, out in agg.items():
            if left[name] > 0:  # unfinished variants: what their repeats measured is logged, the run FAILED
                out.failures.append(Failure.of("interrupt", exc, f"after {len(out.repeats)} of {spec.repeats.count} repeats: "))
                state.record(name, out, status="interrupted")
                _finish(name, out, runs[name], logger, state, outcomes, status=False)
        raise


def _finish(name: str, out: RepeatedOutcome, run_id: str | None, logger: TrackingSession, state: SweepState,
            outcomes: list[VariantOutcome], status: bool = True) -> None:
    first = next((r for r in out.repeats if r.server is not None), out.repeats[0] if out.repeats else None)
    if first is not None:
        out.server = first.server
    out.quality = next((r.quality for r in out.repeats if r.quality is not None), None)
    measured = next((r for r in out.repeats if r.fidelity is not None), None)
    if measured is not None:
        out.fidelity, out.fidelity_floor = measured.fidelity, measured.fidelity_floor
    out.duration_s = sum(r.duration_s for r in out.repeats)
    if status:
        state.record(name, out, status="failed" if out.failed else "ok")
    state.record(name, out, logged=logger.finish_variant(run_id, out))
    outcomes.append(out)
