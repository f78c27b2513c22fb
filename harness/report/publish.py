"""Build the decision report for runs in MLflow, write it locally and log it to the sweep (parent) run."""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.report.decision import DecisionReport, build_decision
from harness.report.knob_table import CSV_FILE, knob_table
from harness.report.plots import frontier_plot, latency_vs_load_plot
from harness.report.render import markdown, to_html
from harness.spec.gates import BaselineSpec, GatesSpec
from harness.tracking.baselines import resolve_baselines
from harness.tracking.contract import REPORT_DIR, Tag
from harness.tracking.reader import RunSet, RunStore


@dataclass(frozen=True)
class PublishedReport:
    report: DecisionReport
    folder: Path
    files: list[Path]
    logged_to: str | None


def publish(
    out_dir: Path,
    run_ids: list[str] | RunSet | None = None,
    experiment: str | None = None,
    uri: str | None = None,
    gates: GatesSpec | None = None,
    baseline_variant: str | None = None,
    log_artifacts: bool = True,
) -> PublishedReport:
    """Report on `run_ids` (sweeps expand to their variants), a RunSet already read, or the latest sweep of `experiment`."""
    if isinstance(run_ids, RunSet):
        runset = run_ids
        store = runset.store or RunStore(uri)
    else:
        store = RunStore(uri)
        runset = store.load_runs(run_ids or [store.latest_sweep_id(experiment or "local-smoke")])
    if gates is None:
        gates = store.gates_of_sweep(runset.sweep_id) if runset.sweep_id else GatesSpec()
    if baseline_variant is not None:
        gates = gates.model_copy(update={"baseline": BaselineSpec(variant=baseline_variant)})
    baselines = None
    if gates.baseline is not None and (gates.baseline.run_id or gates.baseline.tag):
        baselines = resolve_baselines(store, gates.baseline, runset.runs, runset.experiment)
    with tempfile.TemporaryDirectory() as tmp:
        report = build_decision(runset.runs, gates, runset.experiment, runset.sweep_id, runset.smoke, store, Path(tmp), baselines)
    out_dir.mkdir(parents=True, exist_ok=True)
    images: dict[str, str] = {}
    for i, f in enumerate(report.frontiers):
        name = f"pareto_{f.y_metric.split('/')[-1]}_vs_{f.x_metric.split('/')[-1]}.png"
        frontier_plot(f, out_dir / name, report.recommendation.chosen)
        images[f"frontier {i + 1}"] = name
    latency_vs_load_plot(report.runs, out_dir / "latency_vs_load.png")
    images["latency vs load"] = "latency_vs_load.png"
    knobs = knob_table(report)
    (out_dir / "report.md").write_text(markdown(report, images, knobs))
    (out_dir / "report.html").write_text(to_html(report, images, knobs))
    report.table.to_csv(out_dir / "table.csv")
    knobs.write_csv(out_dir / CSV_FILE)
    rec = report.recommendation
    (out_dir / "recommendation.json").write_text(json.dumps({
        "recommended": rec.chosen, "objective": rec.objective, "value": rec.value, "interval": rec.interval,
        "tied": rec.tied, "tie_outcomes": rec.outcomes, "tie_equivalent": rec.equivalent, "decided_by": rec.decided_by, "compared_by": rec.method, "confident": rec.confident, "level": rec.level,
        "sentence": rec.sentence().replace("**", ""),
        "verdicts": [asdict(v) for v in rec.verdicts],
        "frontiers": [{"x": f.x_metric, "y": f.y_metric, "on": f.on, "dominated_by": f.dominated_by, "missing": f.missing,
                       "compared_by": f.methods, "by_point": f.by_point, "on_by_inconclusive": f.uncertain} for f in report.frontiers],
        "differences": [{**asdict(d), "significant": d.significant} for d in report.differences],
        "performance": {"baseline": report.perf.baseline.run.name if report.perf and report.perf.baseline.run else None,
                        "note": report.perf.note() if report.perf else "",
                        "differences": [{"metric": d.metric, "baseline": d.baseline, "variant": d.variant, "verdict": d.verdict,
                                         "text": d.text(), **({"ratio": d.difference.ratio, "low": d.difference.low,
                                                              "high": d.difference.high, "method": d.difference.method,
                                                              "n": d.difference.n} if d.difference else {})}
                                        for d in (report.perf.items if report.perf else [])]},
        "flags": report.flags,
    }, indent=2, default=str))
    files = sorted(p for p in out_dir.iterdir() if p.is_file())
    logged = None
    if log_artifacts and runset.sweep_id:
        store.attach(runset.sweep_id, out_dir, REPORT_DIR)
        if report.recommendation.chosen:
            store.set_tag(runset.sweep_id, Tag.RECOMMENDED, report.recommendation.chosen)
        logged = runset.sweep_id
    return PublishedReport(report, out_dir, files, logged)
