"""Numeric knobs as metrics (so MLflow's scatter / parallel-coordinates views can use them) and descriptive tags."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess

from harness.report.roofline import bits_from, params_from_name
from harness.spec.model import ResolvedVariant

# spec fields logged as knob/<name> metrics when set (numbers; booleans as 0/1)
_LLAMACPP = ("parallel", "ctx_size", "threads", "batch_size", "cont_batching")
_VLLM = ("max_num_seqs", "max_num_batched_tokens", "max_model_len", "gpu_memory_utilization", "enable_chunked_prefill",
         "enable_prefix_caching", "enforce_eager", "tensor_parallel_size", "pipeline_parallel_size")


def quantization(variant: ResolvedVariant) -> str:
    s = variant.server
    if s.kind == "vllm":
        if s.vllm.quantization:
            return s.vllm.quantization
        bits = bits_from(s.model, None, None)
        return {8.0: "fp8", 4.25: "awq"}.get(bits or 0.0, s.vllm.dtype or "auto")
    import re

    m = re.search(r"[.-](Q\d_K_[SML]|Q\d_K|Q\d_\d|F16|BF16|F32)\.gguf$", s.model, flags=re.I)
    return m.group(1).upper() if m else "unknown"


def knob_metrics(variant: ResolvedVariant) -> dict[str, float]:
    s = variant.server
    out: dict[str, float] = {}
    engine = s.llamacpp if s.kind == "llamacpp" else s.vllm if s.kind == "vllm" else None
    names = _LLAMACPP if s.kind == "llamacpp" else _VLLM if s.kind == "vllm" else ()
    for name in names:
        value = getattr(engine, name)
        if isinstance(value, bool):
            out[f"knob/{name}"] = float(value)
        elif isinstance(value, (int, float)):
            out[f"knob/{name}"] = float(value)
    bits = bits_from(s.model, s.vllm.quantization if s.kind == "vllm" else None, s.vllm.dtype if s.kind == "vllm" else None)
    if bits is not None:
        out["knob/bits_per_weight"] = bits
    params = params_from_name(s.model)
    if params is not None:
        out["knob/params_b"] = params / 1e9
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
    version = variant.server.vllm.docker_image.rsplit(":", 1)[-1] if variant.server.kind == "vllm" and variant.server.vllm.launcher == "docker" else ""
    tags = {"harness.quantization": quantization(variant), "harness.gpu": gpu, "harness.cpu": cpu}
    if version:
        tags["harness.engine_version"] = version
    return tags
