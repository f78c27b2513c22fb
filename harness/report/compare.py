"""Side-by-side comparison of a sweep's variants, read back from MLflow: values with their intervals,
best-in-column marks that include every variant not shown worse than the best (equivalent or inconclusive), and
each variant's outcomes against the baseline, all from one judge after Holm over the comparison's families."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.errors import SpecError, TrackingError
from harness.report.cells import Formatted, few_repeats, format_table
from harness.report.columns import COLUMNS, ColumnSpec, columns_for, headline_perf, noise_floor_line, star_legend
from harness.report.differences import Differences, choose_baseline, perf_differences
from harness.report.judge import Judge
from harness.spec.gates import BaselineSpec, GatesSpec
from harness.tracking.contract import higher_is_better
from harness.tracking.reader import RunSet, read_sweep

if TYPE_CHECKING:
    import pandas as pd


@dataclass
class Comparison:
    experiment: str
    parent_run_id: str | None
    """The sweep run; None when the runs come from several sweeps."""
    table: "pd.DataFrame"
    """Rows: variants; columns: labels above (only those present), plus status."""
    best: dict[str, str]
    """column label -> best variant (by point value)."""
    smoke: bool
    runs: RunSet | None = None
    """The runs compared, for publish and gate without reading MLflow again."""
    tied: dict[str, list[str]] = field(default_factory=dict)
    """column label -> the best and every variant not shown worse than it (all are starred)."""
    intervals: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)
    """(variant, column label) -> the logged interval."""
    differences: Differences | None = None
    """Each variant against the baseline on the headline performance metrics."""
    level: float = 0.95
    margin: float = 0.0
    columns: list[ColumnSpec] = field(default_factory=lambda: list(COLUMNS))
    """The metric columns compared (COLUMNS and the headline of every other quality task the runs ran)."""
    repeats: dict[tuple[str, str], tuple[float, ...]] = field(default_factory=dict)
    """(variant, column label) -> its repeats when fewer than 6 (shown next to the median instead of an interval)."""

    def cells(self) -> Formatted:
        """The table as cells by column type (harness/report/cells.py): stars on every value tied with the best."""
        tied = {label: self.tied.get(label, [self.best[label]]) for label in self.best} | self.tied
        return format_table(self.table, [label for _, label, _ in self.columns], self.intervals, tied, self.repeats)

    def render(self) -> str:
        shown = self.cells()
        text = shown.text()
        legend = star_legend(self.level, self.margin, {r.ci_method for r in self.runs.runs} if self.runs else None,
                             stars=shown.starred, intervals=shown.intervals, repeats=shown.repeats)
        note = "\n" + legend if legend else ""
        floor = noise_floor_line(self.runs.runs) if self.runs else None
        if floor:
            note += "\n" + floor
        if self.differences is not None and self.differences.items:
            d = self.differences
            note += f"\n\nvs baseline: {d.note()}\n{Formatted(d.header(), d.rows(), False, False).text()}"
            note += "".join(f"\n  {line}" for line in d.details())
        elif self.differences is not None:
            note += f"\nno differences: {self.differences.baseline.note}"
        if self.smoke:
            note += "\nSMOKE RUN: small limits; not comparable with full runs"
        if self.runs is not None and self.runs.passed_over:
            newer = ", ".join(self.runs.passed_over)
            note += (f"\nnewer sweep(s) {newer} passed over: none of their variants finished (their MLflow tag harness.error says why); "
                     f"`harness compare --run {self.runs.passed_over[0]}` shows it")
        where = f"sweep run {self.parent_run_id}" if self.parent_run_id else "runs of several sweeps"
        return f"experiment '{self.experiment}', {where}\n{text}{note}"


def _gates(runset: RunSet) -> GatesSpec:
    """The gates of the sweep the runs came from (baseline, level, margin), else the defaults."""
    if runset.store is None or runset.sweep_id is None:
        return GatesSpec()
    try:
        return runset.store.gates_of_sweep(runset.sweep_id)
    except (TrackingError, SpecError):
        return GatesSpec()


def compare(experiment: str | RunSet, uri: str | None = None, sweep_run_id: str | None = None,
            gates: GatesSpec | None = None, baseline_variant: str | None = None) -> Comparison:
    """Compare the variants of one sweep (the latest in `experiment` unless given), or of a RunSet already read.

    `gates` None: the gates of the spec the sweep ran with (baseline, recommend.alpha and margin);
    `baseline_variant` overrides gates.baseline for the differences.
    """
    import pandas as pd

    runset = experiment if isinstance(experiment, RunSet) else read_sweep(uri, experiment, sweep_run_id)
    gates = gates if gates is not None else _gates(runset)
    if baseline_variant is not None:
        gates = gates.model_copy(update={"baseline": BaselineSpec(variant=baseline_variant)})
    level, margin = 1.0 - gates.recommend.alpha, gates.recommend.margin
    rows, intervals = {}, {}
    columns = columns_for(runset.runs)
    for run in runset.runs:
        row: dict[str, object] = {"status": run.status}
        for metric, label, _ in columns:
            row[label] = float(run.metrics.get(metric, math.nan))
            interval = run.interval(metric)
            if interval is not None:
                intervals[(run.name, label)] = interval
        rows[run.name] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    present = ["status"] + [label for _, label, _ in columns if table[label].notna().any()]
    table = table[present]
    finished = [r for r in runset.runs if not r.failed]
    choice = choose_baseline(runset.runs, gates)
    judge = Judge.of(gates.recommend)
    pairs = [(choice.run, r) for r in finished if choice.run is not None and r.run_id != choice.run.run_id]
    judge.prepare(finished, [(m, h) for m, _, h in columns] + [(m, higher_is_better(m)) for m in headline_perf()], pairs)
    best: dict[str, str] = {}
    tied: dict[str, list[str]] = {}
    for metric, label, higher in columns:
        if label in table and table[label].notna().sum() > 1:
            top, same, _ = judge.tied_with_best(finished, metric, higher)
            if top is not None:
                best[label], tied[label] = top.name, [r.name for r in same]
    diffs = perf_differences(runset.runs, choice, gates, None, judge)
    return Comparison(runset.experiment, runset.sweep_id, table, best, runset.smoke, runset, tied, intervals, diffs, level, margin,
                      columns, few_repeats(runset.runs, columns))
