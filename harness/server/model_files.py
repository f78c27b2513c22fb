"""Readers of a model's own files for `ModelFacts`: GGUF metadata and tensors, HF config.json and safetensors headers.

Parameter counts, by source: GGUF sums its tensors' elements (`general.parameter_count` when the
file states it); an unquantized HF checkpoint sums the elements in its safetensors headers (read
from the files, or from the Hub by range requests); a quantized one (packed integers) and one with no
readable headers are counted from config.json's shapes (dense decoders: embeddings, attention,
gated MLP, norms); the index's `metadata.total_size` / dtype bytes is the last resort.
"""

from __future__ import annotations

import functools
import json
import math
import re
import struct
from pathlib import Path
from typing import Any

from harness.server.model_facts import BITS_PER_WEIGHT, ModelFacts

REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_SPLIT = re.compile(r"-(\d{5})-of-(\d{5})\.gguf$", flags=re.I)
_DTYPE_BYTES = {"F64": 8, "I64": 8, "F32": 4, "I32": 4, "U32": 4, "BF16": 2, "F16": 2, "I16": 2, "F8_E4M3": 1, "F8_E5M2": 1,
                "I8": 1, "U8": 1, "BOOL": 1}
_MOE_KEYS = ("num_experts", "num_local_experts", "n_routed_experts")


# ------------------------------------------------------------------ GGUF

def _field(reader: Any, key: str) -> Any:
    f = reader.fields.get(key)
    if f is None:
        return None
    values = [bytes(f.parts[i]).decode() if f.types[-1].name == "STRING" else f.parts[i].tolist()[0] for i in f.data]
    return values if f.types[0].name == "ARRAY" else values[0]


