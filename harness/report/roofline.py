"""Decode roofline: an upper bound on output tokens/s for a batch, from bytes moved and FLOPs per step.

Each decode step streams every weight once (params x bytes/weight) plus each sequence's KV cache
(batch x context x KV bytes/token) and does ~2 x params FLOPs per sequence, so
    step_s = max(bytes / bandwidth, 2 x params x batch / peak)   and   ceiling = batch / step_s.
Achieved fraction = measured output tokens/s / ceiling (the seeds did this by hand).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Hardware:
    name: str
    bandwidth_gbs: float
    peak_tflops: float | None
    """Dense bf16/fp16 peak; None = unknown (the compute term is then ignored)."""


# datasheet numbers: memory bandwidth GB/s, dense bf16 TFLOP/s (no sparsity)
KNOWN_GPUS: dict[str, Hardware] = {h.name: h for h in (
    Hardware("H200", 4800, 989),
    Hardware("H100-SXM", 3350, 989),
    Hardware("H100-PCIe", 2000, 756),
    Hardware("H100-NVL", 3900, 835),
    Hardware("A100-80GB", 2039, 312),
    Hardware("A100-40GB", 1555, 312),
    Hardware("L40S", 864, 362),
    Hardware("L4", 300, 121),
    Hardware("A10G", 600, 125),
    Hardware("RTX-4090", 1008, 165),
)}

# bits per weight by quantization / GGUF type (block scales included)
BITS_PER_WEIGHT = {
    "f32": 32.0, "float32": 32.0, "float": 32.0,
    "bf16": 16.0, "bfloat16": 16.0, "f16": 16.0, "fp16": 16.0, "float16": 16.0, "half": 16.0, "auto": 16.0,
    "fp8": 8.0, "q8_0": 8.5, "q6_k": 6.56, "q5_k_m": 5.69, "q5_0": 5.5, "q5_1": 6.0,
    "q4_k_m": 4.85, "q4_0": 4.5, "q4_1": 5.0, "awq": 4.25, "awq_marlin": 4.25, "gptq": 4.25, "gptq_marlin": 4.25,
    "bitsandbytes": 4.5,
}


def match_gpu(name: str | None) -> Hardware | None:
    """Known hardware for a name as written by nvidia-smi (e.g. 'NVIDIA H100 80GB HBM3') or the table key."""
    if not name:
        return None
    n = name.upper().replace("NVIDIA", "").replace("_", "-").strip()
    if n.replace(" ", "-") in {k.upper() for k in KNOWN_GPUS}:
        return next(h for k, h in KNOWN_GPUS.items() if k.upper() == n.replace(" ", "-"))
    if "H200" in n:
        return KNOWN_GPUS["H200"]
    if "H100" in n:
        return KNOWN_GPUS["H100-PCIe" if "PCIE" in n else "H100-NVL" if "NVL" in n else "H100-SXM"]
    if "A100" in n:
        return KNOWN_GPUS["A100-40GB" if "40GB" in n else "A100-80GB"]
    for key in ("L40S", "L4", "A10G", "RTX-4090"):
        if key.replace("-", " ") in n or key in n:
            return KNOWN_GPUS[key]
    return None


def params_from_name(model: str) -> float | None:
    """Parameter count from a model name that states it ('Llama-3.1-8B', 'SmolLM2-135M')."""
    m = re.findall(r"(?<![A-Za-z0-9.])(\d+(?:\.\d+)?)([BM])(?![A-Za-z])", model.replace("_", "-").split("/")[-1], flags=re.I)
    if not m:
        return None
    value, unit = m[-1]
    return float(value) * (1e9 if unit.upper() == "B" else 1e6)


def bits_from(model: str, quantization: str | None, dtype: str | None = None) -> float | None:
    """Bits per weight from an explicit quantization, a GGUF file name (…Q4_1.gguf) or the dtype."""
    if quantization and quantization.lower() in BITS_PER_WEIGHT:
        return BITS_PER_WEIGHT[quantization.lower()]
    gguf = re.search(r"[.-](Q\d_K_[SML]|Q\d_K|Q\d_\d|F16|BF16|F32)\.gguf$", model, flags=re.I)
    if gguf and gguf.group(1).lower() in BITS_PER_WEIGHT:
        return BITS_PER_WEIGHT[gguf.group(1).lower()]
    if re.search(r"awq", model, flags=re.I):
        return BITS_PER_WEIGHT["awq"]
    if re.search(r"fp8", model, flags=re.I):
        return 8.0
    if dtype and dtype.lower() in BITS_PER_WEIGHT:
        return BITS_PER_WEIGHT[dtype.lower()]
    return None


def decode_ceiling(params: float, bits_per_weight: float, batch: int, bandwidth_gbs: float, peak_tflops: float | None = None,
                   kv_bytes_per_token: float = 0.0, context_tokens: int = 0) -> tuple[float, str]:
    """(output tokens/s ceiling, 'memory' or 'compute' bound) for `batch` sequences decoding together."""
    batch = max(1, int(batch))
    bytes_step = params * bits_per_weight / 8 + batch * context_tokens * kv_bytes_per_token
    mem_s = bytes_step / (bandwidth_gbs * 1e9)
    comp_s = (2 * params * batch) / (peak_tflops * 1e12) if peak_tflops else 0.0
    step = max(mem_s, comp_s)
    return batch / step, ("compute" if comp_s > mem_s else "memory")


@dataclass(frozen=True)
class Roofline:
    variant: str
    hardware: str
    batch: int
    params: float
    bits_per_weight: float
    ceiling_tok_s: float
    bound: str
    achieved_tok_s: float | None
    by_batch: tuple[tuple[int, float], ...] = ()
    """The ceiling for each batch size 1, 2, 4, ... up to the variant's slot count (decode-bound curve)."""

    @property
    def fraction(self) -> float | None:
        return None if self.achieved_tok_s is None or self.ceiling_tok_s <= 0 else self.achieved_tok_s / self.ceiling_tok_s

    def ceilings(self, batches: tuple[int, ...], bandwidth_gbs: float, peak_tflops: float | None, kv: float = 0.0, ctx: int = 0) -> dict[int, float]:
        return {b: decode_ceiling(self.params, self.bits_per_weight, b, bandwidth_gbs, peak_tflops, kv, ctx)[0] for b in batches}


def batch_sizes(limit: int) -> tuple[int, ...]:
    """Powers of two up to `limit` (at least 1), plus `limit` itself."""
    sizes, b = [], 1
    while b < max(1, limit):
        sizes.append(b)
        b *= 2
    return tuple(sizes + [max(1, limit)])
