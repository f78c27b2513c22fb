"""The sweep: one loop over the plan's schedule of (variant, block) pairs, each variant logged to MLflow as a child run.

A fault in one variant marks that variant's run FAILED, keeps what was measured (raw files are
already on disk and are logged) and the sweep moves on to the next pair. A sweep state file
that cannot be written (a full disk) is such a fault of the variant being recorded; the sweep's
own run is closed FAILED or FINISHED whatever happens. Ctrl-C closes every variant begun and not
finished FAILED (what it measured logged), prints the interrupted one's FAILED line, and re-raises.

With `repeats.count` > 1 each (variant, block) pair is a full measurement of its own (server started,
stages run, server stopped) with its own prompt seed (harness.pipeline.plan.repeat_spec): its raw files
in `<variant>/repeat-<b>/`, its own MLflow run nested in the variant's; a repeat that fails loses nothing
of the others. The variant's run gets the medians over repeats with intervals (outcome.RepeatedOutcome).
Fidelity runs in the first repeat that reaches a ready server; quality in every repeat, or in that first one
after its load (`repeats.quality: separate`). Every measurement draws its plots (`load/load_curve.png`), a
repeat's in its own folder. With `repeats.target` the sweep stops at the first planned look where every
comparison is decided (harness/pipeline/adaptive.py); the variance components of every repeated sweep
(and an adaptive sweep's design, looks and stop reason) are logged on the sweep's run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from harness.errors import Failure, RunFolderError
from harness.outcome import RepeatedOutcome, SweepResult, VariantOutcome
from harness.pipeline.adaptive import Adaptive, BlockValues, baseline_of, metric_names, variance_metrics
from harness.pipeline.fidelity import FidelityPlan
from harness.pipeline.plan import RunPlan
from harness.pipeline.presenter import Presenter
from harness.pipeline.variant import run_variant
from harness.redaction import redact_data
from harness.report.plots import load_curve_plot
from harness.spec.model import ExperimentSpec, ResolvedVariant
from harness.tracking.session import TrackingSession
from harness.tracking.state import FINISHED, SweepState, new_run_folder, write_run_file


def run_sweep(plan: RunPlan, presenter: Presenter | None = None) -> SweepResult:
    """Every (variant, block) pair of `plan` in turn; a resumed plan continues its sweep where it stopped."""
    spec = plan.spec
    presenter = presenter or Presenter()
    logger = TrackingSession(spec, plan.variants, presenter.write)
    kept = plan.kept
    if plan.resumed is not None and plan.folder is not None:
        folder, state = plan.folder, plan.resumed
        parent = logger.resume_sweep(state.parent_run_id, folder)
        for name in state.to_run([v.name for v in plan.variants]):  # interrupted: its stale run closed, measured again
            stale = state.variants[name].run_id
            if stale:
                logger.supersede(stale, "interrupted; measured again by `harness run --resume`")
            _set_aside(folder / name)
        presenter.write(f"resuming {folder}: keeping {', '.join(f'{n} ({s})' for n, s in kept.items()) or 'nothing'}")
    else:
        folder = new_run_folder(Path(spec.tracking.run_dir), spec.name)
        write_run_file(folder / "experiment.yaml", yaml.safe_dump(redact_data(spec.model_dump(mode="json"), logger.secrets), sort_keys=False))
        state = SweepState.new(folder, spec, [v.name for v in plan.variants])
        parent = logger.start_sweep(folder)
    state.parent_run_id, state.experiment = parent or state.parent_run_id, logger.experiment
    presenter.secrets = logger.secrets
    sweep = _Sweep(plan, folder, logger, state, presenter)
    ended = False
    try:
        state.save()
        presenter.sweep_started(spec.name, len(plan.variants), folder, logger.uri, logger.experiment)
        sweep.fidelity = FidelityPlan.of(spec, folder, kept)  # the baseline runs first: its pass is the others' reference
        for note in sweep.fidelity.notes if sweep.fidelity is not None else []:
            presenter.write(f"fidelity: {note}")
        if plan.repeated:
            logger.tag_sweep(repeats_tags(spec))
        sweep.run()
        ended = True
    finally:
        if plan.repeated:
            sweep.log_blocks()
        _end(state, logger, presenter, quiet=not ended)
    unlogged = [n for n, v in state.variants.items() if v.status in FINISHED and not v.logged]
    return SweepResult(logger.experiment, parent, sweep.outcomes, folder, kept, unlogged)


@dataclass
class _Variant:
    """A variant being measured: its MLflow run, its outcome (with repeats the aggregate), the blocks still to run."""

    run_id: str | None
    outcome: VariantOutcome
    left: int


@dataclass
class _Sweep:
    plan: RunPlan
    folder: Path
    logger: TrackingSession
    state: SweepState
    presenter: Presenter
    fidelity: FidelityPlan | None = None
    outcomes: list[VariantOutcome] = field(default_factory=list)
    begun: dict[str, _Variant] = field(default_factory=dict)
    cut: tuple[int, VariantOutcome, str | None] | None = None
    """The measurement an interrupt cut short: its step, outcome and run (its FAILED line is printed last)."""
    blocks: BlockValues = field(default_factory=BlockValues)
    adaptive: Adaptive | None = None

    def run(self) -> None:
        schedule = self.plan.schedule
        self.adaptive = Adaptive.of(self.plan.spec)
        try:
            for step, (variant, block) in enumerate(schedule, 1):
                self._measure(step, variant, block)
                block_over = step == len(schedule) or schedule[step][1] != block
                if self.adaptive is not None and block_over and self.adaptive.block_done(self.blocks, self.presenter):
                    self._stop_early()
                    break
            else:
                if self.adaptive is not None:
                    self.adaptive.schedule_ended(self.presenter)
        except KeyboardInterrupt as exc:
            self._interrupted(exc)
            if self.cut is not None:  # the interrupt first, then what it cut short
                step, one, run_id = self.cut
                self.presenter.variant_done(step, len(self.plan.schedule), one, run_id)
            raise

    def _measure(self, step: int, variant: ResolvedVariant, block: int) -> None:
        """One (variant, block) pair: its run, its measurement, its state (a state file that cannot be written fails it),
        its record. From the moment its variant's run exists, an interrupt closes it FAILED."""
        n, repeated = len(self.plan.schedule), self.plan.repeated
        v = self.begun.get(variant.name) or self._begin(variant)
        self.presenter.variant_started(step, n, variant)
        if repeated:
            count = self.plan.spec.repeats.blocks
            most = "at most " if self.plan.spec.repeats.target else ""
            self.presenter.say(f"repeat {count - v.left + 1}/{most}{count} (block {block})")
            one = VariantOutcome(variant=variant, folder=self.folder / variant.name / f"repeat-{block}")
            run_id = self.logger.start_repeat(v.run_id, variant, block)
        else:
            one, run_id = v.outcome, v.run_id
        # the once-per-variant stages (quality, fidelity) go to the first repeat that reaches a ready server: on the H200
        # a server down for the first repeats left its variant without them
        first = not isinstance(v.outcome, RepeatedOutcome) or all(r.server is None for r in v.outcome.repeats)
        try:
            run_variant(self.plan.block_spec(block, first), variant, one, self.presenter, self.fidelity if first else None)
        except KeyboardInterrupt as exc:
            one.failures.append(Failure.of("interrupt", exc))
            self._measured(v, one, run_id, block)
            self.cut = (step, one, run_id)
            raise
        _plots(one, self.presenter)
        self._measured(v, one, run_id, block)
        v.left -= 1
        if v.left == 0:
            self._finish(variant.name, v)
        self.presenter.variant_done(step, n, one, run_id)

    def _begin(self, variant: ResolvedVariant) -> _Variant:
        run_id = self.logger.start_variant(variant)
        if self.plan.repeated:
            r = self.plan.spec.repeats
            outcome: VariantOutcome = RepeatedOutcome(variant=variant, folder=self.folder / variant.name / "aggregate", level=r.level)
        else:
            outcome = VariantOutcome(variant=variant, folder=self.folder / variant.name)
        v = self.begun[variant.name] = _Variant(run_id, outcome, self.plan.spec.repeats.blocks)
        self.state.record(variant.name, outcome, status="running", run_id=run_id, logged=False)
        return v

    def _measured(self, v: _Variant, one: VariantOutcome, run_id: str | None, block: int) -> None:
        """A repeat's own record and nested run closed, and it joins its variant's aggregate."""
        if isinstance(v.outcome, RepeatedOutcome):
            self.logger.finish_repeat(run_id, one)
            v.outcome.add(block, one)
            self.blocks.add(block, one.variant.name, one)

    def _stop_early(self) -> None:
        """Adaptive repeats decided at a look: every variant finishes with the blocks it has."""
        for name, v in self.begun.items():
            if v.left > 0:
                v.left = 0
                self._finish(name, v)

    def log_blocks(self) -> None:
        """On the sweep's run: the variance components of every repeated sweep, an adaptive sweep's design and stop."""
        spec = self.plan.spec
        names = [v.name for v in self.plan.variants]
        metrics = variance_metrics(self.blocks, names, baseline_of(spec), metric_names(spec))
        params: dict[str, str] = {}
        if self.adaptive is not None:
            params, decided, tags = self.adaptive.record()
            metrics.update(decided)
            self.logger.tag_sweep(tags)
        self.logger.log_sweep(params, metrics)

    def _finish(self, name: str, v: _Variant, status: str | None = None) -> None:
        out = v.outcome
        self.state.record(name, out, status=status or ("failed" if out.failed else "ok"))
        self.state.record(name, out, logged=self.logger.finish_variant(v.run_id, out))
        self.outcomes.append(out)

    def _interrupted(self, exc: KeyboardInterrupt) -> None:
        """Every variant begun and not finished: what it measured is logged, its run FAILED, its state "interrupted"."""
        count = self.plan.spec.repeats.blocks
        for name, v in self.begun.items():
            if v.left == 0:
                continue
            out = v.outcome
            if isinstance(out, RepeatedOutcome):
                out.failures.append(Failure.of("interrupt", exc, f"after {len(out.repeats)} of {count} repeats: "))
            elif not any(f.stage == "interrupt" for f in out.failures):
                out.failures.append(Failure.of("interrupt", exc))
            v.left = 0
            self._finish(name, v, status="interrupted")


