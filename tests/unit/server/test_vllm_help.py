"""Every flag the harness can put on a `vllm serve` command line exists in vLLM 0.26.0.

Checked against `vllm serve --help=all`, recorded on an H100 (../shared/fixtures/vllm-0.26.0/serve_help_all.txt),
with every knob set, both ways for the on/off knobs, for both launchers; the typed choices
(dtype, kv-cache dtype) must be among the choices vLLM prints.
"""

from __future__ import annotations

import re
import typing

import pytest

from harness.server.engines.vllm import _TOGGLES, _VALUED, NOT_FLAGS, vllm_argv, vllm_engine_args
from harness.spec import build_spec, resolve_variants
from harness.spec.model import VllmSettings

OPTION_LINE = re.compile(r"^  (-{1,2}[A-Za-z0-9][\w-]*.*)$")


def _help(vllm_fixtures) -> tuple[set[str], dict[str, set[str]]]:
    """(every option string, {option: its {choices}}) from the help text."""
    flags: set[str] = set()
    choices: dict[str, set[str]] = {}
    for line in (vllm_fixtures / "serve_help_all.txt").read_text().splitlines():
        m = OPTION_LINE.match(line)
        if not m:
            continue
        head = re.split(r"\s{2,}", m.group(1))[0]  # option column, before the wrapped description
        for part in head.split(", "):
            name, _, rest = part.partition(" ")
            flags.add(name)
            if rest.startswith("{"):
                choices[name] = set(rest.strip("{}").split(","))
    return flags, choices


def _server(vllm: dict, launcher: str = "subprocess"):
    spec = build_spec({"name": "x", "server": {"kind": "vllm", "served_model_name": "m", "extra_args": ["--max-num-partial-prefills", "2"],
                                               "vllm": {**vllm, "launcher": launcher}}}, {}, [])
    return resolve_variants(spec)[0].server


ALL_ON = {
    "dtype": "bfloat16", "quantization": "fp8", "kv_cache_dtype": "fp8", "max_num_seqs": 8, "max_num_batched_tokens": 4096,
    "max_model_len": 2048, "gpu_memory_utilization": 0.8, "enable_chunked_prefill": True, "enable_prefix_caching": True,
    "enforce_eager": True, "tensor_parallel_size": 1, "pipeline_parallel_size": 1,
    "speculative_config": {"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 4}, "seed": 7,
}
ALL_OFF = {**ALL_ON, "enable_chunked_prefill": False, "enable_prefix_caching": False, "enforce_eager": False}


def _flags(argv: list[str]) -> list[str]:
    return [a for a in argv if a.startswith("-")]


def test_the_help_text_parses(vllm_fixtures):
    flags, choices = _help(vllm_fixtures)
    assert len(flags) > 300  # 274 entries, many with a --no- form or a short alias
    assert {"--max-num-seqs", "--no-enable-prefix-caching", "-tp"} <= flags
    assert "fp8" in choices["--kv-cache-dtype"] and "bfloat16" in choices["--dtype"]


def test_every_knob_is_mapped_to_a_flag():
    engine_fields = set(VllmSettings.model_fields) - NOT_FLAGS
    mapped = set(_VALUED) | set(_TOGGLES) | {"speculative_config"}
    assert engine_fields == mapped, f"unmapped VllmSettings fields: {engine_fields ^ mapped}"


@pytest.mark.parametrize("knobs", [ALL_ON, ALL_OFF], ids=["on", "off"])
@pytest.mark.parametrize("launcher", ["subprocess", "docker"])
def test_every_emitted_flag_exists_in_vllm_serve_help(vllm_fixtures, knobs, launcher):
    flags, _ = _help(vllm_fixtures)
    server = _server(knobs, launcher)
    engine = vllm_engine_args(server, 8000)
    emitted = _flags(engine)
    # each knob set produced its flag
    assert len([f for f in emitted if f not in ("--served-model-name", "--host", "--port", "--max-num-partial-prefills",
                                               "--enable-prompt-tokens-details")]) == len(knobs)
    argv = vllm_argv(server, "/models/m", 8000)
    if launcher == "docker":  # flags after the image name go to `vllm serve`; the ones before are docker's
        argv = argv[argv.index(server.vllm.docker_image) + 1 :]
        assert argv[:2] == ["--model", "/model"]
    else:
        assert argv[:3] == ["vllm", "serve", "/models/m"]
    unknown = [f for f in _flags(argv) if f not in flags]
    assert not unknown, f"flags vllm serve 0.26.0 does not know: {unknown}"


@pytest.mark.parametrize("field,flag", [("dtype", "--dtype"), ("kv_cache_dtype", "--kv-cache-dtype")])
def test_typed_choices_are_vllm_choices(vllm_fixtures, field, flag):
    _, choices = _help(vllm_fixtures)
    annotation = VllmSettings.model_fields[field].annotation
    literal = next(a for a in typing.get_args(annotation) if typing.get_origin(a) is typing.Literal)
    ours = set(typing.get_args(literal))
    assert ours <= choices[flag], f"{field} allows values vLLM rejects: {ours - choices[flag]}"
