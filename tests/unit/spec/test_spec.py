"""Spec validation: precedence, and every kind of bad input names the field and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import SpecError
from harness.spec import build_spec, load_spec, resolve_variants
from harness.spec.model import EMBEDDED_MODEL

REPO = Path(__file__).resolve().parents[3]


def _problems(data, environ=None, sets=None) -> str:
    with pytest.raises(SpecError) as info:
        build_spec(data, environ or {}, sets or [])
    return "\n".join(info.value.problems)


def test_defaults_are_the_embedded_model():
    spec = build_spec({"name": "x"}, {}, [])
    assert spec.server.kind == "llamacpp"
    assert spec.server.model == EMBEDDED_MODEL
    assert spec.server.host == "127.0.0.1"
    assert [v.name for v in spec.variants] == ["default"]


def test_precedence_defaults_yaml_env_cli():
    data = {"name": "x", "load": {"users": 2, "duration_s": 10}}
    assert build_spec(data, {}, []).load.users == 2
    env = {"HARNESS_LOAD__USERS": "3", "HARNESS_LOAD__SPAWN_RATE": "1.5"}
    spec = build_spec(data, env, [])
    assert spec.load.users == 3 and spec.load.spawn_rate == 1.5 and spec.load.duration_s == 10
    spec = build_spec(data, env, ["load.users=5"])
    assert spec.load.users == 5


def test_env_aliases_data_dir_and_tracking_uri():
    spec = build_spec({"name": "x"}, {"HARNESS_DATA_DIR": "/d", "MLFLOW_TRACKING_URI": "sqlite:///t.db"}, [])
    assert spec.quality.data_dir == "/d"
    assert spec.tracking.uri == "sqlite:///t.db"


def test_unknown_field_is_named_with_known_fields():
    text = _problems({"name": "x", "load": {"userz": 3}})
    assert "load.userz: unknown field" in text
    assert "users" in text  # the fix lists the real field


def test_wrong_type_names_field_and_expectation():
    text = _problems({"name": "x", "load": {"users": "many"}})
    assert "load.users" in text and "'many'" in text and "Concurrent simulated users" in text


def test_out_of_range_names_field():
    text = _problems({"name": "x", "load": {"users": 0}})
    assert "load.users" in text and "greater than or equal to 1" in text


def test_missing_name():
    assert "name: Field required" in _problems({})


def test_bad_enum():
    text = _problems({"name": "x", "server": {"kind": "tgi"}})
    assert "server.kind" in text and "llamacpp" in text


def test_duplicate_variants():
    text = _problems({"name": "x", "variants": [{"name": "a"}, {"name": "a"}]})
    assert "duplicate variant names ['a']" in text


def test_bad_variant_override_is_named_by_variant():
    text = _problems({"name": "x", "variants": [{"name": "ok"}, {"name": "bad", "server": {"llamacpp": {"parallel": 0}}}]})
    assert "variants.1(bad).server.llamacpp.parallel" in text


def test_variant_unknown_server_field():
    text = _problems({"name": "x", "variants": [{"name": "v", "server": {"max_num_seqs": 8}}]})
    assert "variants.0(v).server.max_num_seqs: unknown field" in text
    assert "vllm" in text  # known fields listed; max_num_seqs lives under server.vllm


def test_openai_kind_needs_base_url():
    assert "openai.base_url" in _problems({"name": "x", "server": {"kind": "openai"}})


def test_api_key_env_must_be_a_name():
    assert "NAME of an environment variable" in _problems({"name": "x", "server": {"api_key_env": "sk-abc 123"}})


def test_bad_cli_override_syntax():
    with pytest.raises(SpecError, match="expected dotted.path=value"):
        build_spec({"name": "x"}, {}, ["load.users"])


def test_quality_unknown_task_in_overrides():
    assert "unknown task(s) ['mmlu']" in _problems({"name": "x", "quality": {"num_fewshot": {"mmlu": 5}}})


def test_length_distribution_bounds():
    text = _problems({"name": "x", "load": {"prompt_tokens": {"kind": "uniform", "mean": 10, "min": 50, "max": 20}}})
    assert "load.prompt_tokens" in text and "min (50) is larger than max (20)" in text


def test_variant_merge_keeps_base_and_overrides():
    spec = build_spec(
        {"name": "x", "server": {"llamacpp": {"ctx_size": 4096}}, "variants": [{"name": "p1", "server": {"llamacpp": {"parallel": 1}}}]},
        {},
        [],
    )
    (v,) = resolve_variants(spec)
    assert v.server.llamacpp.parallel == 1 and v.server.llamacpp.ctx_size == 4096


def test_missing_file_error_names_fix(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")


def test_non_mapping_yaml(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("- a\n- b\n")
    with pytest.raises(SpecError, match="top level must be a mapping"):
        load_spec(p)


@pytest.mark.parametrize("name", ["local-smoke.yaml", "vllm-quant-sweep.yaml", "load-patterns.yaml"])
def test_examples_validate(name):
    spec = load_spec(REPO / "examples" / name, environ={})
    assert len(resolve_variants(spec)) >= 2


def test_every_field_has_a_description():
    from harness.spec import model as m

    missing = []
    for cls in vars(m).values():
        if isinstance(cls, type) and issubclass(cls, m.Strict) and cls is not m.Strict:
            assert cls.model_config.get("extra") == "forbid", cls
            missing += [f"{cls.__name__}.{n}" for n, f in cls.model_fields.items() if not f.description]
    assert not missing


@pytest.mark.parametrize("path", sorted((REPO / "examples").glob("*.yaml")), ids=lambda p: p.name)
def test_every_example_validates(path):
    """Every spec under examples/ is read, checked and resolved as `harness validate` would (no network, no server)."""
    spec = load_spec(path, environ={})
    assert resolve_variants(spec), path.name
