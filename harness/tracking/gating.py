"""Evaluate gates on run records: pure functions, no MLflow (shared by CI gates and the recommendation).

Gates that do not flap: an SLO or floor can be checked on a bound of the logged interval (`on: ci_high |
ci_low`), and a relative rule with `significant: true` fails only when the candidate is also worse than the
baseline with confidence (harness.tracking.differences). Each check carries the interval and the verdict.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from harness.spec.gates import Bound, GatesSpec, RelativeBound
from harness.tracking.differences import difference
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
    ci_low: float | None = None
    ci_high: float | None = None
    """The logged interval of the value (None: none logged)."""
    checked: str = "value"
    """What was compared with the limit: value | ci_high | ci_low."""
    verdict: str | None = None
    """Relative rules: better | worse | indistinguishable | no verdict, of the candidate against the baseline."""
    ratio: float | None = None
    ratio_low: float | None = None
    ratio_high: float | None = None
    """Relative rules: candidate / baseline with its interval (when one could be computed)."""

    @property
    def interval_text(self) -> str:
        """`[low, high]` of the value, or ''."""
        return "" if self.ci_low is None or self.ci_high is None else f"[{_fmt(self.ci_low)}, {_fmt(self.ci_high)}]"


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


def _with_interval(value: float, interval: tuple[float, float] | None) -> str:
    return _fmt(value) + (f" [{_fmt(interval[0])}, {_fmt(interval[1])}]" if interval else "")


def bound_checks(run: RunRecord, kind: Literal["slo", "quality_floor"], metric: str, bound: Bound, missing: str) -> list[GateCheck]:
    value, interval = run.metric(metric), run.interval(metric)
    low, high = interval or (None, None)
    out = []
    for side, limit in (("min", bound.min), ("max", bound.max)):
        if limit is None:
            continue
        op = ">=" if side == "min" else "<="
        on = "" if bound.on == "value" else f" {bound.on}"
        name = f"{kind}: {metric}{on} {op} {_fmt(limit)}"
        if value is None:
            status: Status = "skip" if missing == "skip" else "error"
            out.append(GateCheck(run.run_id, run.name, name, kind, metric, status, None, limit, message=f"{metric} was not logged by run {run.run_id}"))
            continue
        checked, x, note = "value", value, ""
        if bound.on != "value":
            if interval is None:
                note = f" (no interval logged, ci_method {run.ci_method}: the value was checked, not {bound.on})"
            else:
                checked, x = bound.on, interval[0] if bound.on == "ci_low" else interval[1]
        ok = x >= limit if side == "min" else x <= limit
        what = f": {checked} {_fmt(x)}" if checked != "value" else ""
        msg = f"{metric} = {_with_interval(value, interval)}{what} {'meets' if ok else 'violates'} {op} {_fmt(limit)}{note}"
        out.append(GateCheck(run.run_id, run.name, name, kind, metric, "pass" if ok else "fail", value, limit, message=msg,
                             ci_low=low, ci_high=high, checked=checked))
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


def relative_checks(run: RunRecord, metric: str, rule: RelativeBound, baseline: RunRecord | str | None, missing: str,
                    level: float = 0.95) -> list[GateCheck]:
    sig = f" (significant at {level:.0%})" if rule.significant else ""
    texts = [t for t, _, _ in relative_limits(rule, 0.0)]
    if not isinstance(baseline, RunRecord):
        why = baseline or "no baseline run"
        return [GateCheck(run.run_id, run.name, f"relative: {metric} {t}{sig}", "relative", metric, "error", run.metric(metric), message=why) for t in texts]
    value, base = run.metric(metric), baseline.metric(metric)
    low, high = run.interval(metric) or (None, None)
    out = []
    for text, op, limit in relative_limits(rule, base if base is not None else 0.0):
        name = f"relative: {metric} {text}{sig}"
        if value is None or base is None:
            who = f"run {run.run_id}" if value is None else f"baseline run {baseline.run_id}"
            status: Status = "skip" if missing == "skip" else "error"
            out.append(GateCheck(run.run_id, run.name, name, "relative", metric, status, value, None, base, baseline.run_id, f"{metric} was not logged by {who}"))
            continue
        within = value >= limit if op == ">=" else value <= limit
        msg = (f"{metric} = {_with_interval(value, run.interval(metric))} vs baseline {baseline.name} "
               f"{_with_interval(base, baseline.interval(metric))}: limit {op} {_fmt(limit)} {'met' if within else 'violated'}")
        extra: dict = {"ci_low": low, "ci_high": high}
        ok = within
        if rule.significant:
            # the regression direction is the rule's: a floor (>=) guards against drops, a ceiling (<=) against rises
            diff = difference(baseline, run, metric, higher_is_better=op == ">=", level=level, margin=rule.margin or 0.0)
            extra["verdict"] = diff.verdict
            if diff.difference is not None and diff.decided:
                extra |= {"ratio": diff.difference.ratio, "ratio_low": diff.difference.low, "ratio_high": diff.difference.high}
                regression = diff.verdict == "worse"
                ok = within or not regression
                if not within:
                    msg += "; a significant regression" if regression else "; not a significant regression: passes"
                msg += f"; vs baseline {diff.text()}"
            else:
                msg += f"; {diff.text()}: the point values decide"
        out.append(GateCheck(run.run_id, run.name, name, "relative", metric, "pass" if ok else "fail", value, limit, base,
                             baseline.run_id, msg, **extra))
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
            report.checks += relative_checks(run, metric, rule, baselines.get(run.run_id), gates.missing, 1.0 - gates.recommend.alpha)
    return report


def passes(gates: GatesSpec, run: RunRecord, baseline: RunRecord | str | None) -> tuple[bool, list[str]]:
    """Does one run meet every gate? With the reasons it does not (used by the recommendation)."""
    report = evaluate(gates, [run], {run.run_id: baseline} if baseline is not None else {})
    # the "run finished" check is the recommendation's own "run failed: ..." reason: not said twice
    bad = [c.message or c.gate for c in report.checks if c.status in ("fail", "error") and c.kind != "run"]
    return not bad, bad
