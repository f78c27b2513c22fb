"""Load spec checks (presets, errors naming the field, the rate scan) and the Locust argv per pattern."""

from __future__ import annotations

import pytest

from harness.errors import SpecError
from harness.load.runner import LoadArtifacts, locust_argv
from harness.server.endpoint import Endpoint
from harness.spec import build_spec
from harness.spec.load import PRESETS, LoadSpec


def test_presets_fill_lengths_unless_given():
    spec = LoadSpec(preset="chat-medium")
    assert spec.prompt_tokens.mean == 512 and spec.output_tokens.mean == 256
    assert LoadSpec(preset="rag").prompt_kind == "document_qa"
    own = LoadSpec(preset="chat-long", output_tokens={"mean": 32})
    assert own.prompt_tokens.mean == 2048 and own.output_tokens.mean == 32
    assert set(PRESETS) == {"chat-short", "chat-medium", "chat-long", "rag"}


def _problems(load: dict) -> str:
    with pytest.raises(SpecError) as info:
        build_spec({"name": "x", "load": load}, {}, [])
    return "\n".join(info.value.problems)


@pytest.mark.parametrize(
    "load,needle",
    [
        ({"pattern": "poisson"}, "pattern=poisson needs `rate`"),
        ({"rate": 3}, "`rate` is used by pattern constant/poisson only"),
        ({"pattern": "burst", "burst": {"size": 8, "every_s": 1}, "users": 4}, "set users >= burst.size"),
        ({"pattern": "steps"}, "pattern=steps needs `steps`"),
        ({"pattern": "steps", "steps": [{"duration_s": 5, "users": 1}, {"duration_s": 5, "rate": 2}]}, "all set `users` or all set `rate`"),
        ({"pattern": "steps", "steps": [{"duration_s": 5, "users": 1, "rate": 2}]}, "exactly one of `users`"),
        ({"pattern": "constant", "rate": 1, "rate_scan": {"points": [4, 1]}}, "strictly increasing"),
        ({"rate_scan": {"points": [1.5, 3]}}, "whole numbers"),
        ({"dataset": {"path": "/nope.jsonl"}}, "load.dataset.path"),
        ({"processes": 2, "distributed": {"role": "master"}}, "not both"),
        ({"preset": "chat-huge"}, "load.preset"),
    ],
)
def test_bad_load_specs_name_the_field_and_fix(load, needle):
    text = _problems(load)
    assert needle in text and "load" in text


def test_scan_points_become_rate_or_users():
    spec = LoadSpec(pattern="poisson", rate_scan={"points": [1, 4]})
    assert spec.at_point(4).rate == 4 and spec.at_point(4).rate_scan is None
    assert LoadSpec(rate_scan={"points": [2, 8]}).at_point(8).users == 8


def test_the_old_sweep_key_still_works_with_a_deprecation_warning():
    from harness.spec.base import SpecDeprecation

    with pytest.warns(SpecDeprecation, match="load.rate_scan"):
        spec = LoadSpec(sweep={"points": [2, 8]})
    assert spec.rate_scan is not None and spec.rate_scan.points == [2.0, 8.0]
    with pytest.raises(ValueError, match="only `rate_scan`"):
        LoadSpec(sweep={"points": [2]}, rate_scan={"points": [2]})


def _argv(**kw) -> list[str]:
    from pathlib import Path

    return locust_argv(LoadSpec(**kw), Endpoint(base_url="http://h:1", model="m"), LoadArtifacts.in_folder(Path("/tmp/x")))


def test_argv_per_pattern():
    closed = _argv()
    assert closed[closed.index("-f") + 1].endswith("chat.py") and "--users" in closed and "--pacer-file" not in closed
    shaped = _argv(pattern="steps", warmup_s=0, steps=[{"duration_s": 5, "users": 2}])
    assert shaped[shaped.index("-f") + 1].endswith("chat_steps.py") and "--users" not in shaped and "--run-time" not in shaped
    paced = _argv(pattern="poisson", rate=5, users=16, spawn_rate=1)
    assert paced[paced.index("--pacer-file") + 1] == "/tmp/x/pacer.bin"
    assert paced[paced.index("--spawn-rate") + 1] == "16.0"  # the sender pool starts at once
    master = _argv(distributed={"role": "master", "master_host": "0.0.0.0", "expect_workers": 3})
    assert master[master.index("--expect-workers") + 1] == "3" and "--master" in master and "--master-bind-host" in master
    assert master[master.index("--expect-workers-max-wait") + 1] == "300" and "--worker" not in master
