"""The fidelity section of the spec, its plan across a sweep, and what reaches MLflow and the report (no servers)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from harness.errors import FidelityError, SpecError
from harness.fidelity.compare import compare
from harness.fidelity.records import Generation, PassInfo, save_pass
from harness.fidelity.saved import open_saved, reference_file
from harness.fidelity.stage import FidelityResult
from harness.spec import build_spec, resolve_variants
from harness.spec.fidelity import FidelitySpec, fidelity_baseline, fidelity_on

TWO = [{"name": "q4_1"}, {"name": "q2_k", "server": {"llamacpp": {"quantize": "Q2_K"}}}]


def _spec(**extra):
    return build_spec({"name": "fid", "variants": TWO, "quality": {"enabled": False}, **extra}, {}, [])


# ------------------------------------------------------------------ the spec section

def test_on_by_default_only_with_a_baseline_of_this_sweep():
    assert fidelity_on(_spec(gates={"baseline": {"variant": "q4_1"}}))
    assert fidelity_baseline(_spec(gates={"baseline": {"variant": "q4_1"}})) == "q4_1"
    assert not fidelity_on(_spec())  # no baseline
    assert not fidelity_on(_spec(gates={"baseline": {"variant": "bf16"}}))  # not a variant of this sweep
    assert not fidelity_on(_spec(gates={"baseline": {"run_id": "abc", "variant": "q4_1"}}))  # another sweep's
    assert not fidelity_on(_spec(gates={"baseline": {"variant": "q4_1"}}, fidelity={"enabled": False}))
    assert fidelity_on(_spec(fidelity={"reference": "runs/x/q4_1"}))  # a saved reference is a baseline too


def test_every_field_is_documented_and_the_stage_runs_with_the_section_its_data_dir_filled():
    from harness.pipeline.fidelity import section

    assert all(f.description for f in FidelitySpec.model_fields.values())
    own = {"prompts": 40, "top_k": 8, "seed": 7, "source": "gsm8k", "teacher_forcing": "off", "bootstrap": 200}
    spec = _spec(fidelity=own, quality={"enabled": False, "data_dir": "/data"})
    f = section(spec)
    assert f.data_dir == "/data" and f.model_dump(exclude={"data_dir"}) == spec.fidelity.model_dump(exclude={"data_dir"})
    assert spec.fidelity.data_dir is None  # the spec itself is left as written
    assert section(_spec(fidelity={"data_dir": "/own"}, quality={"enabled": False, "data_dir": "/data"})).data_dir == "/own"
    assert section(_spec()).data_dir is None


@pytest.mark.parametrize("section, field, says", [
    ({"prompts": 0}, "fidelity.prompts", "greater than or equal to 1"),
    ({"top_k": 21}, "fidelity.top_k", "less than or equal to 20"),
    ({"max_tokens": 5000}, "fidelity.max_tokens", "less than or equal to 4096"),
    ({"confidence": 1.0}, "fidelity.confidence", "less than 1"),
    ({"source": "mmlu"}, "fidelity.source", "'synthetic', 'gsm8k' or 'ifeval'"),
    ({"when": "during_load"}, "fidelity.when", "before_load"),
    ({"reference": "  "}, "fidelity.reference", "empty path"),
    ({"prompt": 5}, "fidelity.prompt", "unknown field"),
    ({"enabled": "yes please"}, "fidelity.enabled", "valid boolean"),
])
def test_bad_input_names_the_field(section, field, says):
    with pytest.raises(SpecError) as err:
        _spec(fidelity=section, gates={"baseline": {"variant": "q4_1"}})
    assert any(p.startswith(field + ":") and says in p for p in err.value.problems), err.value.problems


def test_required_without_a_baseline_is_an_early_error():
    with pytest.raises(SpecError) as err:
        _spec(fidelity={"enabled": True})
    (problem,) = err.value.problems
    assert problem.startswith("fidelity.enabled:") and "gates.baseline.variant" in problem and "q4_1, q2_k" in problem


# ------------------------------------------------------------------ a saved baseline

def _gen(pid: str, ids: list[int], lp: float = -0.1) -> Generation:
    top = tuple(((f"t{i}", i, lp), (f"t{i + 1}", i + 1, -3.0)) for i in ids)
    return Generation(pid, f"prompt {pid}", "".join(f"t{i}" for i in ids), "length", tuple(f"t{i}" for i in ids),
                      tuple(ids), tuple(lp for _ in ids), top)


def _saved(folder: Path, second: bool = True) -> Path:
    info = PassInfo(max_tokens=4, top_k=2, seed=1, source="synthetic", engine="llamacpp", model="m")
    first = [_gen(f"p{i}", [1, 2, 3, 4]) for i in range(6)]
    path = save_pass(folder / "fidelity" / "reference.jsonl", first, info)
    if second:
        save_pass(folder / "fidelity" / "generations.jsonl", first[:5] + [_gen("p5", [1, 2, 9, 9])], info)
    return path


def test_saved_reference_found_from_its_folder_with_its_noise_floor(tmp_path):
    path = _saved(tmp_path / "q4_1")
    assert reference_file(tmp_path / "q4_1") == path == reference_file(tmp_path / "q4_1" / "fidelity") == reference_file(path)
    saved = open_saved(tmp_path / "q4_1", FidelitySpec(max_tokens=4, top_k=2, bootstrap=50))
    assert len(saved.reference.generations) == 6 and saved.noise_floor is not None
    assert saved.noise_floor.prompts == 6 and saved.noise_floor.identical_rate.value == pytest.approx(5 / 6)
    assert not saved.notes
    # other settings than the reference's: the reference's are used, and said so
    assert "max_tokens 4, top_k 2" in open_saved(path, FidelitySpec(bootstrap=50)).notes[0]


def test_saved_reference_without_second_pass_has_no_floor_and_a_missing_one_is_clear(tmp_path):
    _saved(tmp_path / "b", second=False)
    saved = open_saved(tmp_path / "b", FidelitySpec(max_tokens=4, top_k=2, bootstrap=50))
    assert saved.noise_floor is None and "no noise floor" in saved.notes[0]
    with pytest.raises(FidelityError, match="does not exist"):
        reference_file(tmp_path / "nope")
    with pytest.raises(FidelityError, match="holds no reference.jsonl"):
        reference_file(tmp_path)


# ------------------------------------------------------------------ the plan across a sweep

def test_plan_runs_the_baseline_first_and_compares_the_others(tmp_path):
    from harness.pipeline.fidelity import FidelityPlan
    from harness.server.endpoint import Endpoint

    spec = build_spec({"name": "fid", "variants": list(reversed(TWO)), "quality": {"enabled": False},
                       "gates": {"baseline": {"variant": "q4_1"}}, "fidelity": {"prompts": 6}}, {}, [])
    plan = FidelityPlan.of(spec, tmp_path)
    assert plan is not None and plan.baseline == "q4_1" and not plan.required
    ordered = plan.order(resolve_variants(spec))
    assert [v.name for v in ordered] == ["q4_1", "q2_k"]
    ep = Endpoint("http://127.0.0.1:9", "m")
    run, what = plan.stage(ordered[1], ep, tmp_path / "q2_k" / "fidelity")
    assert run is None and "no reference" in what  # before the baseline ran
    run, what = plan.stage(ordered[0], ep, tmp_path / "q4_1" / "fidelity")
    assert run is not None and run.reference is None and "baseline" in what and "noise floor" in what


def test_plan_reuses_a_kept_baseline_and_a_saved_reference(tmp_path):
    from harness.pipeline.fidelity import FidelityPlan, preflight
    from harness.server.endpoint import Endpoint

    _saved(tmp_path / "q4_1")
    spec = _spec(gates={"baseline": {"variant": "q4_1"}}, fidelity={"max_tokens": 4, "top_k": 2, "bootstrap": 50})
    plan = FidelityPlan.of(spec, tmp_path, kept={"q4_1": "ok"})  # --resume kept the baseline: its folder has the pass
    assert plan.reference is not None and plan.floor is not None and plan.floor.prompts == 6
    run, _ = plan.stage(resolve_variants(spec)[1], Endpoint("http://127.0.0.1:9", "m"), tmp_path / "q2_k")
    assert run is not None and run.reference is plan.reference and len(run.prompts) == 6

    saved = _spec(fidelity={"reference": str(tmp_path / "q4_1"), "bootstrap": 50})
    preflight(saved)
    plan = FidelityPlan.of(saved, tmp_path / "new")
    assert plan.baseline is None and plan.reference is not None and plan.floor is not None
    assert plan.floor.prompts == 6 and plan.floor.identical_rate.value == pytest.approx(5 / 6)
    missing = _spec(fidelity={"reference": str(tmp_path / "nowhere")})
    with pytest.raises(SpecError) as err:
        preflight(missing)
    assert err.value.problems[0].startswith("fidelity.reference:") and "does not exist" in err.value.problems[0]


def test_a_saved_reference_is_read_and_bootstrapped_once_per_sweep(tmp_path, monkeypatch):
    from harness.pipeline import fidelity as pf

    opened = []
    monkeypatch.setattr(pf, "open_saved", lambda path, f: opened.append(path) or open_saved(path, f))
    _saved(tmp_path / "q4_1")
    spec = _spec(fidelity={"reference": str(tmp_path / "q4_1"), "bootstrap": 50})
    pf.preflight(spec)
    plan = pf.FidelityPlan.of(spec, tmp_path / "new")
    assert len(opened) == 1 and plan.reference is not None and plan.floor is not None  # the preflight's read, reused
    (tmp_path / "q4_1" / "fidelity" / "generations.jsonl").unlink()  # the files changed (no second pass now): read again
    plan = pf.FidelityPlan.of(spec, tmp_path / "new")
    assert len(opened) == 2 and plan.floor is None and any("no noise floor" in n for n in plan.notes)
    pf.FidelityPlan.of(_spec(fidelity={"reference": str(tmp_path / "q4_1"), "bootstrap": 60}), tmp_path / "new")
    assert len(opened) == 3  # other settings: bootstrapped again


def test_repeats_measure_the_baseline_first():
    from harness.pipeline.plan import baseline_first

    plan = [("b", 0), ("a", 0), ("a", 1), ("b", 1)]
    assert baseline_first(plan, "a") == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]
    assert baseline_first(plan, None) == plan and baseline_first(plan, "zzz") == plan


# ------------------------------------------------------------------ what is logged

def _result(role: str, gens_b: list[Generation]) -> FidelityResult:
    ref = {g.prompt_id: g for g in [_gen(f"p{i}", [1, 2, 3, 4]) for i in range(6)]}
    c = compare(ref, gens_b, bootstrap=100, seed=1)
    return FidelityResult(role, c, Path("r.jsonl") if role == "baseline" else None, None, 6, 6, 1.5, FidelitySpec(),
                          ["teacher-forced"], [], None if role == "baseline" else Path("ref/reference.jsonl"))


def _outcome(result: FidelityResult, floor=None):
    from harness.outcome import VariantOutcome

    spec = _spec()
    out = VariantOutcome(variant=resolve_variants(spec)[1], folder=Path("."))
    out.fidelity, out.fidelity_floor = result, floor
    return out


def test_variant_metrics_carry_intervals_and_the_noise_floor_and_every_name_is_in_the_contract():
    from harness.tracking import contract

    base = _result("baseline", [_gen(f"p{i}", [1, 2, 3, 4]) for i in range(6)])
    var = _result("variant", [_gen(f"p{i}", [1, 2, 7, 7] if i % 2 else [1, 2, 3, 4]) for i in range(6)])
    m = _outcome(var, base.noise_floor).metrics()
    assert m["fidelity/identical_rate"] == pytest.approx(0.5) and m["fidelity/noise/identical_rate"] == 1.0
    assert m["fidelity/top1_agreement_ci_low"] <= m["fidelity/top1_agreement"] <= m["fidelity/top1_agreement_ci_high"]
    assert m["fidelity/noise/kl"] == pytest.approx(0.0, abs=1e-12)
    assert all(contract.is_metric(k) for k in m if k.startswith("fidelity/")), [k for k in m if not contract.is_metric(k)]
    # the baseline's own run: its comparison is its noise floor, logged under both names
    mb = _outcome(base).metrics()
    assert mb["fidelity/top1_agreement"] == mb["fidelity/noise/top1_agreement"] == 1.0


def test_repeated_outcome_keeps_the_fidelity_intervals():
    from harness.outcome import RepeatedOutcome

    var = _result("variant", [_gen(f"p{i}", [1, 2, 7, 7] if i % 2 else [1, 2, 3, 4]) for i in range(6)])
    one, two = _outcome(var), _outcome(None)
    agg = RepeatedOutcome(variant=one.variant, folder=Path("."), repeats=[one, two], blocks=[0, 1])
    agg.fidelity = var
    m = agg.metrics()
    assert "fidelity/top1_agreement_ci_low" in m and m["fidelity/identical_rate"] == pytest.approx(0.5)


def test_tags_params_and_the_per_prompt_table():
    from harness.tracking.contract import FIDELITY_TABLE, Param, Tag
    from harness.tracking.fidelity_log import fidelity_params, fidelity_tables, fidelity_tags

    var = _outcome(_result("variant", [_gen(f"p{i}", [1, 2, 7, 7] if i % 2 else [1, 2, 3, 4]) for i in range(6)]))
    assert fidelity_tags(var) == {Tag.FIDELITY_ROLE: "variant", Tag.FIDELITY_NOTES: "teacher-forced"}
    params = fidelity_params(var)
    assert params[Param.FIDELITY_REFERENCE] == "ref/reference.jsonl" and params[Param.FIDELITY_METHOD] == "first_divergence"
    (name, table), = fidelity_tables(var).items()
    assert name == FIDELITY_TABLE and len(table["prompt_id"]) == 6
    assert table["first_divergence"] == [None, 2, None, 2, None, 2] and table["identical"][0] is True
    assert {"kl", "top1_agreement", "prompt", "reference_text", "text"} <= set(table)
    assert all(v is None or math.isfinite(v) for v in table["kl"])
    assert fidelity_tables(_outcome(None)) == {} and fidelity_tags(_outcome(None)) == {}


# ------------------------------------------------------------------ gates and the report

def test_gates_accept_fidelity_names_and_a_typo_names_the_closest():
    from harness.tracking.contract import check_gates

    ok = _spec(gates={"baseline": {"variant": "q4_1"}, "quality_floor": {"fidelity/top1_agreement": {"min": 0.9, "on": "ci_low"}},
                      "slo": {"fidelity/kl": {"max": 0.05}}, "relative": {"fidelity/noise/kl": {"max_rise": 0.01}}})
    check_gates(ok)
    bad = _spec(gates={"quality_floor": {"fidelity/top1_agrement": {"min": 0.9}}})
    with pytest.raises(SpecError) as err:
        check_gates(bad)
    assert "fidelity/top1_agreement" in err.value.problems[0]


def test_directions_columns_and_interval_verdicts():
    from harness.report.columns import LABEL, higher_is_better
    from harness.tracking.differences import difference
    from harness.tracking.run_record import RunRecord

    assert not higher_is_better("fidelity/kl") and not higher_is_better("fidelity/noise/kl_ci_high")
    assert not higher_is_better("fidelity/uncovered_mass")
    assert higher_is_better("fidelity/top1_agreement") and higher_is_better("fidelity/first_divergence")
    assert {"fidelity/top1_agreement", "fidelity/kl", "fidelity/identical_rate"} <= set(LABEL)

    def run(name, value, low, high):
        return RunRecord(name, name, "0", "s", "ok", {"fidelity/top1_agreement": value, "fidelity/top1_agreement_ci_low": low,
                                                         "fidelity/top1_agreement_ci_high": high, "fidelity/prompts": 40})

    q8, q2, q8b = run("q8", 0.96, 0.95, 0.97), run("q2", 0.64, 0.62, 0.66), run("q8b", 0.955, 0.94, 0.97)
    d = difference(q8, q2, "fidelity/top1_agreement", higher_is_better=True)
    assert d.decided and d.verdict == "worse" and "bootstrap intervals" in d.difference.method and d.difference.n == 40
    same = difference(q8, q8b, "fidelity/top1_agreement", higher_is_better=True)  # 0.5% apart, intervals of +-1%
    assert same.verdict == "equivalent" and "equivalent within +-5%" in same.text()


def test_the_report_adds_a_fidelity_frontier():
    from harness.report.decision import build_decision
    from harness.spec.gates import GatesSpec
    from harness.tracking.run_record import RunRecord

    def run(name, tps, top1):
        return RunRecord(name, name, "0", "s", "ok", {"perf/output_tokens_per_s": tps, "perf/ttft_p95_ms": 100.0,
                                                         "fidelity/top1_agreement": top1, "fidelity/kl": 1 - top1,
                                                         "fidelity/noise/top1_agreement": 0.995,
                                                         "fidelity/noise/top1_agreement_ci_low": 0.99,
                                                         "fidelity/noise/top1_agreement_ci_high": 1.0})

    runs = [run("q4_1", 50.0, 1.0), run("q8_0", 40.0, 0.96), run("q2_k", 55.0, 0.64), run("worse", 39.0, 0.5)]
    report = build_decision(runs, GatesSpec(), "fid", None, False)
    # no quality task ran: fidelity is the quality axis of both frontiers (no third one repeating the first)
    assert [(f.x_metric, f.y_metric) for f in report.frontiers] == [
        ("perf/output_tokens_per_s", "fidelity/top1_agreement"), ("perf/ttft_p95_ms", "fidelity/top1_agreement")]
    fid = [f for f in report.frontiers if f.x_metric == "perf/output_tokens_per_s"]
    assert len(fid) == 1 and set(fid[0].on) == {"q4_1", "q2_k"} and "worse" in fid[0].dominated_by
    assert report.table.loc["worse", "pareto output_tokens_per_s"].startswith("dominated")
    assert {"fid top-1", "fid KL"} <= set(report.table.columns)
    from harness.report.render import markdown

    text = markdown(report, {})
    assert "## Fidelity to the baseline" in text and "top-1 0.995 [0.990, 1.000]" in text


# ------------------------------------------------------------------ llamacpp.quantize facts

def test_quantize_variants_are_tagged_and_log_the_derived_files_facts():
    from harness.server.engines import engine
    from harness.server.engines.llamacpp import derived_facts
    from harness.server.quantize import Derived
    from harness.tracking.knobs import quantization

    base, q2 = resolve_variants(_spec())
    assert (quantization(base), quantization(q2)) == ("Q4_1", "Q2_K")  # not the source's type from its name
    eng = engine("llamacpp")
    assert eng.bits_per_weight(q2.server.model, q2.server.llamacpp.model_dump()) is None  # the file's own value fills in
    assert eng.bits_per_weight(base.server.model, base.server.llamacpp.model_dump()) == 5.0
    facts = derived_facts(Derived(Path("x.Q2_K.gguf"), "ab" * 32, 123456, 5.1432, "Q2_K", "cd" * 32, {"Q4_0": 180, "Q3_K": 30}))
    assert facts["quantize_type"] == "Q2_K" and facts["size_bytes"] == "123456" and facts["bits_per_weight"] == "5.1432"
    assert facts["tensor_types"] == "Q4_0:180,Q3_K:30" and facts["source_sha256"] == "cd" * 32
    assert facts["derived_sha256"] == "ab" * 32 and facts["quantize_cached"] == "false"
