"""Evaluate gates on run records: pure functions, no MLflow (shared by CI gates and the recommendation).

Gates that do not flap: an SLO or floor can be checked on a bound of the logged interval (`on: ci_high |
ci_low`). A relative rule with `significant: true` is a non-inferiority test: it passes only when the bound of the
candidate / baseline interval on the regression side (harness.tracking.differences, level 1 - alpha) clears the
rule's limit, so a run too noisy (or too short) to show it fails rather than passes. Each check carries the
interval and the outcome.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

from harness.spec.gates import Bound, GatesSpec, RelativeBound
from harness.tracking.differences import DEFAULT_EQUIVALENCE, DEFAULT_SCORE_EQUIVALENCE, difference
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
    """Relative rules with significant: better | worse | equivalent | inconclusive | no verdict, of the candidate
    against the baseline."""
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
                    level: float = 0.95, equivalence: float = DEFAULT_EQUIVALENCE,
                    score_equivalence: float = DEFAULT_SCORE_EQUIVALENCE) -> list[GateCheck]:
    sig = f" (non-inferior at {level:.0%})" if rule.significant else ""
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
            ok, msg = _non_inferior(name, baseline, run, metric, op, limit, base, rule, level, equivalence, score_equivalence,
                                    msg, extra)
        out.append(GateCheck(run.run_id, run.name, name, "relative", metric, "pass" if ok else "fail", value, limit, base,
                             baseline.run_id, msg, **extra))
    return out


def _non_inferior(name: str, baseline: RunRecord, run: RunRecord, metric: str, op: str, limit: float, base: float,
                  rule: RelativeBound, level: float, equivalence: float, score_equivalence: float, msg: str,
                  extra: dict) -> tuple[bool, str]:
    """Non-inferiority: the bound of the candidate / baseline interval on the regression side (low end for a floor,
    high end for a ceiling), times the baseline, must clear the limit (widened by `margin` x baseline). No interval:
    not shown, fails. Returns (passes, message) and fills `extra` with the outcome and the ratio interval."""
    if baseline.run_id == run.run_id:
        ok = base >= limit if op == ">=" else base <= limit
        return ok, f"{msg}; {name}: the baseline itself ({'passes' if ok else 'FAILS'} by its value)"
    diff = difference(baseline, run, metric, higher_is_better=op == ">=", level=level, equivalence=equivalence,
                      score_equivalence=score_equivalence)
    extra["verdict"] = diff.verdict
    widen = (rule.margin or 0.0) * base
    threshold = limit - widen if op == ">=" else limit + widen
    d = diff.difference
    if d is None or not diff.decided or math.isnan(d.low) or math.isnan(d.high):
        return False, (f"{msg}; {name}: FAILS, non-inferiority not shown: {diff.text()} (no interval, so no bound to "
                       f"check against the threshold {op} {_fmt(threshold)})")
    extra |= {"ratio": d.ratio, "ratio_low": d.low, "ratio_high": d.high}
    side, ratio = ("low", d.low) if op == ">=" else ("high", d.high)
    bound = ratio * base
    ok = bound >= threshold if op == ">=" else bound <= threshold
    verb = "clears" if ok else "does not clear"
    why = "" if ok else (" (the interval is too wide to show it: more repeats or samples)" if d.verdict == "inconclusive"
                         else "")
    return ok, (f"{msg}; {name}: {'passes' if ok else 'FAILS'}: the {level:.0%} interval's {side} end {_fmt(bound)} "
                f"(x{ratio:.3f} baseline) {verb} the threshold {op} {_fmt(threshold)}{why}; vs baseline {diff.text()}")


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
            rec = gates.recommend
            report.checks += relative_checks(run, metric, rule, baselines.get(run.run_id), gates.missing, 1.0 - rec.alpha,
                                             rec.equivalence_margin, rec.quality_equivalence_margin)
    return report


def passes(gates: GatesSpec, run: RunRecord, baseline: RunRecord | str | None) -> tuple[bool, list[str]]:
    """Does one run meet every gate? With the reasons it does not (used by the recommendation)."""
    report = evaluate(gates, [run], {run.run_id: baseline} if baseline is not None else {})
    # the "run finished" check is the recommendation's own "run failed: ..." reason: not said twice
    bad = [c.message or c.gate for c in report.checks if c.status in ("fail", "error") and c.kind != "run"]
    return not bad, bad
