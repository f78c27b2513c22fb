"""`harness gate` and `harness run --gate`: runs from MLflow -> gate report -> files (+ parent-run artifacts)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from harness.errors import GateError
from harness.gates.baseline import resolve_baselines
from harness.gates.evaluate import GateReport, evaluate
from harness.gates.outputs import GateFiles, write_outputs
from harness.report.runs import gates_of_sweep, latest_sweep_id, load_runs
from harness.spec.gates import GatesSpec
from harness.tracking.store import client, tracking_uri


@dataclass(frozen=True)
class GateOutcome:
    report: GateReport
    files: GateFiles
    sweep_id: str | None
    logged: bool


def check_gates(
    run_ids: list[str],
    out_dir: Path,
    gates: GatesSpec | None = None,
    uri: str | None = None,
    experiment: str | None = None,
    log_artifacts: bool = True,
) -> GateOutcome:
    """Gate the given runs (sweep ids expand to their variants; none = the latest sweep of `experiment`).

    `gates` None: the `gates` section of the spec each sweep was run with.
    """
    u = tracking_uri(uri)
    c = client(u)
    if not run_ids:
        if experiment is None:
            raise GateError("give run ids or --experiment NAME (its latest sweep is gated)")
        run_ids = [latest_sweep_id(c, experiment)]
    runset = load_runs(c, run_ids)
    if gates is None:
        if runset.sweep_id is None:
            raise GateError("these runs come from several sweeps (or none); pass the gates with --gates FILE")
        with tempfile.TemporaryDirectory() as tmp:
            gates = gates_of_sweep(c, runset.sweep_id, Path(tmp))
    if gates.empty:
        raise GateError("no gates configured: add a `gates:` section (slo, quality_floor, relative) to the spec or pass --gates FILE")
    baselines = resolve_baselines(c, gates.baseline, runset.runs, runset.experiment) if gates.relative else {}
    report = evaluate(gates, runset.runs, baselines)
    files = write_outputs(report, out_dir)
    logged = False
    if log_artifacts and runset.sweep_id is not None:
        for f in (files.json, files.junit, files.markdown):
            c.log_artifact(runset.sweep_id, str(f), "gate")
        c.set_tag(runset.sweep_id, "harness.gate", report.verdict)
        logged = True
    return GateOutcome(report, files, runset.sweep_id, logged)
