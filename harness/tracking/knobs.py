"""Numeric knobs as metrics (so MLflow's scatter / parallel-coordinates views can use them) and descriptive tags."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess

from harness.server.engines import engine
from harness.server.model_facts import model_fact_metrics, params_from_name
from harness.spec.model import ResolvedVariant
from harness.tracking.contract import Tag


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
    if model_location and os.path.isfile(model_location):
        out["knob/model_size_mb"] = os.path.getsize(model_location) / 1e6
    if model_location:
        for name, value in model_fact_metrics(model_location, s.kind, settings.model_dump() if settings is not None else None).items():
            if name == "knob/bits_per_weight" and eng.model_form == "file":
                out[name] = value  # one served file (a GGUF): its own tensor table is what is read per weight
            else:
                out.setdefault(name, value)
    return out


def hardware() -> tuple[str, str]:
    """(gpu, cpu) names; gpu is 'none' without nvidia-smi."""
    gpu = "none"
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=10)
            names = [n.strip() for n in out.stdout.splitlines() if n.strip()]
            if names:
                gpu = f"{len(names)}x {names[0]}"
        except (OSError, subprocess.SubprocessError):
            pass
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return gpu, f"{cpu} ({os.cpu_count()} cores)"


def variant_tags(variant: ResolvedVariant) -> dict[str, str]:
    gpu, cpu = hardware()
    eng = engine(variant.server.kind)
    version = eng.version_tag(variant.server)
    # the model the run is described by (an attached endpoint without `server.model`: its served name, not the
    # spec's default GGUF, whose 5 bits the report's roofline would otherwise read from the tag)
    tags = {Tag.MODEL: eng.described_model(variant.server), Tag.QUANTIZATION: quantization(variant),
            Tag.GPU: gpu, Tag.CPU: cpu}
    if version:
        tags[Tag.ENGINE_VERSION] = version
    return tags
