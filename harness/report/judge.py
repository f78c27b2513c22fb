"""Is variant a better than variant b on a metric? One of four outcomes, the same everywhere in one report.

`Judge.compare(a, b, metric)` is the outcome of a against b: better / worse / equivalent (within +-m) /
inconclusive (with what it would take):
  - from their repeats: paired by block within a sweep, else unpaired (harness.tracking.differences);
  - for a quality score without repeats: the paired bootstrap over the documents both scored (when the
    report read the samples), else a normal interval from the logged lm-eval stderrs; for fidelity, the
    logged bootstrap intervals;
  - otherwise by point value ("point"): better/worse by the values, inconclusive when equal or within `margin`
    (never "equivalent": that needs an interval).
`prepare(runs, metrics)` makes every comparison of the report up front (each pair of runs on each metric, both
ways) and adjusts their p-values by Holm within each family (the objective's own, then performance, quality,
fidelity: the metric's prefix), so a better/worse that does not survive the correction is inconclusive. The Pareto frontiers, the
recommendation, the best-in-column stars, the differences against the baseline and the quality significance
section all read these ADJUSTED outcomes, so one report never disagrees with itself.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.report.significance import Difference as Bootstrap
from harness.report.significance import paired_bootstrap
from harness.stats.compare import DEFAULT_EQUIVALENCE, Difference
from harness.stats.multiple import FAMILY_CORRECTION, adjust
from harness.stats.power import mdd_normal, n_to_detect
from harness.tracking.contract import higher_is_better
from harness.tracking.differences import DEFAULT_SCORE_EQUIVALENCE, RunDifference, difference
from harness.tracking.reader import RunRecord

Samples = dict[str, dict[str, dict[int, float]]]
"""run id -> quality metric -> document id -> score (harness.report.significance.read_samples)."""
BOOTSTRAP = "paired bootstrap"
"""The method of a comparison from per-document samples (`Judge.bootstrap`)."""


PRIMARY = "objective"
"""The family of the primary metric's comparisons (`prepare(primary=...)`): adjusted apart from the secondary ones."""


def family_of(metric: str) -> str:
    """The family a metric's comparisons are corrected in: quality, fidelity, or performance (everything else)."""
    head = metric.split("/", 1)[0]
    return head if head in ("quality", "fidelity") else "performance"


@dataclass(frozen=True)
class Judgement:
    """The outcome of one variant against another on one metric."""

    verdict: str
    """better | worse | equivalent | inconclusive (of the first against the second)."""
    confident: bool
    """From an interval; False: from point values."""
    method: str
    detail: str = ""
    """The outcome with what it would take: `equivalent within +-5%`, `inconclusive: could not detect less than
    23%; ~40 more blocks would detect 5%` ('' for point values)."""
    difference: RunDifference | None = None
    """The (adjusted) difference behind it, baseline = the second run."""


