"""The MLflow contract: names derived from the typed records, suggestions for typos, spec checks, import directions."""

from __future__ import annotations

import ast
from dataclasses import fields
from pathlib import Path

import pytest

from harness.errors import SpecError
from harness.load.stats import Distribution, LoadSummary
from harness.spec import build_spec
from harness.spec.gates import METRIC_FAMILIES, GatesSpec
from harness.spec.gates_file import load_gates_file
from harness.spec.loader import load_spec
from harness.tracking import contract

REPO = Path(__file__).resolve().parents[3]


def test_load_summary_fields_are_metrics_without_typing_them():
    for f in fields(LoadSummary):
        if f.type in ("int", "float"):
            assert f"perf/{f.name}" in contract.METRICS, f.name
        elif f.type == Distribution.__name__:
            base = f.name.removesuffix("_ms")
            for stat in ("mean", "p50", "p90", "p95", "p99", "max"):
                assert f"perf/{base}_{stat}_ms" in contract.METRICS, (f.name, stat)
    assert "perf/ttft_count_ms" not in contract.METRICS  # counts are not logged


def test_pattern_families_take_any_point_and_the_families_match_the_spec():
    assert contract.PATTERNS and all("<n>" in p for p in contract.PATTERNS)
    scan_ttft = next(p for p in contract.PATTERNS if p.endswith("/ttft_p95_ms") and "step" not in p)
    assert contract.is_metric(scan_ttft.replace("<n>", "2.5")) and contract.is_metric(scan_ttft.replace("<n>", "16"))
    assert not contract.is_metric(scan_ttft.replace("<n>", "2.5").replace("ttft_p95", "ttft_p59"))
    assert contract.is_metric("knob/max_num_seqs") and not contract.is_metric("knob/")
    assert set(contract.FAMILIES) == set(METRIC_FAMILIES)
    assert all(name.startswith(contract.FAMILIES) for name in contract.METRICS)
    for name in ("timing/variant_s", "quality/gsm8k/exact_match_flexible_load_delta", "quality_idle/ifeval/samples",
                 "server/prefix_cache_hit_rate", "server/queue_time_s_p99"):
        assert name in contract.METRICS


def test_closest_and_metric_name():
    assert contract.closest("perf/ttft_p59_ms", 2) == ["perf/ttft_p95_ms", "perf/ttft_p50_ms"]
    assert contract.closest("quality/gsm8k/exact_match_flexibel", 1) == ["quality/gsm8k/exact_match_flexible"]
    step = next(p for p in contract.PATTERNS if "step" in p and p.endswith("/error_rate"))
    assert contract.closest(step.replace("<n>", "3").replace("error_rate", "eror_rate"), 1) == [step.replace("<n>", "3")]
    assert contract.MetricName("perf/ttft_p95_ms") == "perf/ttft_p95_ms"
    with pytest.raises(ValueError, match="did you mean perf/ttft_p95_ms"):
        contract.MetricName("perf/ttft_p59_ms")


def test_check_gates_names_the_field_and_suggests():
    spec = build_spec({"name": "x", "gates": {"slo": {"perf/ttft_p59_ms": {"max": 500}},
                                              "quality_floor": {"quality/gsm8k/exact_match_flexible": {"min": 0.3}},
                                              "recommend": {"objective": "perf/output_token_per_s"}}}, {}, [])
    with pytest.raises(SpecError) as info:
        contract.check_gates(spec)
    assert info.value.problems == [
        "gates.slo.perf/ttft_p59_ms: unknown metric; did you mean perf/ttft_p95_ms, perf/ttft_p50_ms?",
        "gates.recommend.objective: 'perf/output_token_per_s': unknown metric; did you mean perf/output_tokens_per_s, "
        "perf/output_tokens_per_joule?",
    ]
    contract.check_gates(GatesSpec())  # the defaults are logged names
    for example in sorted((REPO / "examples").glob("*.yaml")):
        contract.check_gates(load_spec(example))


