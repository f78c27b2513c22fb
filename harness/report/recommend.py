"""The recommendation: the variant with the best objective among those meeting every gate."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.spec.gates import GatesSpec
from harness.tracking.contract import ERROR_RATE
from harness.tracking.gating import passes
from harness.tracking.reader import RunRecord


@dataclass(frozen=True)
class Verdict:
    name: str
    run_id: str
    eligible: bool
    objective: float | None
    reasons: list[str] = field(default_factory=list)
    """Why it is not eligible (failed run, violated SLO or floor, missing metric)."""


@dataclass(frozen=True)
class Recommendation:
    chosen: str | None
    objective: str
    value: float | None
    verdicts: list[Verdict]
    baseline: str | None
    """Baseline variant of the relative floors, if any."""

    def sentence(self) -> str:
        if self.chosen is None:
            return f"no variant meets every gate ({len(self.verdicts)} checked); relax an SLO or floor, or add variants"
        base = f"; relative floors against {self.baseline}" if self.baseline else ""
        return f"recommend **{self.chosen}**: highest {self.objective} ({self.value:.4g}) among the variants meeting every SLO and quality floor{base}"


def in_sweep_baselines(gates: GatesSpec, runs: list[RunRecord]) -> dict[str, RunRecord | str]:
    """Baselines for relative rules when the baseline is a variant of the same run set."""
    spec = gates.baseline
    if spec is None or spec.variant is None or spec.run_id is not None or spec.tag is not None:
        return {}
    found = [r for r in runs if r.name == spec.variant]
    if not found:
        why = f"baseline variant '{spec.variant}' is not among the compared runs ({sorted(r.name for r in runs)})"
        return {r.run_id: why for r in runs}
    base = found[-1]
    if base.failed:
        return {r.run_id: f"baseline variant '{spec.variant}' failed" for r in runs}
    return {r.run_id: base for r in runs}


def recommend(runs: list[RunRecord], gates: GatesSpec, baselines: dict[str, RunRecord | str] | None = None) -> Recommendation:
    """Eligible = finished, meets every gate, has the objective; best = highest objective.

    Ties on the objective go to higher quality (gates.recommend.quality_metric), then lower
    latency (latency_metric), then the name.
    """
    rec = gates.recommend
    baselines = in_sweep_baselines(gates, runs) if baselines is None else baselines
    verdicts: list[Verdict] = []
    for run in runs:
        reasons: list[str] = []
        if run.failed:
            reasons.append("run failed: " + (run.error.splitlines()[0] if run.error else run.status))
        ok, why = passes(gates, run, baselines.get(run.run_id))
        reasons += why
        errors = run.metric(ERROR_RATE)
        if errors is not None and errors > rec.max_error_rate:
            reasons.append(f"degraded: {ERROR_RATE} {errors:.3g} > {rec.max_error_rate:g} (gates.recommend.max_error_rate)")
        value = run.metric(rec.objective)
        if value is None:
            reasons.append(f"{rec.objective} was not logged")
        verdicts.append(Verdict(run.name, run.run_id, not reasons, value, reasons))
    eligible = [(v, r) for v, r in zip(verdicts, runs) if v.eligible]

    def key(pair: tuple[Verdict, RunRecord]) -> tuple:
        v, r = pair
        q = r.metric(rec.quality_metric)
        lat = r.metric(rec.latency_metric)
        return (-(v.objective or 0.0), -(q if q is not None else -1e300), lat if lat is not None else 1e300, v.name)

    base = gates.baseline.variant if gates.baseline is not None else None
    if not eligible:
        return Recommendation(None, rec.objective, None, verdicts, base)
    best, _ = min(eligible, key=key)
    return Recommendation(best.name, rec.objective, best.objective, verdicts, base)