def gguf_facts(path: Path) -> ModelFacts:
    """Layers, heads, head size from `<arch>.*` metadata; params and bits from the tensors (every part of a split file)."""
    stat = path.stat()
    return _gguf_facts(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _gguf_facts(name: str, size: int, mtime_ns: int) -> ModelFacts:
    """Memoised by file identity: the reader parses the whole vocabulary (seconds for a large one)."""
    from gguf import GGUFReader

    path = Path(name)

    reader = GGUFReader(str(path))
    arch = _field(reader, "general.architecture") or "llama"
    layers = _field(reader, f"{arch}.block_count")
    heads = _field(reader, f"{arch}.attention.head_count")
    kv_heads = _field(reader, f"{arch}.attention.head_count_kv") or heads
    embedding = _field(reader, f"{arch}.embedding_length")
    head_dim = _field(reader, f"{arch}.attention.key_length") or (embedding // heads if embedding and heads else None)
    if isinstance(kv_heads, list):  # per-layer counts (some architectures): the mean
        kv_heads = round(sum(kv_heads) / len(kv_heads))
    parts = [path]
    m = _SPLIT.search(path.name)
    if m and int(m[2]) > 1:
        parts = [path.with_name(_SPLIT.sub(f"-{i:05d}-of-{m[2]}.gguf", path.name)) for i in range(1, int(m[2]) + 1)]
    elements = stored = 0
    for i, part in enumerate(parts):
        r = reader if i == 0 else GGUFReader(str(part))
        elements += sum(int(t.n_elements) for t in r.tensors)
        stored += sum(int(t.n_bytes) for t in r.tensors)
    stated = _field(reader, "general.parameter_count")
    params = float(stated) if stated else float(elements) or None
    bits = 8.0 * stored / elements if elements else None
    return ModelFacts(params, layers, kv_heads, head_dim, bits, "gguf",
                      "gguf metadata" + (" (general.parameter_count)" if stated else " + tensor elements"))


# ------------------------------------------------------------------ HF

def _headers(folder: Path) -> tuple[int, int] | None:
    """(elements, bytes) summed over the safetensors headers of `folder` (8-byte length + JSON); None without files."""
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        return None
    elements = stored = 0
    for f in files:
        with f.open("rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(n))
        for name, t in header.items():
            if name != "__metadata__":
                elements += math.prod(t["shape"])
                stored += t["data_offsets"][1] - t["data_offsets"][0]
    return elements, stored


def _text_config(config: dict[str, Any]) -> dict[str, Any]:
    return config.get("text_config") or config.get("llm_config") or config


def config_params(config: dict[str, Any]) -> float | None:
    """Parameters of a dense decoder from config.json shapes: embeddings (+ an untied head), attention, gated MLP, norms."""
    c = _text_config(config)
    hidden, layers, heads = c.get("hidden_size"), c.get("num_hidden_layers"), c.get("num_attention_heads")
    vocab, inter = c.get("vocab_size"), c.get("intermediate_size")
    if not all((hidden, layers, heads, vocab, inter)) or any(c.get(k) for k in _MOE_KEYS):
        return None
    kv = c.get("num_key_value_heads") or heads
    hd = c.get("head_dim") or hidden // heads
    tied = c.get("tie_word_embeddings", config.get("tie_word_embeddings", False))
    attn = hidden * hd * (2 * heads + 2 * kv)
    if c.get("attention_bias") or c.get("model_type") == "qwen2":
        attn += hd * (heads + 2 * kv)
    layer = attn + 3 * hidden * inter + 2 * hidden
    return float(vocab * hidden * (1 if tied else 2) + layers * layer + hidden)


def _quant_bits(q: dict[str, Any]) -> float | None:
    method = str(q.get("quant_method") or "").lower()
    if method in ("awq", "gptq") and q.get("bits"):
        return float(q["bits"]) + 0.25  # group scales and zeros (group size 128)
    if method == "bitsandbytes":
        return 8.0 if q.get("load_in_8bit") else 4.5
    return BITS_PER_WEIGHT.get(method)


def hf_facts(config: dict[str, Any], headers: tuple[int, int] | None, total_size: int | None, where: str) -> ModelFacts:
    """Facts from a parsed config.json plus, when known, the checkpoint's (elements, bytes) and the index's total size."""
    c = _text_config(config)
    layers, heads = c.get("num_hidden_layers"), c.get("num_attention_heads")
    kv_heads = c.get("num_key_value_heads") or heads
    head_dim = c.get("head_dim") or (c["hidden_size"] // heads if c.get("hidden_size") and heads else None)
    quant = config.get("quantization_config") or c.get("quantization_config")
    counted = config_params(config)
    sources = ["config.json"]
    if quant:  # packed integer tensors: elements in the headers are not parameters
        params = counted
        bits = 8.0 * headers[1] / counted if headers and counted else _quant_bits(quant)
        sources.append("shapes (quantized)" + (" + safetensors bytes" if headers and counted else ""))
    elif headers:
        params, bits = float(headers[0]), 16.0
        sources.append("safetensors headers")
    elif counted:
        params, bits = counted, 16.0
        sources.append("shapes")
    else:
        dtype = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16").lower()
        size = {"float32": 4, "float16": 2, "bfloat16": 2}.get(dtype, 2)
        params, bits = (total_size / size if total_size else None), 16.0
        sources.append("index total_size")
    note = "" if params else f"{where}: no parameter count (an MoE or unknown architecture without readable safetensors headers)"
    return ModelFacts(params, layers, kv_heads, head_dim, bits, "hf", f"{where}: " + " + ".join(sources), note)


def folder_facts(folder: Path) -> ModelFacts:
    """A local model folder: config.json, its safetensors headers, the index's total size; a lone GGUF file in it."""
    config_file = folder / "config.json"
    if not config_file.is_file():
        ggufs = sorted(folder.glob("*.gguf"))
        if len(ggufs) == 1 or (ggufs and _SPLIT.search(ggufs[0].name)):
            return gguf_facts(ggufs[0])
        return ModelFacts(note=f"{folder}: no config.json or GGUF file")
    index = folder / "model.safetensors.index.json"
    total = json.loads(index.read_text()).get("metadata", {}).get("total_size") if index.is_file() else None
    return hf_facts(json.loads(config_file.read_text()), _headers(folder), total, str(folder))


def hub_facts(repo: str, timeout_s: float = 5.0) -> ModelFacts:
    """A Hub repo id: the cached snapshot when present (offline), else config.json and the safetensors headers from the Hub
    (one try each, `timeout_s`; none with HF_HUB_OFFLINE)."""
    import httpx
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub.utils import build_hf_headers

    cached = huggingface_hub.try_to_load_from_cache(repo, "config.json")
    if isinstance(cached, str):
        return folder_facts(Path(cached).parent)
    if constants.HF_HUB_OFFLINE:
        return ModelFacts(note=f"hf://{repo}: not in the Hugging Face cache and HF_HUB_OFFLINE is set")
    r = httpx.get(f"{constants.ENDPOINT}/{repo}/resolve/main/config.json", headers=build_hf_headers(), timeout=timeout_s,
                  follow_redirects=True)
    r.raise_for_status()
    try:
        meta = huggingface_hub.HfApi().get_safetensors_metadata(repo, timeout=timeout_s)
        tensors = [t for f in meta.files_metadata.values() for t in f.tensors.values()]
        headers = (sum(t.parameter_count for t in tensors), sum(t.data_offsets[1] - t.data_offsets[0] for t in tensors))
    except Exception:  # no safetensors, gated, unreachable: config.json's shapes still count
        headers = None
    return hf_facts(r.json(), headers, None, f"hf://{repo}")
