"""Is variant a better than variant b on a metric? With confidence where the data allow it, else by point value.

`Judge.compare(a, b, metric)` is the verdict of a against b:
  - from their repeats: paired by block within a sweep, else unpaired (harness.tracking.differences);
  - for a quality score without repeats: the paired bootstrap over the documents both scored (when the
    report read the samples), else a normal interval from the logged lm-eval stderrs;
  - otherwise by point value ("point"), where only `margin` makes two values a tie.
Every verdict needs the interval at `level` to exclude no change and the change to be at least `margin`
(relative). The Pareto frontiers, the recommendation and the best-in-column marks all ask the same judge,
so they agree with each other and with the differences shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from harness.report.significance import paired_bootstrap
from harness.tracking.contract import higher_is_better
from harness.tracking.differences import difference
from harness.tracking.reader import RunRecord

Samples = dict[str, dict[str, dict[int, float]]]
"""run id -> quality metric -> document id -> score (harness.report.significance.read_samples)."""


@dataclass(frozen=True)
class Judgement:
    """The verdict of one variant against another on one metric."""

    verdict: str
    """better | worse | indistinguishable (of the first against the second)."""
    confident: bool
    """From an interval; False: from point values."""
    method: str


class Judge:
    def __init__(self, level: float = 0.95, margin: float = 0.0, samples: Samples | None = None, resamples: int = 2000):
        self.level, self.margin, self.samples, self.resamples = level, margin, samples or {}, resamples
        self._cache: dict[tuple[str, str, str], Judgement] = {}

    def point(self, a: float, b: float, higher: bool) -> str:
        """Point comparison: a tie only when equal, or within `margin` of each other (relative)."""
        if a == b or (self.margin and b != 0 and abs(a / b - 1.0) < self.margin):
            return "indistinguishable"
        return "better" if (a > b) == higher else "worse"

    def compare(self, a: RunRecord, b: RunRecord, metric: str, higher: bool | None = None) -> Judgement:
        higher = higher_is_better(metric) if higher is None else higher
        key = (a.run_id, b.run_id, metric)
        if key not in self._cache:
            self._cache[key] = self._compare(a, b, metric, higher)
        return self._cache[key]

    def _compare(self, a: RunRecord, b: RunRecord, metric: str, higher: bool) -> Judgement:
        va, vb = a.metric(metric), b.metric(metric)
        if va is None or vb is None:
            return Judgement("indistinguishable", False, "not logged")
        if a.run_id == b.run_id:
            return Judgement("indistinguishable", True, "the same run")
        sa, sb = self.samples.get(a.run_id, {}).get(metric), self.samples.get(b.run_id, {}).get(metric)
        if sa and sb:
            d = paired_bootstrap(sb, sa, metric, (b.name, a.name), self.resamples, 1.0 - self.level)
            if d.n >= 2:
                relevant = not self.margin or (d.baseline_mean > 0 and abs(d.delta) / d.baseline_mean >= self.margin)
                verdict = "indistinguishable" if not (d.significant and relevant) else (
                    "better" if (d.delta > 0) == higher else "worse")
                return Judgement(verdict, True, f"paired bootstrap over {d.n} documents")
        diff = difference(b, a, metric, higher_is_better=higher, level=self.level, margin=self.margin)
        if diff.decided and diff.difference is not None:
            return Judgement(diff.verdict, True, diff.difference.method)
        why = "no samples or stderrs" if metric.startswith("quality") and diff.reason == "not enough data: 1 repeat" else diff.reason
        return Judgement(self.point(va, vb, higher), False, f"point value ({why})")

    def tied_with_best(self, runs: Iterable[RunRecord], metric: str, higher: bool | None = None
                       ) -> tuple[RunRecord | None, list[RunRecord], list[Judgement]]:
        """(the best by point value, every run not worse than it — itself first —, the judgements made)."""
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
