"""repeats: one default count, a target instead of a count, the design's limits, quality in every repeat or apart."""

from __future__ import annotations

import pytest

from harness.errors import SpecError
from harness.spec import build_spec
from harness.spec.model import ExperimentSpec, RepeatsSpec  # noqa: F401

TWO = [{"name": "a"}, {"name": "b"}]


def _spec(repeats: dict, **over) -> ExperimentSpec:
    return build_spec({"name": "x", "variants": TWO, "repeats": repeats, **over}, {}, [])


def _problem(repeats: dict, **over) -> str:
    with pytest.raises(SpecError) as err:
        _spec(repeats, **over)
    return err.value.problems[0]


def test_one_default_count_and_a_target_chooses_the_count():
    assert RepeatsSpec().count == 1 and RepeatsSpec().blocks == 1 and RepeatsSpec().quality == "every"
    r = _spec({"target": {"metric": "perf/tpot_p50_ms"}}).repeats
    assert r.blocks == r.max_blocks == 20 and r.looks == 4 and r.target[0].margin == 0.05
    listed = _spec({"target": [{"metric": "perf/tpot_p50_ms"}, {"metric": "perf/output_tokens_per_s", "margin": 0.1}],
                    "max_blocks": 8, "looks": 2}).repeats
    assert [t.margin for t in listed.target] == [0.05, 0.1] and listed.blocks == 8


@pytest.mark.parametrize("repeats, says", [
    ({"count": 5, "target": {"metric": "perf/tpot_p50_ms"}}, "count and target together"),
    ({"target": {"metric": "perf/tpot_p50_ms"}, "order": "sequential"}, "target needs order: interleaved"),
    ({"target": {"metric": "perf/tpot_p50_ms"}, "max_blocks": 5, "looks": 6}, "looks (6) > max_blocks (5)"),
    ({"target": {"metric": "perf/tpot_p50_ms"}, "max_blocks": 2}, "repeats.max_blocks"),
    ({"max_blocks": 10}, "max_blocks: for adaptive repeats only"),
    ({"target": [{"metric": "perf/tpot_p50_ms"}, {"metric": "perf/tpot_p50_ms", "margin": 0.1}]}, "given twice"),
    ({"target": []}, "an empty list"),
    ({"target": {"metric": "perf/tpot_p50_ms", "margin": 1.5}}, "margin"),
    ({"quality": "first"}, "'every' or 'separate'"),
])
def test_what_adaptive_repeats_refuse(repeats, says):
    assert says in _problem(repeats)


def test_a_target_needs_two_variants_and_separate_quality_has_no_idle_baseline():
    with pytest.raises(SpecError, match="at least two variants"):
        build_spec({"name": "x", "repeats": {"target": {"metric": "perf/tpot_p50_ms"}}}, {}, [])
    assert "idle_baseline" in _problem({"quality": "separate"}, quality={"idle_baseline": True})
    assert _spec({"quality": "separate"}, quality={"idle_baseline": False}).repeats.quality == "separate"


def test_a_dumped_spec_loads_again_with_or_without_a_target():
    """A run folder's experiment.yaml (every field dumped, defaults included) is read back by `harness sync`, the web
    UI and `--resume`: a default value is not a choice, so it never conflicts with `target` or its absence."""
    from harness.spec.model import RepeatsSpec

    for given in ({}, {"target": {"metric": "perf/output_tokens_per_s"}}, {"count": 3}):
        first = RepeatsSpec(**given)
        assert RepeatsSpec(**first.model_dump()) == first
