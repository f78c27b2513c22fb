"""The recommendation: the variant with the best objective among those meeting every gate."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.report.judge import Judge, how
from harness.spec.gates import GatesSpec
from harness.tracking.baselines import sweep_baseline
from harness.tracking.contract import ERROR_RATE, KNOB_BITS_PER_WEIGHT, KNOB_MAX_NUM_SEQS, KNOB_PARALLEL, higher_is_better
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
    tied: list[str] = field(default_factory=list)
    """Eligible variants not shown worse than the best on the objective (best first; equivalent or inconclusive);
    one name or none: no tie."""
    decided_by: str = "objective"
    """The rule that picked `chosen`: objective, or a tie-break rule (higher quality ..., lower latency ..., fewer
    resources ..., name)."""
    method: str = ""
    """How the objective was compared: the interval's method, or point value (no interval)."""
    confident: bool = False
    """The objective's verdicts came from intervals (repeats); False: from point values only."""
    level: float = 0.95
    higher: bool = True
    interval: tuple[float, float] | None = None
    """The chosen variant's logged interval of the objective."""
    margin: float = 0.0
    outcomes: dict[str, str] = field(default_factory=dict)
    """Each tied variant other than the best -> its outcome against the best, with what it would take
    (`equivalent within +-5%`, `inconclusive: could not detect less than 23%; ~40 more blocks would detect 5%`)."""

    @property
    def equivalent(self) -> bool:
        """Every tied variant was shown equivalent to the best (TOST): only then is any of them 'as good a choice'."""
        return bool(self.outcomes) and all(o.startswith("equivalent") for o in self.outcomes.values())

    def _tie(self) -> str:
        basis = f"at {self.level:.0%}" if self.confident else "within the margin" if self.margin else "by point value"
        if self.equivalent:
            return f"{', '.join(self.tied)} are {next(iter(self.outcomes.values()))} on {self.objective} ({self.method})"
        said = "; ".join(f"{n}: {o}" for n, o in self.outcomes.items() if not o.startswith("equivalent"))
        return (f"{', '.join(self.tied)} could not be told apart on {self.objective} {basis} ({self.method}): "
                f"inconclusive, not shown equivalent" + (f" ({said})" if said else ""))

    def sentence(self) -> str:
        if self.chosen is None:
            return f"no variant meets every gate ({len(self.verdicts)} checked); relax an SLO or floor, or add variants"
        base = f"; relative floors against {self.baseline}" if self.baseline else ""
        value = f"{self.value:.4g}" + (f" [{self.interval[0]:.4g}, {self.interval[1]:.4g}]" if self.interval else "")
        if len(self.tied) > 1:
            tail = ""
            if self.decided_by == "name":
                tail = (" (any of them is as good a choice)" if self.equivalent else
                        " (the data cannot tell them apart; more repeats could separate them)")
            return f"{self._tie()}; recommend **{self.chosen}**: the tie is broken by {self.decided_by}{base}{tail}"
        best = "highest" if self.higher else "lowest"
        text = f"recommend **{self.chosen}**: {best} {self.objective} ({value}) among the variants meeting every SLO and quality floor{base}"
        eligible = sum(v.eligible for v in self.verdicts)
        if eligible > 1:
            text += (f"; better with confidence at {self.level:.0%} ({self.method})" if self.confident else
                     f"; compared by {self.method}: without an interval a second run may reverse it (measure with repeats)")
        return text


TieRule = tuple[str, str, bool, bool]
"""(rule text, metric, higher is better, judged with intervals)."""


def tie_rules(gates: GatesSpec) -> list[TieRule]:
    """The stated order: higher quality, then lower latency, then fewer resources, then (in recommend) the name."""
    rec = gates.recommend
    return [
        (f"higher quality ({rec.quality_metric})", rec.quality_metric, True, True),
        (f"lower latency ({rec.latency_metric})", rec.latency_metric, False, True),
        *[(f"fewer resources ({k} lower)", k, False, False) for k in (KNOB_BITS_PER_WEIGHT, KNOB_MAX_NUM_SEQS, KNOB_PARALLEL)],
    ]


def break_tie(tied: list[RunRecord], rules: list[TieRule], judge: Judge) -> tuple[RunRecord, str]:
    """Apply the rules in order, each keeping the variants not worse than its best (with confidence for measured
    metrics, exactly for knobs), until one is left; the rest go by name."""
    left = list(tied)
    for text, metric, higher, measured in rules:
        have = [r for r in left if r.metric(metric) is not None]
        if not have:
            continue
        if measured:
            _, keep, _ = judge.tied_with_best(have, metric, higher)
        else:
            best = min((r.metric(metric) or 0.0) * (-1 if higher else 1) for r in have)
            keep = [r for r in have if (r.metric(metric) or 0.0) * (-1 if higher else 1) == best]
        kept = {r.run_id for r in keep}
        left = [r for r in left if r.run_id in kept]
        if len(left) == 1:
            return left[0], text
    return min(left, key=lambda r: r.name), "name"


def in_sweep_baselines(gates: GatesSpec, runs: list[RunRecord]) -> dict[str, RunRecord | str]:
    """Baselines for relative rules when the baseline is a variant of the same run set (harness.tracking.baselines)."""
    found = sweep_baseline(gates.baseline, runs) if gates.baseline is not None else None
    return {} if found is None else {r.run_id: found for r in runs}


def recommend(runs: list[RunRecord], gates: GatesSpec, baselines: dict[str, RunRecord | str] | None = None,
              judge: Judge | None = None) -> Recommendation:
    """Eligible = finished, meets every gate, has the objective; best = best objective (direction from the metric).

    Variants not shown worse than the best on the objective (harness.report.judge: equivalent or inconclusive, from
    intervals where there are repeats after the report's Holm correction, else by point value and `margin`) are a
    tie, broken by `tie_rules` (higher quality, lower latency, fewer resources), then the name. Only a tie shown
    equivalent is "as good a choice"; an inconclusive one is said as such, with what it would take.
    """
    rec = gates.recommend
    higher = higher_is_better(rec.objective)
    if judge is None:  # the report passes its prepared judge; alone, a judge of the comparisons made here
        judge = Judge.of(rec)
        judge.prepare([r for r in runs if not r.failed],
                      [(rec.objective, higher), (rec.quality_metric, True), (rec.latency_metric, False)])
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
    eligible = [r for v, r in zip(verdicts, runs) if v.eligible]
    base = gates.baseline.variant if gates.baseline is not None else None
    level = 1.0 - rec.alpha
    if not eligible:
        return Recommendation(None, rec.objective, None, verdicts, base, level=level, higher=higher)
    best, tied, made = judge.tied_with_best(eligible, rec.objective, higher)
    assert best is not None
    chosen, decided_by = (best, "objective") if len(tied) == 1 else break_tie(tied, tie_rules(gates), judge)
    names = [r.name for r in tied] if len(tied) > 1 else []
    outcomes = {r.name: (j.detail or j.verdict) for r, j in ((r, judge.compare(r, best, rec.objective, higher)) for r in tied[1:])}
    return Recommendation(chosen.name, rec.objective, chosen.metric(rec.objective), verdicts, base, names, decided_by, how(made),
                          bool(made) and all(j.confident for j in made), level, higher, chosen.interval(rec.objective), rec.margin,
                          outcomes)
