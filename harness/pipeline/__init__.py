"""Run an experiment end to end: sweep -> comparison and decision report -> gates.

This is the harness's Python API::

    from harness import load_spec, run_experiment

    result = run_experiment(load_spec("examples/local-smoke.yaml"), gate=True)
    print(result.exit_code, result.report.report.recommendation.chosen if result.report else None)

The CLI (`harness run`) only parses arguments, calls `run_experiment` and prints its result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.errors import Failure, HarnessError, SpecError
from harness.outcome import SweepResult
from harness.pipeline.plan import RunPlan
from harness.pipeline.presenter import Presenter
from harness.pipeline.sweep import run_sweep
from harness.spec.model import ExperimentSpec

if TYPE_CHECKING:
    from harness.gates.check import GateOutcome
    from harness.report.compare import Comparison
    from harness.report.publish import PublishedReport


@dataclass
class ExperimentResult:
    """Everything one `run_experiment` produced."""

    sweep: SweepResult
    comparison: "Comparison | None" = None
    report: "PublishedReport | None" = None
    gate: "GateOutcome | None" = None
    problems: list[Failure] = field(default_factory=list)
    """Post-run steps that could not be done (comparison or report unavailable)."""

    @property
    def failed_variants(self) -> list[str]:
        return self.sweep.failed_variants

    @property
    def exit_code(self) -> int:
        """2 when a variant failed or its results did not reach MLflow, else 1 when a gate failed, else 0."""
        if self.failed_variants or any(p.stage == "tracking" for p in self.problems):
            return 2
        return self.gate.report.exit_code if self.gate is not None else 0


def run_experiment(spec: ExperimentSpec, presenter: Presenter | None = None, *, compare: bool = True, gate: bool = False,
                   gate_out: Path | None = None, resume: bool = False) -> ExperimentResult:
    """Sweep every variant of `spec` (`resume`: continue its latest unfinished sweep), then compare, report and gate."""
    if gate and spec.gates.empty:
        raise SpecError(["gates: --gate needs gates to check; add slo:, quality_floor: or relative: to the spec's gates section"])
    plan = RunPlan.of(spec, resume)  # gate names, quality tasks, fidelity prompts: checked before any server starts
    result = ExperimentResult(run_sweep(plan, presenter))
    sweep_id = result.sweep.parent_run_id
    if sweep_id is None or result.sweep.unlogged:
        missing = ", ".join(result.sweep.unlogged) or "the sweep"
        result.problems.append(Failure("tracking", f"MLflow was unavailable: {missing} not logged; every result is in "
                                                   f"{result.sweep.folder}: run `harness sync {result.sweep.folder}`, then `harness compare`"))
        return result
    if not (compare or gate):
        return result
    from harness.tracking.reader import read_runs

    try:  # MLflow is read once for the comparison, the report and the gates
        runs = read_runs(spec.tracking.uri, [sweep_id])
    except HarnessError as exc:
        result.problems.append(Failure.of("report", exc, "the sweep cannot be read back from MLflow: "))
        return result
    if compare:
        from harness.report.compare import compare as compare_runs

        try:
            result.comparison = compare_runs(runs, gates=spec.gates)
        except HarnessError as exc:
            result.problems.append(Failure.of("report", exc, "comparison unavailable: "))
        if any(not r.failed for r in runs.runs):
            from harness.report.publish import publish

            try:  # table, Pareto frontiers, recommendation, plots, Markdown/HTML: local and in the sweep run's artifacts
                result.report = publish(result.sweep.folder / "report", runs, gates=spec.gates)
            except HarnessError as exc:
                result.problems.append(Failure.of("report", exc, "decision report unavailable: "))
    if gate:
        from harness.gates.check import check_gates

        result.gate = check_gates(runs, Path(gate_out or result.sweep.folder / "gate"), spec.gates)
    return result
