"""The sweep: every variant of the matrix in turn, each logged to MLflow as a child run.

A fault in one variant marks that variant's run FAILED, keeps what was measured (raw files are
already on disk and are logged) and the sweep moves on to the next variant. A sweep state file
that cannot be written (a full disk) is such a fault of the variant being recorded; the sweep's
own run is closed FAILED or FINISHED whatever happens.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from harness.errors import Failure, RunFolderError
from harness.redaction import redact_data
from harness.outcome import SweepResult, VariantOutcome
from harness.pipeline.fidelity import FidelityPlan
from harness.pipeline.presenter import Presenter
from harness.tracking.state import FINISHED, SweepState, latest_resumable, new_run_folder, write_run_file
from harness.pipeline.variant import run_variant
from harness.report.plots import load_curve_plot
from harness.spec.loader import resolve_variants
from harness.spec.model import ExperimentSpec, ResolvedVariant
from harness.tracking.session import TrackingSession


def run_sweep(spec: ExperimentSpec, presenter: Presenter | None = None, resume: bool = False) -> SweepResult:
    """Every variant in turn; with `resume`, the latest unfinished sweep of this spec continues where it stopped."""
    presenter = presenter or Presenter()
    variants = resolve_variants(spec)
    names = [v.name for v in variants]
    logger = TrackingSession(spec, variants, presenter.write)
    if resume:
        folder = latest_resumable(Path(spec.tracking.run_dir), spec)
        state = SweepState.read(folder)
        parent = logger.resume_sweep(state.parent_run_id, folder)
        for name in state.to_run(names):  # interrupted: its stale run is closed and the variant measured again
            stale = state.variants[name].run_id
            if stale:
                logger.supersede(stale, "interrupted; measured again by `harness run --resume`")
            _set_aside(folder / name)
        kept = {n: state.variants[n].status for n in names if n not in state.to_run(names)}
        presenter.write(f"resuming {folder}: keeping {', '.join(f'{n} ({s})' for n, s in kept.items()) or 'nothing'}")
    else:
        folder = new_run_folder(Path(spec.tracking.run_dir), spec.name)
        write_run_file(folder / "experiment.yaml", yaml.safe_dump(redact_data(spec.model_dump(mode="json"), logger.secrets), sort_keys=False))
        state = SweepState.new(folder, spec, names)
        parent = logger.start_sweep(folder)
        kept = {}
    state.parent_run_id, state.experiment = parent or state.parent_run_id, logger.experiment
    presenter.secrets = logger.secrets
    outcomes: list[VariantOutcome] = []
    ended = False
    try:
        state.save()
        presenter.sweep_started(spec.name, len(variants), folder, logger.uri, logger.experiment)
        fidelity = FidelityPlan.of(spec, folder, kept)  # the baseline runs first: its pass is the others' reference
        if fidelity is not None:
            variants = fidelity.order(variants)
            for note in fidelity.notes:
                presenter.write(f"fidelity: {note}")
        if spec.repeats.count > 1:
            from harness.pipeline.repeated import run_repeated

            logger.tag_sweep(repeats_tags(spec))
            run_repeated(spec, variants, folder, logger, state, presenter, kept, outcomes, fidelity)
        else:
            for i, variant in enumerate(variants, 1):
                if variant.name not in kept:
                    _run_one(spec, variant, i, len(variants), folder, logger, state, presenter, outcomes, fidelity)
        ended = True
    finally:
        _end(state, logger, presenter, quiet=not ended)
    return _result(logger, parent, outcomes, folder, kept, state)


def _run_one(spec: ExperimentSpec, variant: ResolvedVariant, i: int, n: int, folder: Path, logger: TrackingSession,
             state: SweepState, presenter: Presenter, outcomes: list[VariantOutcome], fidelity: FidelityPlan | None) -> None:
    """One variant: its run, its measurement, its state (a state file that cannot be written fails it), its record. From
    the moment its run exists, an interrupt closes it FAILED."""
    run_id = logger.start_variant(variant)
    outcome = VariantOutcome(variant=variant, folder=folder / variant.name)
    try:
        presenter.variant_started(i, n, variant)
        state.record(variant.name, outcome, status="running", run_id=run_id, logged=False)
        run_variant(spec, variant, outcome, presenter, fidelity)
    except KeyboardInterrupt as exc:
        outcome.failures.append(Failure.of("interrupt", exc))
        state.record(variant.name, outcome, status="interrupted")
        state.record(variant.name, outcome, logged=logger.finish_variant(run_id, outcome))
        outcomes.append(outcome)
        presenter.variant_done(i, n, outcome, run_id)  # the interrupt first, then what it cut short
        raise
    _plots(outcome, presenter)
    state.record(variant.name, outcome, status="failed" if outcome.failed else "ok")
    state.record(variant.name, outcome, logged=logger.finish_variant(run_id, outcome))
    outcomes.append(outcome)
    presenter.variant_done(i, n, outcome, run_id)


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


def _result(logger: TrackingSession, parent: str | None, outcomes: list[VariantOutcome], folder: Path, kept: dict[str, str],
            state: SweepState) -> SweepResult:
    unlogged = [n for n, v in state.variants.items() if v.status in FINISHED and not v.logged]
    return SweepResult(logger.experiment, parent, outcomes, folder, kept, unlogged)


def repeats_tags(spec: ExperimentSpec) -> dict[str, str]:
    r = spec.repeats
    return {"harness.repeats": str(r.count), "harness.repeats_order": r.order, "harness.repeats_seed": str(r.seed)}


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
