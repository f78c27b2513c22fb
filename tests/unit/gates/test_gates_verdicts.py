"""Gates that do not flap: relative rules that need significance, SLOs on an interval bound; JUnit and Markdown show the
interval and the verdict. Quality statistics: Holm over the report's comparisons, the minimum detectable difference."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from harness.gates.outputs import to_junit, to_markdown
from harness.report.decision import compare_quality
from harness.report.significance import detectable_drop, paired_bootstrap
from tests.unit.report.family import adjust_family
from harness.spec.gates import GatesSpec
from harness.stats.estimate import median_ci
from harness.tracking.gating import evaluate
from harness.tracking.reader import RunRecord

L, Q = "perf/ttft_p95_ms", "quality/gsm8k/exact_match_flexible"


def run(name: str, ttft: list[float] | None = None, **metrics: float) -> RunRecord:
    m = {k.replace("__", "/"): v for k, v in metrics.items()}
    reps = []
    if ttft is not None:
        e = median_ci(ttft)
        m[L] = e.value
        if e.has_interval:
            m[L + "_ci_low"], m[L + "_ci_high"] = e.low, e.high
        reps = [{L: v} for v in ttft] if len(ttft) > 1 else []
    return RunRecord(f"id-{name}", name, "0", "sweep", "ok", m, {}, {"harness.ci_method": "repeats-median" if reps else "none"}, reps)


RULE = {"relative": {L: {"max_ratio": 1.05, "significant": True}}, "baseline": {"variant": "base"}}


def _relative(gates: dict, base: RunRecord, cand: RunRecord):
    report = evaluate(GatesSpec.model_validate(gates), [cand], {cand.run_id: base})
    (check,) = [c for c in report.checks if c.kind == "relative"]
    return report, check


def test_non_inferiority_fails_a_low_power_run_and_passes_a_precise_non_inferior_one():
    """issue 17: `significant: true` used to pass every regression that was not significant, i.e. every regression at
    low power. Now the interval's bound on the regression side must clear the limit."""
    rng = np.random.default_rng(7)
    noise = np.exp(rng.normal(0, 0.15, 10))  # block noise both variants share half of
    base = run("base", list(200.0 * noise))
    noisy = run("cand", list(216.0 * noise * np.exp(rng.normal(0, 0.15, 10))))  # ~8% slower, within the noise
    report, c = _relative(RULE, base, noisy)
    assert c.status == "fail" and c.verdict == "inconclusive" and report.exit_code == 1  # low power: not shown, fails
    assert c.ratio_low < 1 < c.ratio_high and c.ratio_high > 1.05
    gate = f"relative: {L} <= 1.05 x baseline (non-inferior at 95%)"
    b = base.metric(L)
    assert c.gate == gate and f"{gate}: FAILS: the 95% interval's high end {c.ratio_high * b:.4g}" in c.message
    assert f"does not clear the threshold <= {1.05 * b:.4g}" in c.message and "too wide" in c.message
    precise = run("cand", list(202.0 * noise * np.exp(np.tile([0.005, -0.005], 5))))  # 1% slower, measured precisely
    report, c = _relative(RULE, base, precise)
    assert c.status == "pass" and report.exit_code == 0 and c.ratio_high < 1.05
    assert f"clears the threshold <= {1.05 * b:.4g}" in c.message and c.verdict == "equivalent"
    slow = run("cand", list(260.0 * noise * np.exp(rng.normal(0, 0.02, 10))))  # 30% slower, clearly
    report, c = _relative(RULE, base, slow)
    assert c.status == "fail" and c.verdict == "worse" and report.exit_code == 1 and c.ratio_low > 1.0
    # an old spec's margin widens the limit: <= (1.05 + 0.5) x baseline
    wide = {"relative": {L: {"max_ratio": 1.05, "significant": True, "margin": 0.5}}, "baseline": {"variant": "base"}}
    c = _relative(wide, base, slow)[1]
    assert c.status == "pass" and f"<= {1.55 * b:.4g}" in c.message


