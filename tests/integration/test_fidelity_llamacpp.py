"""Fidelity against real llama-servers: the Q4_1 source (and its second pass, the noise floor) vs a derived Q2_K, teacher-forced."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.fidelity.records import load_reference
from harness.spec.fidelity import FidelitySpec
from harness.fidelity.stage import FidelityRun
from harness.server.launch import serve
from harness.server.model_source import resolve_model
from harness.server.quantize import derive
from harness.spec import build_spec, resolve_variants
from harness.spec.model import EMBEDDED_MODEL
from tests.integration.conftest import skip_without_quantize

pytestmark = pytest.mark.integration


def _serve(model: Path, folder: Path):
    server = {"model": str(model), "llamacpp": {"parallel": 1, "ctx_size": 2048, "threads": 2}}
    spec = build_spec({"name": "fidelity", "server": server}, {}, [])
    (variant,) = resolve_variants(spec)
    return serve(variant, folder)


def test_q2_k_is_further_from_the_source_than_the_noise_floor(tmp_path):
    skip_without_quantize()
    source = Path(resolve_model(EMBEDDED_MODEL).location)
    q2k = derive(source, "Q2_K", tmp_path / "quantized")
    section = FidelitySpec(prompts=40, max_tokens=16, concurrency=1, bootstrap=1000)

    with _serve(source, tmp_path / "base-server") as running:
        baseline = FidelityRun(section, running.endpoint, tmp_path / "base").start().finish()
    floor = baseline.noise_floor
    assert floor is not None and floor.prompts == 40 and not baseline.failures
    # llama-server is teacher-forced through a grammar admitting only the reference's text
    assert floor.method == "teacher_forcing" and "grammar" in baseline.notes[0]
    assert floor.coverage == 1.0 and floor.kl.high < 1e-3

    reference = load_reference(baseline.reference_path)
    first = next(iter(reference.generations.values()))
    assert len(first.tokens) == 16 and first.token_ids is not None and len(first.top[0]) >= 5  # llama-server gives ids
    assert reference.info is not None and reference.info.engine == "llamacpp" and reference.info.top_k == 5

    with _serve(q2k.path, tmp_path / "q2k-server") as running:
        variant = FidelityRun(section, running.endpoint, tmp_path / "q2k", reference=reference).start().finish()
    c = variant.comparison
    assert c is not None and c.prompts == 40 and not variant.failures
    # Q2_K: less top-1 agreement and more KL than the source against itself, intervals apart
    assert c.top1_agreement.high < floor.top1_agreement.low, (c.line(), floor.line())
    assert c.kl.low > floor.kl.high, (c.line(), floor.line())
    assert c.identical_rate.value < floor.identical_rate.value
    assert c.method == "teacher_forcing" and c.coverage > 0.8  # a few prompts tokenize the forced text differently
    print(f"\nnoise floor: {floor.line()}\nQ2_K:        {c.line()}\n"
          f"time: baseline {baseline.duration_s:.0f} s (2 passes), Q2_K {variant.duration_s:.0f} s")
