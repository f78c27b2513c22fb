"""Three outcomes in every report comparison (issue 17): equivalent within +-m, better/worse, or inconclusive with what
it would take; Holm over the performance family; the judge, stars, frontier, recommendation and the differences
table all reading the same adjusted outcome; repeats shown next to the median below 6."""

from __future__ import annotations

import numpy as np
import pytest

from harness.report.compare import compare
from harness.report.decision import build_decision
from harness.report.judge import Judge
from harness.report.pareto import Point, frontier
from harness.report.recommend import recommend
from harness.spec.gates import GatesSpec
from harness.stats.compare import paired_difference
from harness.stats.estimate import median_ci
from harness.tracking.differences import run_difference
from harness.tracking.reader import RunRecord, RunSet

T, L = "perf/output_tokens_per_s", "perf/ttft_p95_ms"
Z = np.array([1.2, -0.8, 0.3, -1.5, 0.9, 0.1, -0.4, 1.6, -0.6, -0.8])
Z = (Z - Z.mean()) / Z.std(ddof=1)  # a fixed standard pattern: mean 0, sd 1


def variant(name: str, blocks: dict[str, list[float]]) -> RunRecord:
    """A variant run as the pipeline logs one with repeats (as tests/unit/report/test_verdicts.py builds them)."""
    reps = [{m: values[i] for m, values in blocks.items()} for i in range(len(next(iter(blocks.values()))))]
    metrics = {"perf/error_rate": 0.0, "repeats/count": float(len(reps))}
    for m, values in blocks.items():
        e = median_ci(values)
        metrics[m] = e.value
        if e.has_interval:
            metrics[m + "_ci_low"], metrics[m + "_ci_high"] = e.low, e.high
    return RunRecord(f"id-{name}", name, "0", "s", "ok", metrics, {}, {"harness.ci_method": "repeats-median"}, reps)


def runs_with(ratios: dict[str, np.ndarray], base: np.ndarray | None = None) -> list[RunRecord]:
    """Variants whose throughput is the baseline's (block drift shared) times the given per-block ratios."""
    drift = 100.0 * np.exp(0.2 * Z[::-1]) if base is None else base
    return [variant(n, {T: list(drift * r)}) for n, r in ratios.items()]


def test_a_tight_a_a_pair_is_equivalent_within_5_percent_and_as_good_a_choice():
    runs = runs_with({"a": np.ones(10), "b": np.exp(0.001 + 0.005 * Z)})
    d = run_difference(runs[0], runs[1], T, higher_is_better=True)
    assert d.verdict == "equivalent" and "equivalent within +-5%" in d.text()
    rec = recommend(runs, GatesSpec())
    assert rec.equivalent and sorted(rec.tied) == ["a", "b"] and rec.decided_by == "name"
    text = rec.sentence()
    assert "are equivalent within +-5% on perf/output_tokens_per_s" in text and "as good a choice" in text


def test_a_noisy_a_a_pair_is_inconclusive_with_what_it_would_take_never_as_good():
    runs = runs_with({"a": np.ones(10)[:4], "b": np.exp(0.12 * Z[:4] - 0.12 * Z[:4].mean())},
                     base=100.0 * np.exp(0.2 * Z[:4]))
    d = run_difference(runs[0], runs[1], T, higher_is_better=True)
    assert d.verdict == "inconclusive" and "could not detect less than" in d.text() and "more blocks would detect 5%" in d.text()
    assert d.difference.mde > 0.1 and d.difference.needed > 4
    rec = recommend(runs, GatesSpec())
    text = rec.sentence()
    assert not rec.equivalent and "inconclusive, not shown equivalent" in text and "could not detect less than" in text
    assert "as good" not in text


def test_a_clear_20_percent_difference_is_better_and_worse():
    runs = runs_with({"a": np.ones(10), "b": np.exp(np.log(1.2) + 0.02 * Z)})
    assert run_difference(runs[0], runs[1], T, higher_is_better=True).verdict == "better"
    assert run_difference(runs[1], runs[0], T, higher_is_better=True).verdict == "worse"
    rec = recommend(runs, GatesSpec())
    assert rec.chosen == "b" and not rec.tied and "better with confidence" in rec.sentence()