def test_non_inferiority_without_repeats_is_not_shown_and_fails():
    report, c = _relative(RULE, run("base", [200.0]), run("cand", [201.0]))  # within the limit by its point value
    assert c.status == "fail" and c.verdict == "no verdict" and report.exit_code == 1
    assert "non-inferiority not shown: no verdict: not enough data: 1 repeat" in c.message and "<= 210" in c.message


def test_quality_relative_rule_with_significance_uses_the_logged_stderrs():
    rule = {"relative": {Q: {"min_ratio": 0.99, "significant": True}}, "baseline": {"variant": "base"}}
    base = run("base", **{Q: 0.80, Q + "_stderr": 0.02, "quality/gsm8k/samples": 400.0})
    drop = run("cand", **{Q: 0.76, Q + "_stderr": 0.02, "quality/gsm8k/samples": 400.0})
    _, c = _relative(rule, base, drop)
    assert c.status == "fail" and c.verdict == "inconclusive" and "normal on lm-eval stderrs" in c.message
    assert "low end" in c.message and ">= 0.792" in c.message
    precise = {Q + "_stderr": 0.002, "quality/gsm8k/samples": 4000.0}
    _, c = _relative(rule, run("base", **{Q: 0.80, **precise}), run("cand", **{Q: 0.799, **precise}))
    assert c.status == "pass" and c.verdict == "equivalent"
    tight = run("cand", **{Q: 0.76, Q + "_stderr": 0.005})
    _, c = _relative(rule, run("base", **{Q: 0.80, Q + "_stderr": 0.005}), tight)
    assert c.status == "fail" and c.verdict == "worse"


def test_slo_on_the_interval_bound():
    cand = run("a", [430.0, 520.0, 470.0, 500.0, 480.0, 455.0, 530.0, 490.0, 475.0, 510.0])
    low, high = cand.interval(L)
    assert low < 500 < high and cand.metric(L) < 500

    def slo(on: str):
        (c,) = [c for c in evaluate(GatesSpec.model_validate({"slo": {L: {"max": 500, "on": on}}}), [cand]).checks if c.kind == "slo"]
        return c

    assert slo("value").status == "pass" and slo("value").gate == f"slo: {L} <= 500"
    c = slo("ci_high")  # must hold with confidence: it does not
    assert c.status == "fail" and c.checked == "ci_high" and c.gate == f"slo: {L} ci_high <= 500"
    assert f"ci_high {high:.4g} violates <= 500" in c.message and c.interval_text
    assert slo("ci_low").status == "pass"  # fails only when violated with confidence
    # no interval logged: the value is checked, and said so
    (c,) = [c for c in evaluate(GatesSpec.model_validate({"slo": {L: {"max": 500, "on": "ci_high"}}}), [run("b", [450.0])]).checks
            if c.kind == "slo"]
    assert c.status == "pass" and c.checked == "value" and "no interval logged" in c.message


def test_junit_and_markdown_show_the_interval_and_the_verdict():
    rng = np.random.default_rng(7)
    noise = np.exp(rng.normal(0, 0.15, 10))
    jitter = np.exp(np.tile([0.01, -0.01], 5))  # some spread (zero spread has no interval), geometric mean 1
    base, slow = run("base", list(200.0 * noise)), run("cand", list(260.0 * noise * jitter))
    gates = GatesSpec.model_validate({**RULE, "slo": {L: {"max": 250, "on": "ci_high"}}})
    report = evaluate(gates, [slow], {slow.run_id: base})
    root = ET.fromstring(to_junit(report))
    props = {p.get("name"): p.get("value") for tc in root.iter("testcase") if "relative" in tc.get("name")
             for p in tc.iter("property")}
    assert props["verdict"] == "worse" and props["ratio"].startswith("x1.300 [") and "ci_low" in props
    md = to_markdown(report)
    assert "| interval |" in md and "(ci_high)" in md and "x1.300 [" in md and "worse" in md


def test_margin_needs_significance():
    with pytest.raises(ValueError, match="`margin` needs `significant: true`"):
        GatesSpec.model_validate({"relative": {L: {"max_ratio": 1.1, "margin": 0.05}}, "baseline": {"variant": "b"}})


