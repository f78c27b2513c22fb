"""Specs that validated but broke at run time now fail early with one clear line; no input gives a traceback."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import SpecError
from harness.spec.loader import build_spec, load_spec, read_yaml


def _problems(data=None, assignments=None) -> str:
    with pytest.raises(SpecError) as err:
        build_spec(data or {"name": "x"}, {}, assignments or [])
    return str(err.value)


@pytest.mark.parametrize("field", ["load.duration_s", "load.request_timeout_s", "quality.timeout_s", "load.warmup_s"])
def test_infinite_and_nan_numbers_are_spec_errors(field):
    for value in (".inf", ".nan", "-.inf"):
        text = _problems(assignments=[f"{field}={value}"])
        assert field.split(".")[1] in text and ("finite" in text or "greater than" in text), text


@pytest.mark.parametrize("assignment,expect", [
    ("load.processes=100000", "load.processes: Input should be less than or equal to 256"),
    ("load.users=1000000000000", "load.users: Input should be less than or equal to 100000"),
    ("load.users=true", "load.users: Value error, expected a number, got True"),
    ("load.duration_s=99999999", "load.duration_s: Input should be less than or equal to"),
])
def test_upper_bounds_and_booleans(assignment, expect):
    assert expect in _problems(assignments=[assignment])


@pytest.mark.parametrize("name", ["../../../x", "a/b", "a\x00b", "x" * 600, "..", "a\nb", ""])
def test_unsafe_names_are_rejected_for_the_experiment_and_variants(name):
    text = _problems({"name": name})
    assert text.startswith("invalid spec:\n  - name:") and ("safe name" in text or "at least" in text)
    assert name not in text or len(name) < 80  # a 600-character name is not echoed whole
    text = _problems({"name": "ok", "variants": [{"name": name}]})
    assert "variants.0.name" in text


def test_duplicate_keys_are_errors(tmp_path):
    p = tmp_path / "dup.yaml"
    p.write_text("name: a\nload:\n  users: 2\n  users: 8\n")
    with pytest.raises(SpecError, match=r"duplicate key 'users'"):
        read_yaml(p)


def test_an_alias_bomb_is_rejected_fast(tmp_path):
    lines = ["name: bomb", "server:", "  vllm:", "    speculative_config:", '      a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 10):
        lines.append(f"      a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    p = tmp_path / "bomb.yaml"
    p.write_text("\n".join(lines) + "\n")
    assert p.stat().st_size < 1024
    t = time.perf_counter()
    with pytest.raises(SpecError, match="expands to more than"):
        load_spec(p, {}, [])
    assert time.perf_counter() - t < 5.0  # generous: the check itself takes microseconds


def test_a_bomb_in_a_cli_override_is_rejected_too():
    text = "{" + ", ".join(f"k{i}: &a{i} [" + ", ".join([f"*a{i - 1}" if i else "0"] * 10) + "]" for i in range(8)) + "}"
    with pytest.raises(SpecError, match="expands to more than"):
        build_spec({"name": "x"}, {}, [f"server.vllm.speculative_config={text}"])


@pytest.mark.parametrize("content,expect", [
    (b"\xff\xfe" + "name: a\n".encode("utf-16-le"), None),  # UTF-16 with BOM is read
    (b"name: a\n\x00\x00", "NUL bytes"),
    (bytes(range(256)) * 4, "not a UTF-8"),
    (b"name: [" * 20000, "nested"),
    (b"- a\n- b\n", "the top level must be a mapping"),
    (b"[" * 100 + b"]" * 100, "nested more than"),
    (b"{" * 30 + b"}" * 30, "unhashable key"),
])
def test_any_file_encoding_or_shape_gives_one_clear_error(tmp_path, content, expect):
    p = tmp_path / "s.yaml"
    p.write_bytes(content)
    if expect is None:
        assert read_yaml(p) == {"name": "a"}
        return
    with pytest.raises(SpecError, match=expect):
        read_yaml(p)


def test_a_folder_given_as_the_spec_says_so(tmp_path):
    with pytest.raises(SpecError, match="is a folder, not a spec file"):
        read_yaml(tmp_path)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode)))
def test_fuzz_no_input_produces_a_traceback(tmp_path_factory, blob):
    p = tmp_path_factory.mktemp("fuzz") / "spec.yaml"
    p.write_bytes(blob)
    try:
        load_spec(p, {}, [])
    except SpecError:
        pass


YAMLISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(st.text(max_size=12), children, max_size=4)),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "server", "variants", "load", "quality", "metrics", "tracking", "gates", "smoke", "zzz"]),
                       YAMLISH, max_size=6))
def test_fuzz_any_shape_of_spec_tree_gives_a_spec_error_or_a_spec(data):
    try:
        build_spec(data, {}, [])
    except SpecError:
        pass
