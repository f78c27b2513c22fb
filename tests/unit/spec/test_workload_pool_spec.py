"""`load.workload.prefix_pool` / `agentic` spec checks: a mix of the wrong length, two prompt sources, and the
examples that use them validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import SpecError
from harness.spec import build_spec, load_spec

REPO = Path(__file__).resolve().parents[3]


def _problems(load: dict) -> str:
    with pytest.raises(SpecError) as info:
        build_spec({"name": "w", "load": load}, {}, [])
    return "\n".join(info.value.problems)


def test_mix_needs_one_weight_per_group():
    assert "mix has 2 weights for 3 groups" in _problems({"workload": {"prefix_pool": {"groups": 3, "prefix_tokens": 64, "mix": [1, 2]}}})
    assert "positive sum" in _problems({"workload": {"prefix_pool": {"groups": 2, "prefix_tokens": 64, "mix": [0, 0]}}})
    spec = build_spec({"name": "w", "load": {"workload": {"prefix_pool": {"groups": 2, "prefix_tokens": 64, "mix": [3, 1]}}}}, {}, [])
    assert spec.load.workload.prefix_pool.mix == [3, 1]


def test_one_prompt_source_at_a_time():
    both = {"prefix_pool": {"groups": 2, "prefix_tokens": 64}, "agentic": {"turns": 3}}
    assert "at most one prompt source, not prefix_pool and agentic" in _problems({"workload": both})
    assert "leave load.turns at 1" in _problems({"turns": 3, "workload": {"agentic": {"turns": 3}}})
    assert "are both prompt sources" in _problems({"dataset": {"path": __file__}, "workload": {"agentic": {}}})


@pytest.mark.parametrize("name", ["local-prefix-pool", "local-agentic"])
def test_examples_validate(name):
    spec = load_spec(REPO / "examples" / f"{name}.yaml")
    assert spec.load.workload.source == name.removeprefix("local-").replace("-", "_")