def test_gates_file_is_checked_when_the_check_is_given(tmp_path):
    f = tmp_path / "gates.yaml"
    f.write_text("slo:\n  perf/error_rat: {max: 0.01}\n")
    assert "perf/error_rat" in load_gates_file(f).slo  # the spec layer alone checks the form only
    with pytest.raises(SpecError, match=r"gates.yaml: slo.perf/error_rat: unknown metric; did you mean perf/error_rate"):
        load_gates_file(f, contract.check_gates)


def _imports(path: Path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
    return out


@pytest.mark.parametrize("package,forbidden", [("report", "harness.gates"), ("gates", "harness.report"),
                                               ("tracking", "harness.gates"), ("spec", "harness.tracking")])
def test_imports_point_down_the_pipeline(package, forbidden):
    bad = {str(p.relative_to(REPO)): sorted(m for m in _imports(p) if m == forbidden or m.startswith(forbidden + "."))
           for p in (REPO / "harness" / package).glob("*.py")}
    assert not {k: v for k, v in bad.items() if v}


def test_contract_constants_are_metric_names():
    names = [v for v in vars(contract).values() if isinstance(v, contract.MetricName)]
    assert len(names) >= 15 and all(contract.is_metric(n) for n in names)


def test_every_written_metric_has_a_declared_fact():
    """The writer's own metrics (a filled outcome and a repeated one): every name resolves to a fact by lookup."""
    names = contract.written()
    assert len(names) > 400
    assert sorted(n for n in names if contract.fact(n) is None) == []
    assert {n for n, f in contract.DECLARED.items() if f is None} <= {
        t for t in contract.DECLARED if t.startswith(("quality/", "quality_idle/", "fidelity/"))}  # lm-eval's; fidelity TO MOVE


def test_direction_is_a_lookup_never_a_guess():
    up, down = contract.higher_is_better, lambda n: not contract.higher_is_better(n)
    # read as higher-is-better by the old name guess
    assert down("perf/reconnects") and down("perf/usage_missing") and down("server/preemptions")
    assert up("perf/capacity_rps_at_slo") and up("perf/output_tokens_per_s") and down("perf/ttft_p95_ms_ci_high")
    assert down("server/queue_time_s_p50") and up("server/prefix_cache_hit_rate") and down("perf/scan/2.5/e2e_p95_ms")
    assert down("quality/wikitext/word_perplexity") and up("quality/arc_easy/acc_norm")  # lm-eval's registry
    assert up("quality/gsm8k/exact_match_flexible_load_delta") and down("fidelity/noise/kl")
    assert contract.fact("perf/ttft_p95_ms").unit == "ms" and contract.fact("gpu/power_w_mean").unit == "W"
    # labels: declared with the field, a statistic named after it (the report's column headings)
    assert [contract.label(n) for n in ("perf/ttft_p95_ms", "server/queue_time_s_p50", "perf/capacity_rps_at_slo")] == [
        "TTFT p95 ms", "queue p50 s", "capacity rps@SLO"]
    assert contract.label("perf/no_such_metric") == "perf/no_such_metric"
    for name in ("perf/no_such_metric", "quality/mytask/my_score", "perf/requests", "knob/parallel"):
        with pytest.raises(SpecError, match=name):
            contract.higher_is_better(name)
    assert contract.fact("perf/no_such_metric") is None and contract.fact("quality/mytask/my_score") is None


def test_a_result_field_without_a_fact_is_logged_without_one():
    """LoadSummary.flat_metrics carries each field's declared fact; a field without one reaches the contract as None."""
    import dataclasses

    from harness.facts import fact_of
    from harness.load.stats import summarize

    flat = summarize([]).flat_metrics()
    assert flat and all(fact_of(v) is not None for v in flat.values())
    Bare = dataclasses.make_dataclass("Bare", [("extra_count", int, dataclasses.field(default=1))], bases=(LoadSummary,), frozen=True)
    bare = Bare(**{f.name: getattr(summarize([]), f.name) for f in fields(LoadSummary)})
    assert fact_of(bare.flat_metrics()["perf/extra_count"]) is None


def test_an_objective_without_a_direction_is_a_spec_error():
    spec = build_spec({"name": "x", "gates": {"recommend": {"objective": "perf/requests"}}}, {}, [])
    with pytest.raises(SpecError, match="recommend.objective: 'perf/requests': a count"):
        contract.check_gates(spec)
