"""Facts about a model: from its name and settings (bits per weight, size), and from its own files.

`read_model_facts` reads GGUF metadata or an HF `config.json` (+ safetensors headers) into
`ModelFacts`; `model_fact_metrics` turns them into the `knob/*` metrics the roofline reads back.
Used when knobs are logged (tracking) and by the roofline (report); nothing here touches a server.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# bits per weight by quantization / GGUF type (block scales included)
BITS_PER_WEIGHT = {
    "f32": 32.0, "float32": 32.0, "float": 32.0,
    "bf16": 16.0, "bfloat16": 16.0, "f16": 16.0, "fp16": 16.0, "float16": 16.0, "half": 16.0, "auto": 16.0,
    "fp8": 8.0, "q8_0": 8.5, "q6_k": 6.56, "q5_k_m": 5.69, "q5_0": 5.5, "q5_1": 6.0,
    "q4_k_m": 4.85, "q4_0": 4.5, "q4_1": 5.0, "awq": 4.25, "awq_marlin": 4.25, "gptq": 4.25, "gptq_marlin": 4.25,
    "bitsandbytes": 4.5,
}

KV_BYTES = {
    "auto": 2.0, "f16": 2.0, "bf16": 2.0, "float16": 2.0, "bfloat16": 2.0, "f32": 4.0,
    "fp8": 1.0, "fp8_e4m3": 1.0, "fp8_e5m2": 1.0, "q8_0": 34 / 32, "q5_1": 24 / 32, "q5_0": 22 / 32,
    "q4_1": 20 / 32, "q4_0": 18 / 32, "iq4_nl": 18 / 32,
}
"""Bytes per KV-cache element by cache dtype (vLLM `kv_cache_dtype`, llama.cpp `--cache-type-k/-v`)."""

FACT_METRICS = ("knob/params_b", "knob/layers", "knob/kv_heads", "knob/head_dim", "knob/bits_per_weight", "knob/kv_bytes_per_token")
"""The metrics `model_fact_metrics` can return."""

_GGUF_TYPE = re.compile(r"[.-](Q\d_K_[SML]|Q\d_K|Q\d_\d|F16|BF16|F32)\.gguf$", flags=re.I)


def gguf_type(model: str) -> str | None:
    """The weight type a GGUF file name states ('…Q4_1.gguf' -> 'Q4_1'), upper case; None otherwise."""
    m = _GGUF_TYPE.search(model)
    return m.group(1).upper() if m else None


def params_from_name(model: str) -> float | None:
    """Parameter count from a model name that states it ('Llama-3.1-8B', 'SmolLM2-135M'); None for `synthetic://<shape>`
    (its stored config.json counts it: 'qwen2.5-7b' has 7.62B)."""
    if model.startswith("synthetic://"):
        return None
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


@dataclass(frozen=True)
class ModelFacts:
    """Architecture facts read from a model's files; None where the files do not say."""

    params: float | None = None
    """Parameter count (weights, embeddings included; quantized checkpoints: the unpacked count)."""
    layers: int | None = None
    kv_heads: int | None = None
    head_dim: int | None = None
    bits_per_weight: float | None = None
    """Mean stored bits per parameter (GGUF: tensor bytes / elements; HF: 16 unquantized, else bytes / params)."""
    form: str = ""
    """'gguf' or 'hf' (config.json + safetensors); '' when nothing was read."""
    source: str = ""
    """Where the facts came from, e.g. 'gguf metadata + tensors', 'config.json + safetensors headers'."""
    note: str = ""
    """Why some fact is missing (unreadable file, unknown architecture)."""

    def kv_bytes_per_token(self, dtype: str | None = None) -> float | None:
        """KV-cache bytes one token occupies: 2 (K and V) x layers x kv_heads x head_dim x bytes of `dtype` (None: 16-bit)."""
        if not (self.layers and self.kv_heads and self.head_dim):
            return None
        return 2.0 * self.layers * self.kv_heads * self.head_dim * KV_BYTES.get((dtype or "auto").lower(), 2.0)