def _borderline() -> dict[str, np.ndarray]:
    """b: 3% more throughput with p ~ 0.02 against a (10 blocks); c..f: a again, with a little noise of their own."""
    rng = np.random.default_rng(3)
    out = {"a": np.ones(10), "b": np.exp(0.03 + 0.0336 * Z)}
    for n in "cdef":
        out[n] = np.exp(rng.normal(0, 0.03, 10))
    return out


def test_holm_turns_a_borderline_perf_verdict_inconclusive_when_the_family_grows():
    ratios = _borderline()
    raw = paired_difference(T, 100.0 * ratios["a"], 100.0 * ratios["b"], higher_is_better=True)
    assert raw.verdict == "better" and 0.01 < raw.p_value < 0.03
    two = runs_with({n: ratios[n] for n in "ab"})
    judge = Judge()
    judge.prepare(two, [(T, True)])
    assert judge.compare(two[1], two[0], T).verdict == "better" and judge.families == {"performance": 1}
    six = runs_with(ratios)
    judge = Judge()
    judge.prepare(six, [(T, True)])
    j = judge.compare(six[1], six[0], T)
    d = j.difference.difference
    assert judge.families == {"performance": 15} and d.correction == "holm" and d.p_adjusted > 0.05
    assert j.verdict == "inconclusive" and judge.compare(six[0], six[1], T).verdict == "inconclusive"  # both ways


def test_table_stars_frontier_and_recommendation_agree_with_the_adjusted_verdicts():
    runs = runs_with(_borderline())
    for r in runs:  # one quality score for all: the frontier is decided by throughput alone
        r.metrics["quality/gsm8k/exact_match_flexible"] = 0.5
    r = build_decision(runs, GatesSpec(), "exp", "s", smoke=False)
    d = r.perf.of("b", T)
    assert d.verdict == "inconclusive" and d.difference.correction == "holm" and d.difference.family == 15
    assert "Holm over 15 objective" in r.perf.note()  # the objective (out tok/s by default) is a family of its own
    assert any(line.startswith("b out tok/s: inconclusive after Holm over 15 (p ") and "could not detect less than" in line
               for line in r.perf.details()), r.perf.details()
    # b has the highest point value; a is not shown worse than it after the correction: both starred, a tie
    assert {"a", "b"} <= set(r.tied["out tok/s"])
    rec = r.recommendation
    assert "a" in rec.tied and "inconclusive" in rec.outcomes["a"] and "as good" not in rec.sentence()
    tp = r.frontiers[0]
    assert "a" not in tp.dominated_by and "b" not in tp.dominated_by  # nobody is dominated by an undecided verdict
    c = compare(RunSet(runs, "s", "exp"), gates=GatesSpec())
    assert c.differences.of("b", T).verdict == "inconclusive" and {"a", "b"} <= set(c.tied["out tok/s"])


def test_frontier_says_when_membership_rests_on_an_inconclusive_comparison():
    from harness.report.judge import Judgement

    verdicts = {("a", "b", "x"): "inconclusive", ("a", "b", "y"): "worse",  # a: worse on y, x undecided
                ("b", "a", "x"): "inconclusive", ("b", "a", "y"): "better"}
    f = frontier([Point("a", 1.0, 1.0), Point("b", 1.0, 2.0)], T, "quality/x",
                 compare=lambda axis, p, q: Judgement(verdicts[(p, q, axis)], True, "paired t on log-ratios"))
    assert f.dominated_by == {"a": ["b"]}
    verdicts = {("a", "b", "x"): "inconclusive", ("a", "b", "y"): "inconclusive",
                ("b", "a", "x"): "inconclusive", ("b", "a", "y"): "inconclusive"}
    f = frontier([Point("a", 1.0, 1.0), Point("b", 1.1, 2.0)], T, "quality/x",
                 compare=lambda axis, p, q: Judgement(verdicts[(p, q, axis)], True, "paired t on log-ratios"))
    assert sorted(f.on) == ["a", "b"] and f.uncertain == {"a": ["b"], "b": ["a"]}
    assert "on the frontier only because a comparison was inconclusive: a (vs b)" in f.note()