def _end(state: SweepState, logger: TrackingSession, presenter: Presenter, quiet: bool) -> None:
    """The sweep's state and run closed, whatever stopped it; a state file that cannot be written is said in one line
    (not when a variant's failure said it already, nor while another error is on its way to the screen: `quiet`)."""
    done = all(v.status in FINISHED for v in state.variants.values())
    failed = any(v.status != "ok" for v in state.variants.values())
    state.finished = done
    said = state.write_failures > 0
    try:
        state.save()
    except RunFolderError as exc:
        if not (quiet or said):
            presenter.write(str(exc))
    finally:
        logger.end_sweep(failed=failed or not done)


def repeats_tags(spec: ExperimentSpec) -> dict[str, str]:
    r = spec.repeats
    return {"harness.repeats": str(r.blocks), "harness.repeats_order": r.order, "harness.repeats_seed": str(r.seed)}


def _set_aside(variant_folder: Path) -> None:
    """An interrupted attempt's files move to .attempts/<variant>-<n>: kept, but not mixed with the new measurement."""
    if not variant_folder.exists():
        return
    attempts = variant_folder.parent / ".attempts"
    attempts.mkdir(exist_ok=True)
    n = 1 + sum(1 for p in attempts.glob(f"{variant_folder.name}-*"))
    variant_folder.rename(attempts / f"{variant_folder.name}-{n}")


def _plots(outcome: VariantOutcome, presenter: Presenter) -> None:
    """Per-variant plots that belong in the variant's own artifacts (the load curve of a scan or steps)."""
    if outcome.load is None:
        return
    curve = load_curve_plot(outcome.load, outcome.folder / "load" / "load_curve.png")
    if curve is not None:
        presenter.file_written("load curve", curve)
