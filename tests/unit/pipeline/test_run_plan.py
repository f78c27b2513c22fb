"""The run plan: each spec check runs once (loader + plan), `--variant` is a loader layer, and the schedule of
(variant, block) pairs the one sweep loop walks."""

from __future__ import annotations

from collections import Counter

import pytest
import yaml

from harness.errors import SpecError


def _write(tmp_path, **over) -> str:
    data = {
        "name": "plan",
        "variants": [{"name": "a"}, {"name": "b", "server": {"llamacpp": {"parallel": 2}}}, {"name": "c"}],
        "quality": {"enabled": False},
        "gates": {"baseline": {"variant": "b"}, "slo": {"perf/ttft_p95_ms": {"max": 500}}},
        "tracking": {"run_dir": str(tmp_path / "runs")},
        **over,
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _count(monkeypatch, calls: Counter, module, name: str) -> None:
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls[name] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)


def test_each_spec_check_runs_once_from_loading_to_the_plan(tmp_path, monkeypatch):
    import harness.pipeline.plan as plan_mod
    import harness.quality.preflight as quality_preflight
    import harness.spec.model as model
    from harness.pipeline.plan import RunPlan
    from harness.spec.loader import load_spec

    calls: Counter = Counter()
    _count(monkeypatch, calls, model, "resolve_servers")  # what resolve_variants did, three times, before
    _count(monkeypatch, calls, model, "check_fidelity")
    _count(monkeypatch, calls, plan_mod, "check_gates")
    _count(monkeypatch, calls, plan_mod, "fidelity_preflight")
    _count(monkeypatch, calls, quality_preflight, "check")
    spec = load_spec(_write(tmp_path), environ={}, variants=["b", "c"])  # `--variant b --variant c`
    plan = RunPlan.of(spec, resume=False)
    assert calls == {"resolve_servers": 1, "check_fidelity": 1, "check_gates": 1, "fidelity_preflight": 1, "check": 1}
    assert [v.name for v in plan.variants] == ["b", "c"] and plan.variants[0].server.llamacpp.parallel == 2
    # a repeat's spec is a copy: nothing is resolved or checked again
    assert [v.name for v in plan.block_spec(3, first=False).resolved] == ["b", "c"] and calls["resolve_servers"] == 1


def test_the_variant_layer_names_unknown_variants_and_the_spec_is_checked_as_it_will_run(tmp_path):
    from harness.spec.loader import load_spec

    path = _write(tmp_path, fidelity={"enabled": True})
    with pytest.raises(SpecError) as err:
        load_spec(path, environ={}, variants=["zz"])
    assert err.value.problems == ["--variant ['zz']: not in the spec; variants are ['a', 'b', 'c']"]
    with pytest.raises(SpecError) as err:  # the baseline b left out: fidelity has nothing to compare against
        load_spec(path, environ={}, variants=["a", "c"])
    assert err.value.problems[0].startswith("fidelity.enabled: true needs a baseline") and "(a, c)" in err.value.problems[0]
    assert [v.name for v in load_spec(path, environ={}, variants=["b"]).resolved] == ["b"]


def test_a_spec_built_without_the_loader_is_checked_by_its_validators():
    from harness.spec.model import ExperimentSpec

    with pytest.raises(SpecError) as err:
        ExperimentSpec.model_validate({"name": "x", "variants": [{"name": "a", "server": {"port": "nope"}}]})
    assert err.value.problems[0].startswith("variants.0(a).server.port:")
    with pytest.raises(SpecError) as err:
        ExperimentSpec.model_validate({"name": "x", "fidelity": {"enabled": True}})
    assert err.value.problems[0].startswith("fidelity.enabled: true needs a baseline")


def test_unknown_gate_metric_fails_the_plan(tmp_path):
    from harness.pipeline.plan import RunPlan
    from harness.spec.loader import load_spec

    spec = load_spec(_write(tmp_path, gates={"slo": {"perf/ttft_p59_ms": {"max": 1}}}), environ={})  # the loader only checks form
    with pytest.raises(SpecError) as err:
        RunPlan.of(spec)
    assert err.value.problems[0].startswith("gates.slo.perf/ttft_p59_ms: unknown metric")


