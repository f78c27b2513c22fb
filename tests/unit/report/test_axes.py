"""The recommendation's objective and the Pareto axes follow what the runs measured: capacity at the SLO is the
headline performance metric where a search found it, and the quality axis is a quality column the runs have."""

from __future__ import annotations

import random

from harness.report.columns import resolved_axes
from harness.report.compare import compare
from harness.report.decision import build_decision
from harness.spec.gates import GatesSpec, RecommendSpec
from harness.tracking.reader import RunRecord, RunSet

CAP = "perf/capacity_rps_at_slo"


def _runs(capacity: dict[str, float], tps: dict[str, float], repeats: int = 5, **extra: float) -> list[RunRecord]:
    """Variants with `repeats` noisy repeats' intervals around the given medians (capacity and tok/s)."""
    rng = random.Random(3)
    out = []
    for name in capacity:
        m = {CAP: capacity[name], f"{CAP}_ci_low": capacity[name] * 0.9, f"{CAP}_ci_high": capacity[name] * 1.1,
             "perf/capacity_bracketed": 1.0, "perf/capacity_searches": 1.0, "perf/capacity_measurements": 4.0 + rng.random(),
             "perf/output_tokens_per_s": tps[name], "perf/ttft_p95_ms": 100.0, "perf/error_rate": 0.0, **extra}
        out.append(RunRecord(f"id-{name}", name, "0", "s", "ok", m, {}, {"harness.repeats": str(repeats)}))
    return out


def test_capacity_is_the_objective_and_the_throughput_axis_when_searched():
    # b has the higher tok/s at its capacity point, a the higher capacity: capacity decides
    runs = _runs({"a": 60.0, "b": 15.0}, {"a": 5000.0, "b": 9000.0}, **{"quality/gsm8k/exact_match_flexible": 0.4})
    r = build_decision(runs, GatesSpec(), "exp", "s", smoke=False)
    assert r.recommendation.objective == CAP and r.recommendation.chosen == "a"
    assert [f.x_metric for f in r.frontiers][0] == CAP
    without_quality = build_decision(_runs({"a": 60.0, "b": 15.0}, {"a": 5000.0, "b": 9000.0}), GatesSpec(), "exp", "s", smoke=False)
    assert without_quality.frontiers == []  # nothing measured on the quality axis: no frontier is drawn
    c = compare(RunSet(runs, "s", "exp"), gates=GatesSpec())
    header = c.render().splitlines()[1]
    assert "capacity rps@SLO" in header and header.index("capacity rps@SLO") < header.index("out tok/s")


def test_a_spec_that_names_its_objective_keeps_it():
    runs = _runs({"a": 60.0, "b": 15.0}, {"a": 5000.0, "b": 9000.0}, **{"quality/gsm8k/exact_match_flexible": 0.4})
    gates = GatesSpec.model_validate({"recommend": {"objective": "perf/output_tokens_per_s",
                                                    "throughput_metric": "perf/output_tokens_per_s"}})
    r = build_decision(runs, gates, "exp", "s", smoke=False)
    assert r.recommendation.objective == "perf/output_tokens_per_s" and r.recommendation.chosen == "b"
    assert r.frontiers[0].x_metric == "perf/output_tokens_per_s"


def test_without_a_search_throughput_stays_the_default():
    rec = resolved_axes(RecommendSpec(), [RunRecord("i", "a", "0", "s", "ok", {"perf/output_tokens_per_s": 5.0}, {}, {})])
    assert rec.objective == "perf/output_tokens_per_s" and rec.throughput_metric == "perf/output_tokens_per_s"


def test_the_search_bookkeeping_is_not_a_difference_with_a_verdict():
    base, other = _runs({"a": 60.0, "b": 15.0}, {"a": 5000.0, "b": 9000.0})
    gates = GatesSpec.model_validate({"baseline": {"variant": "a"}})
    r = build_decision([base, other], gates, "exp", "s", smoke=False)
    assert CAP in r.perf.metrics and r.perf.metrics[0] == CAP
    assert not any(m in r.perf.metrics for m in ("perf/capacity_bracketed", "perf/capacity_searches", "perf/capacity_measurements"))


def test_the_quality_axis_is_a_task_the_runs_ran_else_fidelity():
    params = {"quality.task.mc_facts.lm_eval_task": "harness_mc_facts"}
    mc = [RunRecord(f"id-{n}", n, "0", "s", "ok", {"perf/output_tokens_per_s": t, "quality/mc_facts/acc": q,
                                                   "quality/mc_facts/acc_norm": q}, params, {})
          for n, t, q in (("bf16", 10.0, 0.7), ("fp8", 9.0, 0.6))]
    assert resolved_axes(RecommendSpec(), mc).quality_metric == "quality/mc_facts/acc_norm"
    r = build_decision(mc, GatesSpec(), "exp", "s", smoke=False)
    assert r.frontiers[0].y_metric == "quality/mc_facts/acc_norm" and r.frontiers[0].on == ["bf16"]
    fid = [RunRecord("i", "a", "0", "s", "ok", {"perf/output_tokens_per_s": 1.0, "fidelity/top1_agreement": 0.9,
                                                "fidelity/kl": 0.01}, {}, {})]
    assert resolved_axes(RecommendSpec(), fid).quality_metric == "fidelity/top1_agreement"
    assert [f.y_metric for f in build_decision(fid, GatesSpec(), "exp", "s", smoke=False).frontiers][0] == "fidelity/top1_agreement"
    no_load = [RunRecord("i", "a", "0", "s", "ok", {"fidelity/top1_agreement": 0.9}, {}, {})]
    assert build_decision(no_load, GatesSpec(), "exp", "s", smoke=False).frontiers == []  # no throughput axis measured
    named = RecommendSpec(quality_metric="quality/ifeval/prompt_level_strict_acc")
    assert resolved_axes(named, mc).quality_metric == "quality/ifeval/prompt_level_strict_acc"  # the spec's choice kept