def test_holm_over_all_quality_comparisons_of_a_report():
    n = 200
    base = {i: 1.0 if i < 120 else 0.0 for i in range(n)}
    worse = {i: 1.0 if i < 100 else 0.0 for i in range(n)}  # 20 documents flipped 1 -> 0: p ~ 1e-5
    slight = {**base, 0: 0.0, 1: 0.0, 2: 0.0, 3: 0.0}  # 4 flips: p ~ 0.03
    same = dict(base)
    diffs = [paired_bootstrap(base, v, Q, ("base", name), 4000, 0.05) for name, v in (("worse", worse), ("slight", slight), ("same", same))]
    raw = [d.p_value for d in diffs]
    adjusted = adjust_family(diffs)
    # by hand: sorted raw p1 <= p2 <= p3 -> 3 p1, max(., 2 p2), max(., p3), capped at 1
    order = sorted(range(3), key=lambda i: raw[i])
    expect, running = [0.0] * 3, 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (3 - rank) * raw[i]))
        expect[i] = running
    assert [d.p_adjusted for d in adjusted] == pytest.approx(expect)
    assert 0.025 < raw[1] < 0.05 and adjusted[1].p_adjusted == pytest.approx(min(1.0, 2 * raw[1]))
    assert diffs[1].significant and not adjusted[1].significant  # alone it is significant, among three it is not
    assert adjusted[0].significant and adjusted[0].correction == "holm" and adjusted[0].family == 3
    s = adjusted[1].sentence()
    assert "holm p=" in s and "over 3 comparisons" in s
    assert adjusted[1].significant == (adjusted[1].p_adjusted < 0.05)
    assert not adjusted[2].significant and adjusted[2].p_adjusted == 1.0


def test_compare_quality_adjusts_the_family_and_states_it():
    base_run, a, b = (RunRecord(f"id-{n}", n, "0", "s", "ok", {}) for n in ("base", "a", "b"))
    docs = range(100)
    samples = {"id-base": {Q: {i: float(i < 60) for i in docs}}, "id-a": {Q: {i: float(i < 50) for i in docs}},
               "id-b": {Q: {i: float(i < 59) for i in docs}}}
    diffs, note = compare_quality(samples, True, [base_run, a, b], base_run, GatesSpec())
    assert len(diffs) == 2 and all(d.correction == "holm" and d.family == 2 for d in diffs)
    assert "adjusted by Holm over the 2 quality comparisons" in note
    assert diffs[0].p_adjusted == pytest.approx(min(1.0, 2 * min(d.p_value for d in diffs)))


def test_minimum_detectable_difference_text():
    assert detectable_drop(40, 0.5) == pytest.approx(0.313, abs=0.001)  # the textbook unpaired p=0.5 value
    assert detectable_drop(40, 0.0) == pytest.approx((1.959964 + 0.841621) ** 2 / 40, rel=1e-4)  # 0.196: the floor
    assert detectable_drop(40, 0.18) == detectable_drop(40, 0.0)  # 0.188 < 0.196: a drop that large flips more documents
    assert detectable_drop(40, 0.3) == pytest.approx(0.2426, abs=0.0005)
    assert math.isnan(detectable_drop(0, 0.2))
    base = {i: float(i % 2) for i in range(40)}
    var = {i: float((i + (i % 4 == 0)) % 2) for i in range(40)}  # 10 of 40 documents scored differently
    d = paired_bootstrap(base, var, Q, ("bf16", "awq"))
    assert d.mdd == pytest.approx(detectable_drop(40, 0.25))
    assert d.mdd_text() == f"n=40: drops smaller than {d.mdd:.2f} cannot be detected" and d.mdd_text() in d.sentence()
    assert "n=40: drops smaller than 0.22 cannot be detected" in d.sentence()


def test_on_is_read_from_plain_yaml(tmp_path):
    from harness.spec.gates_file import load_gates_file

    f = tmp_path / "gates.yaml"
    f.write_text("slo:\n  perf/ttft_p95_ms: {max: 500, on: ci_high}\n")  # YAML 1.1 reads a bare `on` as true
    assert load_gates_file(f).slo[L].on == "ci_high"
    f.write_text("slo:\n  perf/ttft_p95_ms: {max: 500, on: ci_middle}\n")
    with pytest.raises(Exception, match="ci_high"):
        load_gates_file(f)
