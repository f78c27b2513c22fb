"""Gates: spec validation, evaluation on hand-made runs, exit codes, JUnit/JSON/Markdown outputs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from harness.errors import SpecError
from harness.gates.outputs import to_junit, to_markdown, write_outputs
from harness.spec import build_spec
from harness.spec.gates import BaselineSpec, GatesSpec
from harness.spec.gates_file import load_gates_file, parse_gates
from harness.tracking.baselines import pick
from harness.tracking.gating import evaluate, passes
from harness.tracking.reader import RunRecord


def run(name: str, status: str = "ok", rid: str | None = None, **metrics: float) -> RunRecord:
    m = {k.replace("__", "/"): v for k, v in metrics.items()}
    return RunRecord(rid or f"id-{name}", name, "0", "sweep", status, m, {}, {"harness.error": "server died"} if status == "failed" else {})


GATES = {
    "slo": {"perf/ttft_p95_ms": {"max": 500}, "perf/error_rate": {"max": 0.01}},
    "quality_floor": {"quality/gsm8k/exact_match_flexible": {"min": 0.3}},
}


def test_spec_gates_section_validates_and_names_bad_fields():
    spec = build_spec({"name": "x", "gates": GATES}, {}, [])
    assert spec.gates.slo["perf/ttft_p95_ms"].max == 500 and not spec.gates.empty
    with pytest.raises(SpecError) as info:
        build_spec({"name": "x", "gates": {"slo": {"ttft_p95_ms": {"max": 500}}}}, {}, [])
    text = "\n".join(info.value.problems)
    assert "gates.slo" in text and "perf/ttft_p95_ms" in text  # names the field and the fix
    with pytest.raises(SpecError, match="give `min`, `max` or both"):
        build_spec({"name": "x", "gates": {"slo": {"perf/error_rate": {}}}}, {}, [])
    with pytest.raises(SpecError, match="need `baseline`"):
        build_spec({"name": "x", "gates": {"relative": {"perf/ttft_p95_ms": {"max_ratio": 1.1}}}}, {}, [])
    with pytest.raises(SpecError, match="gates.slo.perf/error_rate.maxx: unknown field"):
        build_spec({"name": "x", "gates": {"slo": {"perf/error_rate": {"maxx": 1}}}}, {}, [])
    with pytest.raises(SpecError, match="key=value"):
        parse_gates({"relative": {"perf/ttft_p95_ms": {"max_ratio": 1.1}}, "baseline": {"tag": "baseline"}})


def test_every_gates_field_has_a_description():
    from harness.spec import gates as g

    missing = []
    for cls in vars(g).values():
        if isinstance(cls, type) and issubclass(cls, g.Strict) and cls is not g.Strict:
            assert cls.model_config.get("extra") == "forbid", cls
            missing += [f"{cls.__name__}.{n}" for n, f in cls.model_fields.items() if not f.description]
    assert not missing


def test_gates_file_whole_spec_or_section(tmp_path):
    section = tmp_path / "gates.yaml"
    section.write_text("slo:\n  perf/error_rate: {max: 0.01}\n")
    assert load_gates_file(section).slo["perf/error_rate"].max == 0.01
    whole = tmp_path / "spec.yaml"
    whole.write_text("name: x\ngates:\n  quality_floor:\n    quality/ifeval/prompt_level_strict_acc: {min: 0.2}\n")
    assert "quality/ifeval/prompt_level_strict_acc" in load_gates_file(whole).quality_floor
    bad = tmp_path / "bad.yaml"
    bad.write_text("slo:\n  perf/error_rate: {max: lots}\n")
    with pytest.raises(SpecError, match=r"bad.yaml: slo.perf/error_rate.max"):
        load_gates_file(bad)


def test_all_pass_is_exit_0():
    g = GatesSpec.model_validate(GATES)
    r = evaluate(g, [run("a", perf__ttft_p95_ms=500.0, perf__error_rate=0.0, quality__gsm8k__exact_match_flexible=0.3)])
    assert r.exit_code == 0 and r.verdict == "pass"
    assert [c.status for c in r.checks] == ["pass"] * 4  # run + 3 gates; limits are inclusive


def test_violated_slo_is_exit_1_and_named():
    g = GatesSpec.model_validate(GATES)
    r = evaluate(g, [run("a", perf__ttft_p95_ms=501.0, perf__error_rate=0.0, quality__gsm8k__exact_match_flexible=0.5)])
    assert r.exit_code == 1
    (bad,) = r.failed_gates()
    assert bad.gate == "slo: perf/ttft_p95_ms <= 500" and bad.value == 501.0


def test_failed_run_is_exit_2_even_when_metrics_pass():
    g = GatesSpec.model_validate(GATES)
    r = evaluate(g, [run("ok", perf__ttft_p95_ms=1.0, perf__error_rate=0.0, quality__gsm8k__exact_match_flexible=0.9),
                     run("dies", "failed", perf__ttft_p95_ms=1.0, perf__error_rate=0.0, quality__gsm8k__exact_match_flexible=0.9)])
    assert r.exit_code == 2 and r.verdict == "run failed"
    assert [c.message for c in r.checks if c.kind == "run" and c.status == "error"] == ["server died"]


def test_missing_metric_fails_unless_skipped():
    g = GatesSpec.model_validate(GATES)
    r = evaluate(g, [run("a", perf__ttft_p95_ms=1.0, perf__error_rate=0.0)])
    (bad,) = r.failed_gates()
    assert bad.status == "error" and "was not logged" in bad.message and r.exit_code == 1
    g2 = GatesSpec.model_validate({**GATES, "missing": "skip"})
    r2 = evaluate(g2, [run("a", perf__ttft_p95_ms=1.0, perf__error_rate=0.0)])
    assert r2.exit_code == 0 and sum(c.status == "skip" for c in r2.checks) == 1


def test_relative_rules_against_baseline():
    g = GatesSpec.model_validate({
        "relative": {"quality/gsm8k/exact_match_flexible": {"min_ratio": 0.99}, "perf/ttft_p95_ms": {"max_ratio": 1.1, "max_rise": 50}},
        "baseline": {"variant": "bf16"},
    })
    base = run("bf16", quality__gsm8k__exact_match_flexible=0.80, perf__ttft_p95_ms=200.0)
    good = run("fp8", quality__gsm8k__exact_match_flexible=0.793, perf__ttft_p95_ms=219.0)  # 0.793 >= 0.792
    bad = run("awq", quality__gsm8k__exact_match_flexible=0.70, perf__ttft_p95_ms=240.0)
    r = evaluate(g, [good, bad], {good.run_id: base, bad.run_id: base})
    assert {c.gate for c in r.failed_gates()} == {
        "relative: quality/gsm8k/exact_match_flexible >= 0.99 x baseline",
        "relative: perf/ttft_p95_ms <= 1.1 x baseline",
    }
    assert all(c.variant == "awq" for c in r.failed_gates())
    assert next(c for c in r.checks if c.variant == "fp8" and "1.1 x" in c.gate).limit == pytest.approx(220.0)
    # no baseline found: an error, never a silent pass
    r2 = evaluate(g, [good], {good.run_id: "baseline not found: no sweep tagged harness.baseline=true"})
    assert r2.exit_code == 1 and all("baseline not found" in c.message for c in r2.failed_gates())
    ok, why = passes(g, bad, base)
    assert not ok and len(why) == 2


def test_baseline_pick_by_variant_name():
    pool = [run("bf16", rid="b1"), run("fp8", rid="b2")]
    assert pick(pool, run("fp8", rid="c"), BaselineSpec(run_id="x"), "run x").run_id == "b2"
    assert pick(pool, run("fp8", rid="c"), BaselineSpec(run_id="x", variant="bf16"), "run x").run_id == "b1"
    assert "has no variant 'awq'" in pick(pool, run("awq", rid="c"), BaselineSpec(run_id="x"), "run x")
    assert "failed" in pick([run("bf16", "failed")], run("fp8"), BaselineSpec(variant="bf16"), "sweep s")


def test_outputs_junit_json_markdown_and_step_summary(tmp_path, monkeypatch):
    g = GatesSpec.model_validate(GATES)
    r = evaluate(g, [run("p4", perf__ttft_p95_ms=900.0, perf__error_rate=0.0)])
    root = ET.fromstring(to_junit(r))
    assert root.get("failures") == "1" and root.get("errors") == "1"
    failed = [tc.get("name") for tc in root.iter("testcase") if tc.find("failure") is not None]
    assert failed == ["slo: perf/ttft_p95_ms <= 500"]
    assert root.find("testsuite").get("name") == "gates.p4"
    md = to_markdown(r)
    assert "GATE FAILED" in md and "slo: perf/ttft_p95_ms <= 500" in md
    summary = tmp_path / "summary.md"
    summary.write_text("earlier step\n")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    files = write_outputs(r, tmp_path / "out")
    data = json.loads(files.json.read_text())
    assert data["exit_code"] == 1 and data["failed"][0].startswith("slo: perf/ttft_p95_ms <= 500")
    text = summary.read_text()
    assert text.startswith("earlier step\n") and "## Harness gates: GATE FAILED" in text