class Judge:
    def __init__(self, level: float = 0.95, margin: float = 0.0, samples: Samples | None = None, resamples: int = 2000,
                 equivalence: float = DEFAULT_EQUIVALENCE, score_equivalence: float = DEFAULT_SCORE_EQUIVALENCE,
                 margins: dict[str, float] | None = None):
        self.level, self.margin, self.samples, self.resamples = level, margin, samples or {}, resamples
        self.equivalence, self.score_equivalence = equivalence, score_equivalence
        self.margins = dict(margins or {})
        """Metric -> its own equivalence margin (an adaptive sweep's `repeats.target`: the margin its design decided
        with), over `equivalence` for that metric, so the report and the design answer with one margin."""
        self._cache: dict[tuple[str, str, str], Judgement] = {}
        self._boots: dict[tuple[str, str, str], Bootstrap | None] = {}
        self.families: dict[str, int] = {}
        """Family -> number of comparisons adjusted over (FAMILY_CORRECTION; one per pair of runs and metric)."""

    @classmethod
    def of(cls, rec, samples: Samples | None = None, margins: dict[str, float] | None = None) -> "Judge":
        """A judge with the levels and margins of a RecommendSpec (gates.recommend), and per-metric margins."""
        return cls(1.0 - rec.alpha, rec.margin, samples, rec.bootstrap_samples, rec.equivalence_margin,
                   rec.quality_equivalence_margin, margins)

    def point(self, a: float, b: float, higher: bool) -> str:
        """Point comparison: inconclusive when equal, or within `margin` of each other (relative)."""
        if a == b or (self.margin and b != 0 and abs(a / b - 1.0) < self.margin):
            return "inconclusive"
        return "better" if (a > b) == higher else "worse"

    def compare(self, a: RunRecord, b: RunRecord, metric: str, higher: bool | None = None) -> Judgement:
        higher = higher_is_better(metric) if higher is None else higher
        key = (a.run_id, b.run_id, metric)
        if key not in self._cache:
            self._cache[key] = self._raw(a, b, metric, higher)
        return self._cache[key]

    def difference(self, baseline: RunRecord, variant: RunRecord, metric: str, higher: bool | None = None) -> RunDifference:
        """The (adjusted, once prepared) difference of `variant` against `baseline`: what the tables print."""
        j = self.compare(variant, baseline, metric, higher)
        return j.difference or RunDifference(metric, baseline.name, variant.name, None, j.method)

    def prepare(self, runs: Sequence[RunRecord], metrics: Iterable[tuple[str, bool]],
                pairs: Iterable[tuple[RunRecord, RunRecord]] = (), primary: Iterable[str] = ()) -> None:
        """Every comparison of the report, made now and Holm-adjusted per family: each unordered pair of `runs`
        (and each extra (baseline, variant) pair, e.g. a variant and its baseline from another sweep) on each
        (metric, higher is better). Both directions share one p-value and count once in the family. The `primary`
        metrics (the objective: the question the study asks) form a family of their own (PRIMARY), so the answer
        to that question is corrected over the variants only, not over every secondary metric."""
        metrics = list(dict.fromkeys(metrics))
        primary = frozenset(primary)
        couples = [(runs[i], runs[j]) for i in range(len(runs)) for j in range(i + 1, len(runs))]
        couples += [(b, v) for b, v in pairs if b.run_id != v.run_id]
        seen: set[tuple[str, str, str]] = set()
        found: dict[str, list[tuple[tuple[str, str, str], tuple[str, str, str], float]]] = {}
        for metric, higher in metrics:
            for x, y in couples:
                there, back = (y.run_id, x.run_id, metric), (x.run_id, y.run_id, metric)
                if there in seen or not self._comparable(x, y, metric):
                    continue
                seen |= {there, back}
                self._cache[there] = self._raw(y, x, metric, higher)
                self._cache[back] = self._raw(x, y, metric, higher)
                d = self._cache[there].difference
                if d is not None and d.decided and d.difference is not None and not math.isnan(d.difference.p_value):
                    fam = PRIMARY if metric in primary else family_of(metric)
                    found.setdefault(fam, []).append((there, back, d.difference.p_value))
        for fam, items in found.items():
            self.families[fam] = len(items)
            for (there, back, _), p in zip(items, adjust([p for _, _, p in items], FAMILY_CORRECTION)):
                for key in (there, back):
                    self._cache[key] = self._adjusted(self._cache[key], p, len(items))

    @staticmethod
    def _adjusted(j: Judgement, p: float, family: int) -> Judgement:
        rd = j.difference
        if rd is None or rd.difference is None:
            return j
        d = rd.difference.adjusted(p, family, FAMILY_CORRECTION)
        return Judgement(d.verdict, j.confident, j.method, d.outcome_text(),
                         RunDifference(rd.metric, rd.baseline, rd.variant, d, rd.reason))

    def _comparable(self, a: RunRecord, b: RunRecord, metric: str) -> bool:
        """Both logged `metric`, or both scored its documents (the paired bootstrap needs no logged value)."""
        if a.metric(metric) is not None and b.metric(metric) is not None:
            return True
        return bool(self.samples.get(a.run_id, {}).get(metric) and self.samples.get(b.run_id, {}).get(metric))

    def bootstrap(self, variant: RunRecord, baseline: RunRecord, metric: str) -> Bootstrap | None:
        """The paired bootstrap of `variant` against `baseline` over the documents both scored (None: a run has no
        samples of `metric`), unadjusted. One resampling per pair of runs and metric, cached: the other direction is its mirror."""
        key, back = (variant.run_id, baseline.run_id, metric), (baseline.run_id, variant.run_id, metric)
        if key not in self._boots:
            if back in self._boots:
                other = self._boots[back]
                self._boots[key] = other.mirrored() if other is not None else None
            else:
                sv, sb = self.samples.get(variant.run_id, {}).get(metric), self.samples.get(baseline.run_id, {}).get(metric)
                self._boots[key] = paired_bootstrap(sb, sv, metric, (baseline.name, variant.name), self.resamples,
                                                    1.0 - self.level) if sv is not None and sb is not None else None
        return self._boots[key]

    def _bootstrap(self, a: RunRecord, b: RunRecord, metric: str, higher: bool) -> RunDifference | None:
        """The paired bootstrap of a (variant) against b (baseline) over the documents both scored, as a difference.
        What it would take: the paired MDD for 0/1 scores (significance.detectable_drop), else the normal one from the
        bootstrap's stderr (harness.stats.power.mdd_normal), and the documents that would detect the margin."""
        boot = self.bootstrap(a, b, metric)
        if boot is None or boot.n < 2 or not boot.baseline_mean > 0:
            return None
        m, base = self.score_equivalence, boot.baseline_mean
        reach = boot.mdd if not math.isnan(boot.mdd) else mdd_normal(boot.stderr, 1.0 - self.level)
        d = Difference(metric, boot.variant_mean / base, 1.0 + boot.ci_low / base, 1.0 + boot.ci_high / base,
                       boot.outcome(m, higher, self.margin), self.level, boot.n,
                       f"{BOOTSTRAP} over {boot.n} documents", higher, self.margin, boot.p_value, m, reach,
                       n_to_detect(boot.n, reach, m), "documents", absolute=True)
        return RunDifference(metric, b.name, a.name, d)

    def _raw(self, a: RunRecord, b: RunRecord, metric: str, higher: bool) -> Judgement:
        """a against b before the family's correction."""
        va, vb = a.metric(metric), b.metric(metric)
        boot = None if a.run_id == b.run_id else self._bootstrap(a, b, metric, higher)
        if boot is None and (va is None or vb is None):
            return Judgement("inconclusive", False, "not logged")
        if a.run_id == b.run_id:
            return Judgement("equivalent", True, "the same run")
        diff = boot or difference(
            b, a, metric, higher_is_better=higher, level=self.level, margin=self.margin,
            equivalence=self.margins.get(metric, self.equivalence), score_equivalence=self.score_equivalence)
        if diff.decided and diff.difference is not None:
            d = diff.difference
            return Judgement(d.verdict, True, d.method, d.outcome_text(), diff)
        why = "no samples or stderrs" if metric.startswith("quality") and diff.reason == "not enough data: 1 repeat" else diff.reason
        return Judgement(self.point(va, vb, higher), False, f"point value ({why})", "", diff)

    def tied_with_best(self, runs: Iterable[RunRecord], metric: str, higher: bool | None = None
                       ) -> tuple[RunRecord | None, list[RunRecord], list[Judgement]]:
        """(the best by point value, every run not shown worse than it — itself first —, the judgements made)."""
        higher = higher_is_better(metric) if higher is None else higher
        have = [r for r in runs if r.metric(metric) is not None]
        if not have:
            return None, [], []
        best = min(have, key=lambda r: ((-1 if higher else 1) * (r.metric(metric) or 0.0), r.name))
        tied, made = [best], []
        for r in have:
            if r is best:
                continue
            j = self.compare(r, best, metric, higher)
            made.append(j)
            if j.verdict != "worse":
                tied.append(r)
        return best, tied, made


def how(judgements: Iterable[Judgement]) -> str:
    """`paired t on log-ratios` / `point value (not enough data: 1 repeat)`: the methods used, once each."""
    return "; ".join(dict.fromkeys(j.method for j in judgements)) or "-"


def correction_note(judge: Judge) -> str:
    """`Holm over 4 objective and 12 performance and 4 quality comparisons`, or '' (the families: Judge.prepare)."""
    if not judge.families:
        return ""
    parts = [f"{n} {fam}" for fam, n in judge.families.items()]
    return f"{FAMILY_CORRECTION.capitalize()} over {' and '.join(parts)} comparison{'s' * (sum(judge.families.values()) != 1)}"
