"""What is served, described from the spec and the served files: the engine's numeric knobs, bits per weight,
parameter count and architecture (for MLflow's knob metrics and the roofline), the described model, quantization
and engine version (for the run's tags). The engine registry answers; the MLflow layer only names what it logs."""

from __future__ import annotations

import os
from dataclasses import dataclass

from harness.server.engines import engine
from harness.server.model_facts import model_fact_metrics, params_from_name
from harness.spec.model import ResolvedVariant, ServerSpec


@dataclass(frozen=True)
class Served:
    """How a run describes what it served: the model (an attached endpoint without `server.model`: its served name,
    not the spec's default GGUF), the quantization (the engine's, a GGUF type, or 'unknown') and the engine version."""

    model: str
    quantization: str
    engine_version: str | None


def served(server: ServerSpec) -> Served:
    eng = engine(server.kind)
    return Served(eng.described_model(server), eng.quantization(server), eng.version_tag(server) or None)


def quantization(variant: ResolvedVariant) -> str:
    """The `harness.quantization` tag (the engine's quantization, a GGUF type, or 'unknown')."""
    return engine(variant.server.kind).quantization(variant.server)


def knob_metrics(variant: ResolvedVariant, model_location: str | None = None) -> dict[str, float]:
    """The engine's numeric knobs as `knob/<name>`, plus bits per weight and parameter count when known, and the
    architecture read from the served model's files (layers, KV heads, head size, KV bytes per token) for the roofline.
    The nominal bits and the name's parameter count win where both exist (the files' own values fill the gaps), except
    the bits of an engine serving one file (llama.cpp's GGUF, a `llamacpp.quantize` derivative included): its tensor
    table's bits per weight, so a source and its derivatives are logged alike. `knob/model_size_mb`: that file's size."""
    s = variant.server
    eng = engine(s.kind)
    out = eng.knob_values(s)
    settings = eng.settings(s)
    named = eng.described_model(s)
    bits = eng.bits_per_weight(named, settings.model_dump() if settings is not None else {})
    if bits is not None:
        out["knob/bits_per_weight"] = bits
    params = params_from_name(named)
    if params is not None:
        out["knob/params_b"] = params / 1e9
    if model_location is None and s.model.startswith("synthetic://"):
        model_location = s.model  # an attached server of a synthetic shape: the stored shape says what it serves
    if model_location and os.path.isfile(model_location):
        out["knob/model_size_mb"] = os.path.getsize(model_location) / 1e6
    if model_location:
        for name, value in model_fact_metrics(model_location, s.kind, settings.model_dump() if settings is not None else None).items():
            if name == "knob/bits_per_weight" and eng.model_form == "file":
                out[name] = value  # one served file (a GGUF): its own tensor table is what is read per weight
            else:
                out.setdefault(name, value)
    return out
