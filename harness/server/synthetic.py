"""The model folder vLLM loads for `server.model: synthetic://<shape>`: a published architecture without its weights.

vLLM's `--load-format dummy` builds the model from config.json and fills it with random values, so the folder holds
no weights: config.json (the published architecture, harness/server/shapes/<base>.json, plus the published 4-bit
checkpoints' quantization_config for `-awq` / `-gptq`), generation_config.json and a tokenizer. The tokenizer is the
embedded model's (SmolLM2-135M-Instruct's byte-level BPE, read from its GGUF) fitted to the shape's published
`vocab_size`, so the embedding and LM head keep the published size (the parameter count is the published model's)
and every token id the model can sample decodes to text: a smaller vocabulary (32000: Llama 2, Mistral) keeps the
first ids and the merges among them (ids follow merge order, so it is still a complete BPE); a larger one (Llama 3's
128256, Qwen2.5's 152064) adds tokens that no merge produces (a pair of existing tokens each), decodable only.
Made once per shape under `<cache>/synthetic/<shape>/` (a folder appears only when complete).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import tempfile
from importlib import resources
from pathlib import Path
from typing import Any

from harness.errors import ModelSourceError
from harness.spec.synthetic import PREFIX, check_source, known_shapes, split_shape

LAYOUT = 1
"""Version of the folder's layout; a cached folder of another layout is made again."""
MARKER = "synthetic.json"
"""Written last: what the folder is (shape, vocabulary, tokenizer origin); its presence means the folder is complete."""
_SHAPES = resources.files("harness") / "server" / "shapes"


def shape_config(shape: str) -> dict[str, Any]:
    """config.json of a shape: the published architecture (+ quantization_config, float16 as the 4-bit checkpoints),
    bos/eos/pad ids of the embedded tokenizer. ModelSourceError for an unknown shape."""
    if shape not in known_shapes():
        raise ModelSourceError(f"server.model: {check_source(PREFIX + shape, 'vllm')}")
    base, quant = split_shape(shape)
    config = {k: v for k, v in json.loads((_SHAPES / f"{base}.json").read_text()).items() if not k.startswith("_")}
    config.update(bos_token_id=1, eos_token_id=2, pad_token_id=2)  # the embedded tokenizer's <|im_start|>, <|im_end|>
    if quant:
        config["quantization_config"] = json.loads((_SHAPES / "quantization.json").read_text())[quant]
        config["torch_dtype"] = "float16"
    return config


def published_source(shape: str) -> str:
    """Where the stored architecture comes from ('meta-llama/Llama-2-7b-hf config.json (6.74B parameters)')."""
    return str(json.loads((_SHAPES / f"{split_shape(shape)[0]}.json").read_text()).get("_source", ""))


@functools.lru_cache(maxsize=1)
def embedded_vocab() -> tuple[tuple[str, ...], tuple[str, ...], tuple[int, ...], str]:
    """(tokens, merges, token types, chat template) of the embedded model's GGUF (fetched like `server.model`'s default)."""
    from gguf import GGUFReader

    from harness.server.model_files import _field
    from harness.server.model_source import resolve_model
    from harness.spec.model import EMBEDDED_MODEL

    reader = GGUFReader(resolve_model(EMBEDDED_MODEL).location)
    if _field(reader, "tokenizer.ggml.model") != "gpt2":
        raise ModelSourceError("the embedded model's tokenizer is not a byte-level BPE (tokenizer.ggml.model gpt2)")
    return (tuple(_field(reader, "tokenizer.ggml.tokens")), tuple(_field(reader, "tokenizer.ggml.merges")),
            tuple(_field(reader, "tokenizer.ggml.token_type")), str(_field(reader, "tokenizer.chat_template") or ""))


def fitted_vocab(size: int) -> tuple[list[str], list[str], int]:
    """The embedded BPE's tokens and merges fitted to `size` ids; also how many of the ids are real tokens."""
    tokens, merges, _, _ = embedded_vocab()
    if size <= len(tokens):
        kept = list(tokens[:size])
        index = set(kept)
        return kept, [m for m in merges if m.replace(" ", "", 1) in index and set(m.split(" ", 1)) <= index], size
    out, seen = list(tokens), set(tokens)
    words = [t for t in tokens[273:] if t.isalpha() or (t.startswith("Ġ") and t[1:].isalpha())]  # plain word pieces
    step = 0
    while len(out) < size:
        a, b = words[step % len(words)], words[(step // len(words) * 7919 + 13) % len(words)]  # every pair, in turn
        step += 1
        if a + b not in seen:
            seen.add(a + b)
            out.append(a + b)
    return out, list(merges), len(tokens)


def tokenizer_files(size: int, max_len: int) -> dict[str, Any]:
    """tokenizer.json, tokenizer_config.json and special_tokens_map.json of the fitted embedded tokenizer."""
    tokens, merges, real = fitted_vocab(size)
    types = embedded_vocab()[2]
    specials = [{"id": i, "content": tokens[i], "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
                 "special": True} for i in range(min(real, len(types))) if types[i] == 3]
    byte_level = {"add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    tokenizer = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": specials, "normalizer": None,
        # the GGUF's pre-tokenizer `smollm`: digits split one by one, then GPT-2's byte-level regex
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": True},
                                                                 {"type": "ByteLevel", **byte_level}]},
        "post_processor": {"type": "ByteLevel", **byte_level}, "decoder": {"type": "ByteLevel", **byte_level},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": {t: i for i, t in enumerate(tokens)}, "merges": merges},
    }
    names = {"bos_token": tokens[1], "eos_token": tokens[2], "pad_token": tokens[2], "unk_token": tokens[0]}
    config = {"tokenizer_class": "PreTrainedTokenizerFast", **names, "add_bos_token": False, "add_eos_token": False,
              "clean_up_tokenization_spaces": False, "model_max_length": max_len, "chat_template": embedded_vocab()[3]}
    return {"tokenizer.json": tokenizer, "tokenizer_config.json": config, "special_tokens_map.json": names}


def describe(shape: str) -> dict[str, str]:
    """What a synthetic model is, as `model.<fact>` params (the run's record says its weights are random)."""
    config = shape_config(shape)
    real = min(config["vocab_size"], len(embedded_vocab()[0]))
    return {"weights": "synthetic", "load_format": "dummy", "shape": shape, "architecture": published_source(shape),
            "vocab_size": str(config["vocab_size"]),
            "tokenizer": f"SmolLM2-135M-Instruct (embedded model) fitted to {config['vocab_size']} ids, {real} of them its own tokens",
            "quantization": str(config.get("quantization_config", {}).get("quant_method", "none"))}


def materialise(shape: str, root: Path) -> Path:
    """`root/synthetic/<shape>/` with config.json, generation_config.json and the tokenizer; made once (atomic)."""
    config = shape_config(shape)
    target = root / "synthetic" / shape
    marker = target / MARKER
    try:
        if json.loads(marker.read_text()).get("layout") == LAYOUT:
            return target
    except (OSError, ValueError):
        pass
    files: dict[str, Any] = {
        "config.json": config,
        "generation_config.json": {"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 2},
        **tokenizer_files(config["vocab_size"], config["max_position_embeddings"]),
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{shape}-", dir=target.parent))
    try:
        for name, data in files.items():
            (tmp / name).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
        (tmp / "chat_template.jinja").write_text(embedded_vocab()[3])
        (tmp / MARKER).write_text(json.dumps({"layout": LAYOUT, **describe(shape)}, indent=1) + "\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target