def read_model_facts(location: str | Path) -> ModelFacts:
    """Facts from a GGUF file, a model folder (config.json) or a Hub repo id (cache first, then the Hub); never raises."""
    from harness.server import model_files

    text = str(location)
    path = Path(text).expanduser()
    try:
        if text.startswith("synthetic://"):  # the shape's config.json, without making its folder
            from harness.server.synthetic import shape_config

            return model_files.hf_facts(shape_config(text[len("synthetic://"):]), None, None, text)
        if path.is_file() and path.suffix.lower() == ".gguf":
            return model_files.gguf_facts(path)
        if path.is_dir():
            return model_files.folder_facts(path)
        if path.is_file() and path.name == "config.json":
            return model_files.folder_facts(path.parent)
        if model_files.REPO_ID.match(text) and not path.exists():
            return model_files.hub_facts(text)
    except Exception as exc:  # a model's files are read best-effort: a roofline input, never a run failure
        return ModelFacts(note=f"{text}: cannot read model facts: {type(exc).__name__}: {exc}"[:300])
    return ModelFacts(note=f"{text}: not a GGUF file, a model folder or a Hub repo id")


def _runtime_bits(facts: ModelFacts, settings: Mapping[str, Any]) -> float | None:
    """Bits the engine serves the weights at: an explicit quantization wins; a dtype casts an unquantized HF checkpoint."""
    quant = str(settings.get("quantization") or "").lower()
    if quant in BITS_PER_WEIGHT:
        return BITS_PER_WEIGHT[quant]
    dtype = str(settings.get("dtype") or "auto").lower()
    if facts.form == "hf" and facts.bits_per_weight == 16.0 and dtype in BITS_PER_WEIGHT:
        return BITS_PER_WEIGHT[dtype]
    return facts.bits_per_weight


def _kv_bytes(facts: ModelFacts, settings: Mapping[str, Any]) -> float | None:
    """KV bytes per token at the engine's cache dtype (vLLM `kv_cache_dtype`; llama.cpp's K and V types, averaged)."""
    if settings.get("kv_cache_dtype"):
        return facts.kv_bytes_per_token(str(settings["kv_cache_dtype"]))
    k, v = (facts.kv_bytes_per_token(str(settings.get(key) or "f16")) for key in ("cache_type_k", "cache_type_v"))
    return None if k is None or v is None else (k + v) / 2


def model_fact_metrics(model_location: str | None, engine_kind: str | None = None,
                       settings: Mapping[str, Any] | None = None) -> dict[str, float]:
    """`knob/params_b`, `knob/layers`, `knob/kv_heads`, `knob/head_dim`, `knob/bits_per_weight`, `knob/kv_bytes_per_token`
    read from the served model's files (those known; {} when nothing could be read).

    `model_location` is the resolved location (a local file or folder, or a Hub repo id; or `synthetic://<shape>`,
    whose stored config.json is read, also for an attached endpoint); `engine_kind` the run's `server.kind` (an engine
    that only attaches serves no file of ours: {}); `settings` the engine's
    settings (its spec section dumped): an explicit `quantization` or `dtype` changes the bits the weights are
    served at, `kv_cache_dtype` or `cache_type_k`/`cache_type_v` the KV bytes per token.
    """
    from harness.server.engines import find_engine

    eng = find_engine(engine_kind)
    synthetic = str(model_location or "").startswith("synthetic://")  # known from its name, attached or launched
    if not model_location or (eng is not None and not eng.launches and not synthetic):
        return {}
    settings = settings or {}
    facts = read_model_facts(model_location)
    values = {
        "knob/params_b": facts.params / 1e9 if facts.params else None,
        "knob/layers": facts.layers, "knob/kv_heads": facts.kv_heads, "knob/head_dim": facts.head_dim,
        "knob/bits_per_weight": _runtime_bits(facts, settings), "knob/kv_bytes_per_token": _kv_bytes(facts, settings),
    }
    return {k: float(v) for k, v in values.items() if v is not None and math.isfinite(float(v))}
