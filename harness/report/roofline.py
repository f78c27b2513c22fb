"""Decode roofline: an upper bound on output tokens/s for a batch, from bytes moved and FLOPs per step.

Each decode step streams every weight once (params x bytes/weight) plus each sequence's KV cache
(batch x context x KV bytes/token) and does ~2 x params FLOPs per sequence, so
    step_s = max(bytes / bandwidth, 2 x params x batch / peak)   and   ceiling = batch / step_s.
Achieved fraction = measured output tokens/s / ceiling (the seeds did this by hand).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.server.model_facts import BITS_PER_WEIGHT, bits_from, params_from_name  # noqa: F401  (model facts, used with the roofline)


@dataclass(frozen=True)
class Hardware:
    name: str
    bandwidth_gbs: float
    peak_tflops: float | None
    """Dense bf16/fp16 peak; None = unknown (the compute term is then ignored)."""


# datasheet numbers: memory bandwidth GB/s, dense bf16 TFLOP/s (fp16 where the chip has no bf16; no sparsity),
# each with the pattern its NVML / nvidia-smi name matches (upper case, '-' and '_' read as spaces), most specific first
_TABLE: tuple[tuple[str, float, float | None, str], ...] = (
    ("B200", 8000, 2250, r"\bB200\b"),
    ("B100", 8000, 1750, r"\bB100\b"),
    ("GH200-144GB", 4900, 989, r"\bGH200\b.*\b144G"),
    ("GH200", 4000, 989, r"\bGH200\b"),
    ("H200-NVL", 4800, 835, r"\bH200\b.*\bNVL\b"),
    ("H200", 4800, 989, r"\bH200\b"),
    ("H100-NVL", 3900, 835, r"\bH100\b.*\bNVL\b"),
    ("H100-PCIe", 2000, 756, r"\b(H100|H800)\b.*\bPCIE\b"),
    ("H100-SXM", 3350, 989, r"\bH100\b|\bH800\b"),
    ("H20", 4000, 148, r"\bH20\b"),
    ("A100-PCIe-80GB", 1935, 312, r"\b(A100|A800)\b.*(\b80GB\b.*\bPCIE\b|\bPCIE\b.*\b80GB\b)"),
    ("A100-40GB", 1555, 312, r"\b(A100|A800)\b.*\b40GB\b"),
    ("A100-80GB", 2039, 312, r"\bA100\b|\bA800\b"),
    ("A40", 696, 150, r"\bA40\b"),
    ("L40S", 864, 362, r"\bL40S\b"),
    ("L40", 864, 181, r"\bL40\b"),
    ("L4", 300, 121, r"\bL4\b"),
    ("A10G", 600, 125, r"\bA10G\b"),
    ("A10", 600, 125, r"\bA10\b"),
    ("T4", 320, 65, r"\bT4\b"),
    ("V100", 900, 125, r"\bV100\b"),
    ("RTX-6000-Ada", 960, 364, r"\bRTX 6000 ADA\b"),
    ("RTX-A6000", 768, 155, r"\bA6000\b"),
    ("RTX-5090", 1792, 209, r"\b5090\b"),
    ("RTX-4090", 1008, 165, r"\b4090\b"),
    ("RTX-3090", 936, 71, r"\b3090\b"),
)
KNOWN_GPUS: dict[str, Hardware] = {name: Hardware(name, bw, peak) for name, bw, peak, _ in _TABLE}
_PATTERNS = [(re.compile(pattern), KNOWN_GPUS[name]) for name, _, _, pattern in _TABLE]


def match_gpu(name: str | None) -> Hardware | None:
    """Known hardware for a table key ('H100-SXM') or a name as NVML / nvidia-smi write it ('NVIDIA H100 80GB HBM3')."""
    if not name:
        return None
    by_key = {k.upper(): h for k, h in KNOWN_GPUS.items()}
    if name.strip().upper() in by_key:
        return by_key[name.strip().upper()]
    n = re.sub(r"[-_\s]+", " ", name.upper())
    return next((hw for pattern, hw in _PATTERNS if pattern.search(n)), None)


def gpu_name(tag: str | None) -> str | None:
    """The GPU name of a `harness.gpu` tag ('2x NVIDIA H200' -> 'NVIDIA H200'); None for 'none' or no tag."""
    if not tag or tag == "none":
        return None
    count, sep, rest = tag.partition("x ")
    return rest if sep and count.isdigit() else tag


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
    kv_bytes_per_token: float = 0.0
    context_tokens: int = 0
    inputs: str = ""
    """Where each input came from (spec, logged model facts, name, engine default, measured context)."""

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
