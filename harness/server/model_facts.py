"""Facts about a model read from its name and settings: bits per weight, parameter count, GGUF type.

Used when knobs are logged (tracking) and by the roofline (report); nothing here touches a server.
"""

from __future__ import annotations

import re

# bits per weight by quantization / GGUF type (block scales included)
BITS_PER_WEIGHT = {
    "f32": 32.0, "float32": 32.0, "float": 32.0,
    "bf16": 16.0, "bfloat16": 16.0, "f16": 16.0, "fp16": 16.0, "float16": 16.0, "half": 16.0, "auto": 16.0,
    "fp8": 8.0, "q8_0": 8.5, "q6_k": 6.56, "q5_k_m": 5.69, "q5_0": 5.5, "q5_1": 6.0,
    "q4_k_m": 4.85, "q4_0": 4.5, "q4_1": 5.0, "awq": 4.25, "awq_marlin": 4.25, "gptq": 4.25, "gptq_marlin": 4.25,
    "bitsandbytes": 4.5,
}

_GGUF_TYPE = re.compile(r"[.-](Q\d_K_[SML]|Q\d_K|Q\d_\d|F16|BF16|F32)\.gguf$", flags=re.I)


def gguf_type(model: str) -> str | None:
    """The weight type a GGUF file name states ('…Q4_1.gguf' -> 'Q4_1'), upper case; None otherwise."""
    m = _GGUF_TYPE.search(model)
    return m.group(1).upper() if m else None


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
    gguf = gguf_type(model)
    if gguf and gguf.lower() in BITS_PER_WEIGHT:
        return BITS_PER_WEIGHT[gguf.lower()]
    if re.search(r"awq", model, flags=re.I):
        return BITS_PER_WEIGHT["awq"]
    if re.search(r"fp8", model, flags=re.I):
        return 8.0
    if dtype and dtype.lower() in BITS_PER_WEIGHT:
        return BITS_PER_WEIGHT[dtype.lower()]
    return None
