"""One comparison per pair of runs (issue 17 review): the judge resamples each pair once (the other direction is its
mirror), the quality significance section reads the judge's bootstraps and its one family adjustment, and the
baseline of one sweep is chosen by one function (harness.tracking.baselines) for the report and adaptive repeats."""

from __future__ import annotations

import numpy as np
import pytest

from harness.report.decision import compare_quality, report_judge
from harness.report.differences import choose_baseline
from harness.report.judge import Judge
from harness.report.significance import paired_bootstrap
from harness.spec.gates import BaselineSpec, GatesSpec
from harness.tracking.baselines import baseline_name, sweep_baseline
from harness.tracking.reader import RunRecord

Q = "quality/gsm8k/exact_match_flexible"


def scored(rng: np.random.Generator, names: list[str], docs: int = 300) -> tuple[list[RunRecord], dict]:
    """Variants with per-document 0/1 scores (a little worse each) and the logged means, as a report reads them."""
    runs, samples = [], {}
    for i, name in enumerate(names):
        s = {d: float(rng.random() < 0.7 - 0.06 * i) for d in range(docs)}
        runs.append(RunRecord(f"id-{name}", name, "0", "s", "ok", {Q: float(np.mean(list(s.values())))}))
        samples[f"id-{name}"] = {Q: s}
    return runs, samples


def test_each_pair_is_resampled_once_and_both_directions_agree():
    runs, samples = scored(np.random.default_rng(3), ["a", "b", "c"])
    judge = Judge(samples=samples)
    judge.prepare(runs, [(Q, True)])
    assert len(judge._boots) == 6  # 3 pairs, both directions; one resampling each pair (the reverse is mirrored)
    a, c = runs[0], runs[2]
    there, back = judge.bootstrap(c, a, Q), judge.bootstrap(a, c, Q)
    assert back == there.mirrored() and back.baseline == "c" and back.delta == -there.delta
    fresh = paired_bootstrap(samples["id-c"][Q], samples["id-a"][Q], Q, ("c", "a"), judge.resamples, 1.0 - judge.level)
    for x, y in ((back.ci_low, fresh.ci_low), (back.ci_high, fresh.ci_high), (back.p_value, fresh.p_value)):
        assert x == pytest.approx(y, abs=1e-12)  # the mirror is the resampling the other way, up to rounding
    forward, reverse = judge.compare(c, a, Q), judge.compare(a, c, Q)
    assert {forward.verdict, reverse.verdict} in ({"better", "worse"}, {"inconclusive"}, {"equivalent"})
    assert forward.difference.difference.p_adjusted == reverse.difference.difference.p_adjusted


def test_quality_section_reads_the_judges_bootstraps_and_family():
    runs, samples = scored(np.random.default_rng(5), ["base", "a", "b", "c"])
    gates = GatesSpec.model_validate({"baseline": {"variant": "base"}})
    choice = choose_baseline(runs, gates)
    judge = report_judge(runs, [(Q, "gsm8k flex", True)], gates, samples, choice)
    diffs, note = compare_quality(samples, True, runs, choice.run, gates, judge)
    assert len(diffs) == 3 and judge.families["quality"] == 6
    assert "over the 6 quality comparisons of this report" in note
    for d, r in zip(diffs, runs[1:]):
        own = judge.difference(runs[0], r, Q).difference
        assert d.p_value == own.p_value and d.p_adjusted == own.p_adjusted and d.family == 6
        assert d is not judge.bootstrap(r, runs[0], Q) and d.delta == judge.bootstrap(r, runs[0], Q).delta
    alone, alone_note = compare_quality(samples, True, runs, choice.run, gates)  # no judge: these 3 alone
    assert [d.family for d in alone] == [3, 3, 3] and "over the 3 quality comparisons against the baseline" in alone_note
    assert [d.delta for d in alone] == [d.delta for d in diffs] and all(a.p_adjusted <= d.p_adjusted for a, d in zip(alone, diffs))


def test_one_function_names_the_baseline_of_a_sweep():
    ok, bad = RunRecord("1", "a", "0", "s", "ok"), RunRecord("2", "b", "0", "s", "failed")
    assert baseline_name(BaselineSpec(variant="b"), ["a", "b"]) == "b"
    assert baseline_name(BaselineSpec(variant="z"), ["a", "b"]) == "a" and baseline_name(None, []) is None
    assert sweep_baseline(None, [bad, ok]) is ok  # none configured: the first finished
    assert sweep_baseline(BaselineSpec(variant="a"), [ok, bad]) is ok
    assert sweep_baseline(BaselineSpec(variant="b"), [ok, bad]) == "baseline variant 'b' failed"
    assert "'z' is not among the compared runs (['a', 'b'])" in sweep_baseline(BaselineSpec(variant="z"), [ok, bad])
    assert sweep_baseline(BaselineSpec(run_id="r1"), [ok]) is None  # another sweep's: resolve_baselines
