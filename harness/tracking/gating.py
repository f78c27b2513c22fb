"""Evaluate gates on run records: pure functions, no MLflow (shared by CI gates and the recommendation)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from harness.spec.gates import Bound, GatesSpec, RelativeBound
from harness.tracking.reader import RunRecord

Status = Literal["pass", "fail", "error", "skip"]

EXIT_PASS, EXIT_GATE_FAILED, EXIT_RUN_FAILED = 0, 1, 2


@dataclass(frozen=True)
class GateCheck:
    """One gate on one run."""

    run_id: str
    variant: str
    gate: str
    """Human name, e.g. `slo: perf/ttft_p95_ms <= 500`."""
    kind: Literal["run", "slo", "quality_floor", "relative"]
    metric: str | None
    status: Status
    value: float | None = None
    limit: float | None = None
    baseline_value: float | None = None
    baseline_run_id: str | None = None
    message: str = ""


@dataclass
class GateReport:
    checks: list[GateCheck] = field(default_factory=list)

    @property
    def run_failed(self) -> bool:
        return any(c.kind == "run" and c.status != "pass" for c in self.checks)

    @property
    def gate_failed(self) -> bool:
        return any(c.kind != "run" and c.status in ("fail", "error") for c in self.checks)

    @property
    def exit_code(self) -> int:
        if self.run_failed:
            return EXIT_RUN_FAILED
        return EXIT_GATE_FAILED if self.gate_failed else EXIT_PASS

    @property
    def verdict(self) -> str:
        return {EXIT_PASS: "pass", EXIT_GATE_FAILED: "gate failed", EXIT_RUN_FAILED: "run failed"}[self.exit_code]

    def failed_gates(self) -> list[GateCheck]:
        return [c for c in self.checks if c.status in ("fail", "error")]

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "counts": {s: sum(1 for c in self.checks if c.status == s) for s in ("pass", "fail", "error", "skip")},
            "failed": [c.gate + f" [{c.variant}]" for c in self.failed_gates()],
            "checks": [asdict(c) for c in self.checks],
        }


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def bound_checks(run: RunRecord, kind: Literal["slo", "quality_floor"], metric: str, bound: Bound, missing: str) -> list[GateCheck]:
    value = run.metric(metric)
    out = []
    for side, limit in (("min", bound.min), ("max", bound.max)):
        if limit is None:
            continue
        op = ">=" if side == "min" else "<="
        name = f"{kind}: {metric} {op} {_fmt(limit)}"
        if value is None:
            status: Status = "skip" if missing == "skip" else "error"
            out.append(GateCheck(run.run_id, run.name, name, kind, metric, status, None, limit, message=f"{metric} was not logged by run {run.run_id}"))
            continue
        ok = value >= limit if side == "min" else value <= limit
        msg = f"{metric} = {_fmt(value)} {'meets' if ok else 'violates'} {op} {_fmt(limit)}"
        out.append(GateCheck(run.run_id, run.name, name, kind, metric, "pass" if ok else "fail", value, limit, message=msg))
    return out


def relative_limits(rule: RelativeBound, base: float) -> list[tuple[str, str, float]]:
    """(rule text, op, limit) for each part of a relative rule, given the baseline value."""
    out = []
    if rule.min_ratio is not None:
        out.append((f">= {rule.min_ratio:g} x baseline", ">=", rule.min_ratio * base))
    if rule.max_drop is not None:
        out.append((f">= baseline - {rule.max_drop:g}", ">=", base - rule.max_drop))
    if rule.max_ratio is not None:
        out.append((f"<= {rule.max_ratio:g} x baseline", "<=", rule.max_ratio * base))
    if rule.max_rise is not None:
        out.append((f"<= baseline + {rule.max_rise:g}", "<=", base + rule.max_rise))
    return out


def relative_checks(run: RunRecord, metric: str, rule: RelativeBound, baseline: RunRecord | str | None, missing: str) -> list[GateCheck]:
    texts = [t for t, _, _ in relative_limits(rule, 0.0)]
    if not isinstance(baseline, RunRecord):
        why = baseline or "no baseline run"
        return [GateCheck(run.run_id, run.name, f"relative: {metric} {t}", "relative", metric, "error", run.metric(metric), message=why) for t in texts]
    value, base = run.metric(metric), baseline.metric(metric)
    out = []
    for text, op, limit in relative_limits(rule, base if base is not None else 0.0):
        name = f"relative: {metric} {text}"
        if value is None or base is None:
            who = f"run {run.run_id}" if value is None else f"baseline run {baseline.run_id}"
            status: Status = "skip" if missing == "skip" else "error"
            out.append(GateCheck(run.run_id, run.name, name, "relative", metric, status, value, None, base, baseline.run_id, f"{metric} was not logged by {who}"))
            continue
        ok = value >= limit if op == ">=" else value <= limit
        msg = f"{metric} = {_fmt(value)} vs baseline {baseline.name} {_fmt(base)}: limit {op} {_fmt(limit)} {'met' if ok else 'violated'}"
        out.append(GateCheck(run.run_id, run.name, name, "relative", metric, "pass" if ok else "fail", value, limit, base, baseline.run_id, msg))
    return out


def evaluate(gates: GatesSpec, runs: list[RunRecord], baselines: dict[str, RunRecord | str] | None = None) -> GateReport:
    """Every gate on every run. `baselines`: candidate run id -> its baseline run, or why none was found.

    A run that failed gets one `run` check in error (exit code 2); its metric gates are still
    evaluated on what it measured, so the report shows how far it got.
    """
    baselines = baselines or {}
    report = GateReport()
    for run in runs:
        if run.failed:
            report.checks.append(GateCheck(run.run_id, run.name, "run finished", "run", None, "error", message=(run.error or "the run failed").splitlines()[0][:500]))
        else:
            report.checks.append(GateCheck(run.run_id, run.name, "run finished", "run", None, "pass", message="run finished"))
        for metric, bound in gates.slo.items():
            report.checks += bound_checks(run, "slo", metric, bound, gates.missing)
        for metric, bound in gates.quality_floor.items():
            report.checks += bound_checks(run, "quality_floor", metric, bound, gates.missing)
        for metric, rule in gates.relative.items():
            report.checks += relative_checks(run, metric, rule, baselines.get(run.run_id), gates.missing)
    return report


def passes(gates: GatesSpec, run: RunRecord, baseline: RunRecord | str | None) -> tuple[bool, list[str]]:
    """Does one run meet every gate? With the reasons it does not (used by the recommendation)."""
    report = evaluate(gates, [run], {run.run_id: baseline} if baseline is not None else {})
    # the "run finished" check is the recommendation's own "run failed: ..." reason: not said twice
    bad = [c.message or c.gate for c in report.checks if c.status in ("fail", "error") and c.kind != "run"]
    return not bad, bad
