"""Verdicts on hand-made runs with repeats (no MLflow): ties instead of winners from noise, a real slowdown found and
dominated, tie-break rules named, every tied value starred, differences against the baseline."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.report.compare import compare
from harness.report.decision import build_decision
from harness.report.pareto import Point, frontier
from harness.report.recommend import recommend
from harness.report.render import markdown
from harness.spec.gates import GatesSpec
from harness.stats.estimate import median_ci
from harness.stats.simulate import measure_blocks
from harness.tracking.differences import run_difference
from harness.tracking.reader import RunRecord, RunSet

Q, T, L = "quality/gsm8k/exact_match_flexible", "perf/output_tokens_per_s", "perf/ttft_p95_ms"


def variant(name: str, blocks: dict[str, list[float]], quality: float | None = 0.5, sweep: str = "s", **extra: float) -> RunRecord:
    """A variant run as the pipeline logs one with repeats: each metric the median over repeats with its interval."""
    reps = [{m: values[i] for m, values in blocks.items()} for i in range(len(next(iter(blocks.values()))))]
    metrics = {"perf/error_rate": 0.0, "repeats/count": float(len(reps)), **extra}
    if quality is not None:
        metrics[Q] = quality
        reps[0][Q] = quality
    for m, values in blocks.items():
        e = median_ci(values)
        metrics[m] = e.value
        if e.has_interval:
            metrics[m + "_ci_low"], metrics[m + "_ci_high"] = e.low, e.high
    method = "repeats-median" if len(reps) > 1 else "none"
    return RunRecord(f"id-{name}", name, "0", sweep, "ok", metrics, {}, {"harness.ci_method": method}, reps if len(reps) > 1 else [])


def pair(levels: dict[str, tuple[float, float]], repeats: int, seed: int, scale_to: dict[str, float] | None = None) -> list[RunRecord]:
    """Interleaved measurements of throughput and latency (harness.stats.simulate's noise), one run per variant."""
    rng = np.random.default_rng(seed)
    tp = measure_blocks({n: t for n, (t, _) in levels.items()}, repeats, rng, higher_is_better=True)
    lat = measure_blocks({n: lat for n, (_, lat) in levels.items()}, repeats, rng)
    if scale_to:  # put the medians exactly where a test wants them (a constant factor: the noise is unchanged)
        tp = {n: [v * scale_to[n] / float(np.median(tp[n])) for v in tp[n]] for n in tp}
    return [variant(n, {T: tp[n], L: lat[n]}) for n in levels]


def test_identical_variants_are_a_tie_not_a_winner_from_a_0_4_percent_difference():
    runs = pair({"a": (181.0, 200.0), "b": (181.0, 200.0)}, 10, seed=11, scale_to={"a": 180.8, "b": 181.5})
    assert runs[0].metric(T) == pytest.approx(180.8) and runs[1].metric(T) == pytest.approx(181.5)
    rec = recommend(runs, GatesSpec())
    assert rec.tied == ["b", "a"] and rec.confident
    text = rec.sentence()
    assert "b, a could not be told apart on perf/output_tokens_per_s at 95% (paired t on log-ratios): inconclusive" in text
    assert "could not detect less than" in text and "more blocks would detect 5%" in text and "as good" not in text
    assert rec.decided_by != "objective" and f"broken by {rec.decided_by}" in rec.sentence()
    assert "highest" not in rec.sentence()
    # both throughput values are starred as the best in compare's table, and neither is dominated
    c = compare(RunSet(runs, "s", "exp"), gates=GatesSpec())
    assert c.tied["out tok/s"] == ["b", "a"]
    text = c.render()
    assert text.count(" *") >= 4 and "every value not shown worse than it at 95% (equivalent or inconclusive" in text
    assert "[" in text.splitlines()[2]  # value [low, high]
    r = build_decision(runs, GatesSpec(), "exp", "s", smoke=False)
    assert all(f.on == ["a", "b"] or sorted(f.on) == ["a", "b"] for f in r.frontiers)
    d = r.perf.of("b", T)
    assert d.verdict == "inconclusive" and d.difference.method == "paired t on log-ratios" and d.difference.n == 10
    assert r.table.loc["a", "recommended"] in ("yes", "tie") and r.table.loc["b", "recommended"] in ("yes", "tie")


def test_a_a_over_many_trials_rarely_names_a_winner():
    g = GatesSpec()
    winners = sum(not recommend(pair({"a": (181.0, 200.0), "b": (181.0, 200.0)}, 10, seed=s), g).tied for s in range(300))
    assert winners / 300 <= 0.05 + 0.02  # A/A: "different" at most alpha + 2% tolerance


def test_one_repeat_picks_by_point_value_and_says_so_or_ties_within_the_margin():
    runs = [variant("a", {T: [180.8]}), variant("b", {T: [181.5]})]
    rec = recommend(runs, GatesSpec())
    assert rec.chosen == "b" and not rec.confident and not rec.tied
    assert "compared by point value (not enough data: 1 repeat)" in rec.sentence() and "may reverse it" in rec.sentence()
    rec = recommend(runs, GatesSpec.model_validate({"recommend": {"margin": 0.02}}))
    assert rec.tied == ["b", "a"] and "within the margin" in rec.sentence()


def test_a_20_percent_slower_variant_with_10_repeats_is_worse_and_dominated():
    runs = pair({"fast": (200.0, 100.0), "slow": (160.0, 125.0)}, 10, seed=5)
    r = build_decision(runs, GatesSpec(), "exp", "s", smoke=False)
    assert r.recommendation.chosen == "fast" and not r.recommendation.tied and r.recommendation.confident
    assert "better with confidence at 95%" in r.recommendation.sentence()
    assert r.perf.baseline.run.name == "fast" and "no baseline configured" in r.perf.baseline.note
    assert r.perf.of("slow", T).verdict == "worse" and r.perf.of("slow", L).verdict == "worse"
    tp, lat = r.frontiers
    assert tp.dominated_by == {"slow": ["fast"]} and lat.dominated_by == {"slow": ["fast"]}
    assert tp.by_point == [Q] and "paired t on log-ratios" in tp.note()  # quality had no interval: said so
    md = markdown(r, {})
    assert "## Performance differences (verdicts)" in md and "worse" in md and "| slow |" in md


def test_a_b_over_many_trials_finds_the_slowdown():
    found = 0
    for s in range(200):
        runs = pair({"fast": (200.0, 100.0), "slow": (160.0, 125.0)}, 10, seed=1000 + s)
        d = run_difference(runs[0], runs[1], T, higher_is_better=True)
        found += d.verdict == "worse"
        assert d.verdict != "better"
    assert found / 200 >= 0.9


def test_unpaired_across_sweeps_and_no_verdict_with_one_repeat():
    a = pair({"a": (100.0, 50.0)}, 6, seed=1)[0]
    b = variant("b", {T: [v * 0.7 for v in a.repeat_values(T).values()], L: list(a.repeat_values(L).values())}, sweep="other")
    d = run_difference(a, b, T, higher_is_better=True)
    assert d.difference.method == "unpaired Welch t on logs" and "other sweeps" in d.reason and d.verdict == "worse"
    one = variant("one", {T: [90.0]})
    d = run_difference(a, one, T, higher_is_better=True)
    assert d.verdict == "no verdict" and d.text() == "no verdict: not enough data: one has 1 repeat"
    d = run_difference(variant("x", {T: [1.0]}), one, T, higher_is_better=True)
    assert d.reason == "not enough data: 1 repeat"


def test_tie_broken_by_quality_then_resources_and_the_rule_is_named():
    runs = pair({"a": (181.0, 200.0), "b": (181.0, 200.0)}, 10, seed=11)
    a, b = runs
    hi = RunRecord(a.run_id, a.name, "0", "s", "ok", {**a.metrics, Q: 0.80}, {}, a.tags, a.repeats)
    lo = RunRecord(b.run_id, b.name, "0", "s", "ok", {**b.metrics, Q: 0.60}, {}, b.tags, b.repeats)
    rec = recommend([hi, lo], GatesSpec())
    assert rec.chosen == "a" and rec.decided_by == f"higher quality ({Q})"
    # same quality, latency not shown different: fewer bits per weight decides
    q8 = RunRecord(a.run_id, "fp8", "0", "s", "ok", {**a.metrics, "knob/bits_per_weight": 8.0}, {}, a.tags, a.repeats)
    q16 = RunRecord(b.run_id, "bf16", "0", "s", "ok", {**b.metrics, "knob/bits_per_weight": 16.0}, {}, b.tags, b.repeats)
    rec = recommend([q16, q8], GatesSpec())
    assert rec.chosen == "fp8" and rec.decided_by == "fewer resources (knob/bits_per_weight lower)"
    assert "the tie is broken by fewer resources (knob/bits_per_weight lower)" in rec.sentence()


def test_pareto_with_intervals_dominates_only_with_confidence():
    from harness.report.judge import Judgement

    pts = [Point("a", 100.0, 0.80), Point("b", 99.0, 0.79), Point("c", 60.0, 0.79)]
    verdicts = {("b", "a", "x"): "inconclusive", ("b", "a", "y"): "inconclusive",
                ("a", "b", "x"): "inconclusive", ("a", "b", "y"): "inconclusive",
                ("c", "a", "x"): "worse", ("c", "a", "y"): "inconclusive",
                ("c", "b", "x"): "worse", ("c", "b", "y"): "inconclusive"}

    def judge(axis, p, q):
        v = verdicts.get((p, q, axis))
        if v is None:  # the reverse pair
            back = verdicts[(q, p, axis)]
            v = {"worse": "better", "better": "worse"}.get(back, back)
        return Judgement(v, True, "paired t on log-ratios")

    f = frontier(pts, T, Q, compare=judge)
    # b is lower on both by point value, but within the noise: not dominated; c is slower with confidence: dominated
    assert f.on == ["b", "a"] and f.dominated_by == {"c": ["a", "b"]} and f.by_point == []
    assert f.uncertain == {"a": ["b"], "b": ["a"]} and "only because a comparison was inconclusive" in f.note()
    # the same points by point value: b is dominated by a
    assert frontier(pts, T, Q).dominated_by["b"] == ["a"]


def test_the_configured_baseline_is_used_and_a_missing_one_says_why():
    runs = pair({"a": (100.0, 50.0), "b": (100.0, 50.0)}, 5, seed=2)
    g = GatesSpec.model_validate({"baseline": {"variant": "b"}})
    r = build_decision(runs, g, "exp", "s", smoke=False)
    assert r.perf.baseline.run.name == "b" and {d.variant for d in r.perf.items} == {"a"}
    g = GatesSpec.model_validate({"baseline": {"variant": "nope"}})
    c = compare(RunSet(runs, "s", "exp"), gates=g)
    assert c.differences.items == [] and "'nope' is not among the compared runs" in c.render()


def test_run_record_repeats_intervals_and_estimate():
    r = variant("a", {T: [10.0, 12.0, 11.0]})
    assert r.repeat_count == 3 and r.repeat_values(T) == {0: 10.0, 1: 12.0, 2: 11.0}
    assert r.interval(T) is not None and r.ci_method == "repeats-median"
    e = r.estimate(T)
    assert e.value == 11.0 and e.n == 3 and e.has_interval and e.level == 0.95
    single = variant("b", {T: [5.0]})
    assert single.repeats == [] and single.interval(T) is None and math.isnan(single.estimate(T).low)
    blocked = RunRecord("x", "x", "0", "s", "ok", {}, {}, {}, [{T: 1.0}, {T: 2.0}], [3, 7])
    assert blocked.repeat_values(T) == {3: 1.0, 7: 2.0}


def test_error_bars_on_the_frontier_and_one_repeat_intervals_labelled(tmp_path):
    from harness.report.plots import frontier_plot

    runs = pair({"fast": (200.0, 100.0), "slow": (160.0, 125.0)}, 10, seed=5)
    r = build_decision(runs, GatesSpec(), "exp", "s", smoke=False)
    assert r.frontiers[0].points[0].x_interval == runs[0].interval(T)
    assert frontier_plot(r.frontiers[0], tmp_path / "f.png", "fast").read_bytes()[:4] == b"\x89PNG"
    one = RunRecord("x", "x", "0", "s", "ok", {L: 200.0, L + "_ci_low": 180.0, L + "_ci_high": 230.0, T: 100.0},
                    {}, {"harness.ci_method": "requests-bootstrap"})
    other = RunRecord("y", "y", "0", "s", "ok", {L: 150.0, T: 90.0}, {}, {"harness.ci_method": "none"})
    text = compare(RunSet([one, other], "s", "exp"), gates=GatesSpec()).render()
    assert "200.0 [180.0, 230.0]" in text and "decides nothing" in text
    assert "- (1 repeat)" in text  # the difference table: no verdict from one repeat


def test_a_zero_spread_difference_demoted_by_the_correction_still_shows_its_ratio():
    """req/s of closed-loop agentic sessions on the H100 (benchmarks/results/vllm-7b-workloads/agentic): the same
    count in every block (224 vs 256), so no interval; the exact sign test over 6 blocks (p = 0.031) is not
    significant after Holm over 10 comparisons. The cell says so instead of an empty `- ()`."""
    from harness.report.differences import cell
    from harness.stats.compare import paired_difference
    from harness.tracking.differences import RunDifference

    d = paired_difference("perf/requests_per_s", [21.33] * 6, [18.67] * 6, higher_is_better=True)
    assert d.verdict == "worse" and d.p_value == pytest.approx(2 * 0.5 ** 6)
    demoted = d.adjusted(min(1.0, d.p_value * 10), 10)
    text = cell(RunDifference("perf/requests_per_s", "base", "no-prefix-cache", demoted))
    assert text == "x0.875 no interval (zero spread: exact sign test (p = 0.0312), holm p=0.312) inconclusive", text
