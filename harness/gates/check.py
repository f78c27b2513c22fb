"""`harness gate` and `harness run --gate`: runs from MLflow -> gate report -> files (+ sweep-run artifacts)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import GateError
from harness.gates.outputs import GateFiles, write_outputs
from harness.spec.gates import GatesSpec
from harness.tracking.baselines import resolve_baselines
from harness.tracking.contract import GATE_DIR, Tag
from harness.tracking.gating import GateReport, evaluate
from harness.tracking.reader import RunSet, RunStore


@dataclass(frozen=True)
class GateOutcome:
    report: GateReport
    files: GateFiles
    sweep_id: str | None
    logged: bool


def check_gates(
    run_ids: list[str] | RunSet,
    out_dir: Path,
    gates: GatesSpec | None = None,
    uri: str | None = None,
    experiment: str | None = None,
    log_artifacts: bool = True,
) -> GateOutcome:
    """Gate the given runs: run ids (sweep ids expand to their variants; none = the latest sweep of
    `experiment`) or a RunSet already read (`uri` and `experiment` are then unused).

    `gates` None: the `gates` section of the spec each sweep was run with.
    """
    if isinstance(run_ids, RunSet):
        runset = run_ids
        store = runset.store or RunStore(uri)
    else:
        store = RunStore(uri)
        if not run_ids:
            if experiment is None:
                raise GateError("give run ids or --experiment NAME (its latest sweep is gated)")
            run_ids = [store.latest_sweep_id(experiment)]
        runset = store.load_runs(run_ids)
    if gates is None:
        if runset.sweep_id is None:
            raise GateError("these runs come from several sweeps (or none); pass the gates with --gates FILE")
        gates = store.gates_of_sweep(runset.sweep_id)
    if gates.empty:
        raise GateError("no gates configured: add a `gates:` section (slo, quality_floor, relative) to the spec or pass --gates FILE")
    baselines = resolve_baselines(store, gates.baseline, runset.runs, runset.experiment) if gates.relative else {}
    report = evaluate(gates, runset.runs, baselines)
    files = write_outputs(report, out_dir)
    logged = False
    if log_artifacts and runset.sweep_id is not None:
        for f in (files.json, files.junit, files.markdown):
            store.attach(runset.sweep_id, f, GATE_DIR)
        store.set_tag(runset.sweep_id, Tag.GATE, report.verdict)
        logged = True
    return GateOutcome(report, files, runset.sweep_id, logged)