def test_fewer_than_6_repeats_are_shown_next_to_the_median():
    runs = [variant("a", {T: [118.0, 123.0, 131.0]}), variant("b", {T: [v * 1.5 for v in range(100, 110)]})]
    c = compare(RunSet(runs, "s", "exp"), gates=GatesSpec())
    text = c.render()
    assert "123.0 (118.0, 123.0, 131.0)" in text and "the repeats themselves" in text
    assert "[" in next(line for line in text.splitlines() if line.startswith("b "))  # 10 repeats: the interval
    r = build_decision(runs, GatesSpec(), "exp", "s", smoke=False)
    assert r.repeats[("a", "out tok/s")] == (118.0, 123.0, 131.0) and ("b", "out tok/s") not in r.repeats


@pytest.mark.parametrize("spec", [{}, {"recommend": {"margin": 0.02}}])
def test_old_specs_keep_working_with_the_new_margins(spec):
    g = GatesSpec.model_validate(spec)
    assert g.recommend.equivalence_margin == 0.05 and g.recommend.quality_equivalence_margin == 0.02
    assert g.recommend.margin == spec.get("recommend", {}).get("margin", 0.0)


def test_the_objective_is_corrected_over_the_variants_not_over_every_secondary_metric():
    """A study of 3 variants logging many secondary metrics: the objective's verdict is adjusted over its own 3
    comparisons (family PRIMARY), so a clear 7% effect stays decided however many secondary metrics are logged."""
    from harness.report.judge import PRIMARY

    rng = np.random.default_rng(5)
    drift = 100.0 * np.exp(0.2 * Z[::-1])
    ratios = {"a": np.ones(10), "b": np.exp(-0.07 + 0.03 * Z), "c": np.exp(rng.normal(0, 0.03, 10))}
    others = [f"perf/other_{i}" for i in range(20)]  # secondary metrics: pure noise
    runs = [variant(n, {T: list(drift * r), **{m: list(rng.normal(100, 5, 10)) for m in others}}) for n, r in ratios.items()]
    many = [(T, True)] + [(m, True) for m in others]
    judge = Judge()
    judge.prepare(runs, many, primary=[T])
    assert judge.families[PRIMARY] == 3 and judge.families["performance"] == 60
    own = judge.compare(runs[1], runs[0], T)
    assert own.verdict == "worse"
    pooled = Judge()
    pooled.prepare(runs, many)  # everything in one family: the same effect is adjusted over 63
    assert pooled.families["performance"] == 63
    assert pooled.compare(runs[1], runs[0], T).difference.difference.p_adjusted > own.difference.difference.p_adjusted


def test_the_report_judges_a_design_target_with_the_designs_own_margin():
    """An adaptive sweep decided `equivalent within +-10%` on its target: the report (default margin 5%) must say the
    same, not `inconclusive, not shown equivalent within 5%` (SweepParam.TARGET carries the margins to the report)."""
    from harness.tracking.contract import SweepParam

    margins = SweepParam.target_margins(SweepParam.targets({T: 0.1, "perf/tpot_p50_ms": 0.25}))
    assert margins == {T: 0.1, "perf/tpot_p50_ms": 0.25} and SweepParam.target_margins("") == {}
    runs = runs_with({"a": np.ones(10), "b": np.exp(0.02 + 0.06 * Z)})  # within 10%, not provably within 5%
    plain, own = Judge(), Judge(margins=margins)
    assert plain.compare(runs[1], runs[0], T).verdict == "inconclusive"
    j = own.compare(runs[1], runs[0], T)
    assert j.verdict == "equivalent" and "within +-10%" in j.detail
