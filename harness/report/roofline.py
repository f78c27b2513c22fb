"""Decode roofline: an upper bound on output tokens/s for a batch, from bytes moved and FLOPs per step.

Each decode step streams every weight once (params x bytes/weight) plus each sequence's KV cache
(batch x context x KV bytes/token) and does ~2 x params FLOPs per sequence, so
    step_s = max(bytes / bandwidth, 2 x params x batch / peak)   and   ceiling = batch / step_s.
Achieved fraction = measured output tokens/s / ceiling (the seeds did this by hand).
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.server.model_facts import BITS_PER_WEIGHT, bits_from, params_from_name  # noqa: F401  (model facts, used with the roofline)


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


def batch_sizes(limit: int) -> tuple[int, ...]:
    """Powers of two up to `limit` (at least 1), plus `limit` itself."""
    sizes, b = [], 1
    while b < max(1, limit):
        sizes.append(b)
        b *= 2
    return tuple(sizes + [max(1, limit)])