def test_the_schedule_one_block_each_or_interleaved_repeats_the_fidelity_baseline_first(tmp_path):
    from harness.pipeline.plan import RunPlan
    from harness.spec.loader import load_spec

    single = RunPlan.of(load_spec(_write(tmp_path), environ={}))
    assert [(v.name, b) for v, b in single.schedule] == [("b", 0), ("a", 0), ("c", 0)] and not single.repeated
    repeated = RunPlan.of(load_spec(_write(tmp_path, repeats={"count": 3, "seed": 5}), environ={}))
    pairs = [(v.name, b) for v, b in repeated.schedule]
    assert pairs[0] == ("b", 0) and sorted(pairs) == sorted((n, b) for n in "abc" for b in range(3))
    assert all(sorted(n for n, b in pairs if b == k) == ["a", "b", "c"] for k in range(3))  # each block: every variant once
    sequential = RunPlan.of(load_spec(_write(tmp_path, repeats={"count": 2, "order": "sequential"}), environ={}))
    assert [(v.name, b) for v, b in sequential.schedule] == [("b", 0), ("a", 0), ("a", 1), ("b", 1), ("c", 0), ("c", 1)]


def test_a_resumed_plan_schedules_only_what_did_not_finish(tmp_path):
    from harness.pipeline.plan import RunPlan
    from harness.spec.loader import load_spec
    from harness.tracking.state import SweepState, new_run_folder

    spec = load_spec(_write(tmp_path), environ={})
    with pytest.raises(SpecError, match="no unfinished sweep"):
        RunPlan.of(spec, resume=True)
    folder = new_run_folder(tmp_path / "runs", spec.name)
    state = SweepState.new(folder, spec, ["a", "b", "c"])
    state.mark("a", status="failed")
    state.mark("b", status="interrupted")
    plan = RunPlan.of(spec, resume=True)
    assert plan.folder == folder and plan.kept == {"a": "failed"}
    assert [(v.name, b) for v, b in plan.schedule] == [("b", 0), ("c", 0)]


def test_an_adaptive_plan_schedules_max_blocks_interleaved_and_checks_its_targets(tmp_path):
    from harness.pipeline.plan import RunPlan
    from harness.spec.loader import load_spec

    target = {"target": {"metric": "perf/output_tokens_per_s"}, "max_blocks": 4, "looks": 2, "seed": 1}
    plan = RunPlan.of(load_spec(_write(tmp_path, repeats=target), environ={}))
    pairs = [(v.name, b) for v, b in plan.schedule]
    assert plan.repeated and len(pairs) == 12 and all(sorted(n for n, b in pairs if b == k) == ["a", "b", "c"] for k in range(4))
    # blocks are contiguous: the sweep looks after the last pair of a block
    assert [b for _, b in pairs] == sorted(b for _, b in pairs)
    typo = load_spec(_write(tmp_path, repeats={"target": {"metric": "perf/output_token_per_s"}}), environ={})
    with pytest.raises(SpecError) as err:
        RunPlan.of(typo)
    assert err.value.problems[0].startswith("repeats.target.0.metric: 'perf/output_token_per_s': unknown metric; "
                                            "did you mean perf/output_tokens_per_s"), err.value.problems
    for name in ("quality/gsm8k/exact_match_strict", "perf/ttft_p50_ms_ci_low", "repeats/count"):
        spec = load_spec(_write(tmp_path, repeats={"target": {"metric": name}}), environ={})
        with pytest.raises(SpecError, match="adaptive repeats decide on a performance metric with a direction"):
            RunPlan.of(spec)
    with pytest.raises(SpecError, match="--resume cannot continue an adaptive sweep"):
        RunPlan.of(load_spec(_write(tmp_path, repeats=target), environ={}), resume=True)


def test_quality_runs_in_every_repeat_or_once_after_the_load_never_only_in_the_first_window(tmp_path):
    from harness.pipeline.plan import repeat_spec
    from harness.spec.loader import load_spec

    every = load_spec(_write(tmp_path, quality={"enabled": True}, repeats={"count": 3}), environ={})
    assert every.repeats.quality == "every"
    assert all(repeat_spec(every, b, first=b == 0).quality.enabled for b in range(3))
    separate = load_spec(_write(tmp_path, quality={"enabled": True}, repeats={"count": 3, "quality": "separate"}), environ={})
    assert [repeat_spec(separate, b, first=b == 0).quality.enabled for b in range(3)] == [True, False, False]
    with pytest.raises(SpecError, match="'every' or 'separate'"):
        load_spec(_write(tmp_path, repeats={"count": 3, "quality": "first"}), environ={})
