"""Pareto frontier and recommendation on hand-made tables: ties, a single variant, missing metrics."""

from __future__ import annotations

import math

from harness.report.pareto import Point, dominates, frontier
from harness.report.recommend import recommend
from harness.spec.gates import GatesSpec
from harness.tracking.reader import RunRecord

Q, T, L = "quality/gsm8k/exact_match_flexible", "perf/output_tokens_per_s", "perf/ttft_p95_ms"


def run(name: str, q: float | None, t: float | None, lat: float | None = 100.0, status: str = "ok") -> RunRecord:
    m = {k: v for k, v in ((Q, q), (T, t), (L, lat), ("perf/error_rate", 0.0)) if v is not None}
    return RunRecord(f"id-{name}", name, "0", "s", status, m, {}, {})


def test_frontier_marks_dominated():
    pts = [Point("bf16", 1000, 0.80), Point("fp8", 1500, 0.79), Point("awq", 1400, 0.60), Point("slow", 900, 0.80)]
    f = frontier(pts, T, Q)
    assert f.on == ["bf16", "fp8"]
    assert f.dominated_by == {"awq": ["fp8"], "slow": ["bf16"]}
    assert f.status("awq") == "dominated by fp8" and f.status("fp8") == "frontier"


def test_frontier_lower_is_better_axis():
    pts = [Point("a", 200.0, 0.8), Point("b", 100.0, 0.8), Point("c", 50.0, 0.5)]
    f = frontier(pts, L, Q, x_higher=False)
    assert set(f.on) == {"b", "c"} and f.dominated_by == {"a": ["b"]}


def test_ties_are_both_on_the_frontier():
    pts = [Point("a", 10, 0.5), Point("b", 10, 0.5), Point("c", 10, 0.4)]
    f = frontier(pts, T, Q)
    assert f.on == ["a", "b"] and f.dominated_by == {"c": ["a", "b"]}
    assert not dominates(pts[0], pts[1], True, True)


def test_single_variant_and_missing_metrics():
    assert frontier([Point("only", 5, 0.1)], T, Q).on == ["only"]
    f = frontier([Point("a", 5, None), Point("b", math.nan, 0.3), Point("c", 1, 0.1)], T, Q)
    assert f.on == ["c"] and f.missing == ["a", "b"] and f.status("a") == "n/a"
    assert frontier([], T, Q).on == []


GATES = {"slo": {L: {"max": 500}, "perf/error_rate": {"max": 0.01}}, "quality_floor": {Q: {"min": 0.5}}}


def test_recommend_best_throughput_meeting_slos_and_floor():
    runs = [run("bf16", 0.80, 1000), run("fp8", 0.79, 1500), run("awq", 0.40, 2000), run("big-batch", 0.80, 3000, lat=900.0)]
    r = recommend(runs, GatesSpec.model_validate(GATES))
    assert r.chosen == "fp8" and r.value == 1500
    why = {v.name: v.reasons for v in r.verdicts}
    assert "quality/gsm8k/exact_match_flexible = 0.4 violates >= 0.5" in why["awq"][0]
    assert "perf/ttft_p95_ms" in why["big-batch"][0]
    assert "recommend **fp8**" in r.sentence()


def test_recommend_relative_floor_against_baseline_variant():
    g = GatesSpec.model_validate({"relative": {Q: {"min_ratio": 0.99}}, "baseline": {"variant": "bf16"}})
    runs = [run("bf16", 0.80, 1000), run("fp8", 0.79, 1500), run("awq", 0.78, 2000)]  # 0.99 x 0.80 = 0.792
    r = recommend(runs, g)
    assert r.chosen == "bf16" and r.baseline == "bf16"
    runs[1] = run("fp8", 0.795, 1500)
    assert recommend(runs, g).chosen == "fp8"
    # a baseline variant that is not there: nothing is eligible, and it says why
    r = recommend([run("fp8", 0.79, 1500)], g)
    assert r.chosen is None and "not among the compared runs" in r.verdicts[0].reasons[0]


def test_recommend_ties_go_to_quality_then_latency():
    g = GatesSpec.model_validate({})
    r = recommend([run("a", 0.5, 100, lat=90.0), run("b", 0.6, 100, lat=95.0), run("c", 0.6, 100, lat=80.0)], g)
    assert r.chosen == "c"


def test_recommend_single_failed_or_incomplete():
    g = GatesSpec.model_validate({})
    assert recommend([run("only", 0.1, 5)], g).chosen == "only"
    r = recommend([run("dead", 0.9, 100, status="failed"), run("noperf", 0.9, None)], g)
    assert r.chosen is None and "no variant meets every gate" in r.sentence()
    assert r.verdicts[0].reasons[0].startswith("run failed") and "was not logged" in r.verdicts[1].reasons[0]


def test_a_variant_with_many_errors_is_degraded_and_never_recommended_even_without_gates():
    from harness.report.recommend import recommend
    from harness.spec.gates import GatesSpec
    from harness.tracking.reader import RunRecord

    def run(name, tok_s, err):
        return RunRecord(name, name, "0", None, "ok", {"perf/output_tokens_per_s": tok_s, "perf/error_rate": err})

    rec = recommend([run("fast-but-broken", 900.0, 0.84), run("ok", 100.0, 0.0), run("almost", 120.0, 0.05)], GatesSpec())
    assert rec.chosen == "almost"  # 5% is the bound itself: allowed
    (broken,) = [v for v in rec.verdicts if v.name == "fast-but-broken"]
    assert not broken.eligible and broken.reasons == ["degraded: perf/error_rate 0.84 > 0.05 (gates.recommend.max_error_rate)"]


def test_a_failed_run_is_said_once():
    from harness.report.recommend import recommend
    from harness.spec.gates import GatesSpec
    from harness.tracking.reader import RunRecord

    dead = RunRecord("dies", "dies", "0", None, "failed", {}, {}, {"harness.error": "[server] the server died during the measurement"})
    (v,) = recommend([dead], GatesSpec(slo={"perf/error_rate": {"max": 0.5}})).verdicts
    assert sum("died during the measurement" in r for r in v.reasons) == 1, v.reasons
