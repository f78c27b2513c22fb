"""A `tokenizers` Tokenizer rebuilt from a GGUF file's vocabulary (gpt2-style byte-level BPE only).

llama.cpp splits text with its pre-tokenizer's regexes in turn (chosen by `tokenizer.ggml.pre`;
the expressions below are llama.cpp's, from llama-vocab.cpp), maps each piece's bytes to the
byte-level alphabet and applies `tokenizer.ggml.merges`. The same pipeline in `tokenizers`:
one isolating Split per regex, ByteLevel without its own regex, BPE. Control and user-defined
tokens are added tokens, so they are matched as a whole, as llama-server's /tokenize does.
Only `smollm` is checked against a real llama-server by the tests.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import DependencyError, TokenizerError

_GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)"
_LLAMA3 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
_QWEN2 = (
    r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

PRE_REGEXES: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(("gpt-2", "phi-2", "mpt", "olmo"), (_GPT2,)),
    **dict.fromkeys(("smollm", "starcoder", "refact", "command-r", "codeshell", "exaone"), (r"\p{N}", _GPT2)),
    **dict.fromkeys(("llama3", "llama-v3", "llama-bpe"), (_LLAMA3,)),
    **dict.fromkeys(("qwen2", "stablelm2", "deepseek-r1-qwen"), (_QWEN2,)),
}
"""`tokenizer.ggml.pre` -> the regexes llama.cpp splits with, in order."""

_IGNORE_MERGES = {"llama3", "llama-v3", "llama-bpe"}
"""Pre-tokenizers for which llama.cpp takes a piece that is a whole vocabulary entry as is."""

_CONTROL, _USER_DEFINED = 3, 4
"""`tokenizer.ggml.token_type` values of tokens matched whole."""


def _strings(reader: Any, key: str) -> list[str]:
    field = reader.fields.get(key)
    if field is None:
        return []
    return [bytes(field.parts[i]).decode("utf-8", errors="replace") for i in field.data]


def _ints(reader: Any, key: str) -> list[int]:
    field = reader.fields.get(key)
    return [] if field is None else [int(field.parts[i][0]) for i in field.data]


def tokenizer_from_gguf(path: Path) -> Any:
    """The `tokenizers.Tokenizer` equivalent to llama.cpp's tokenizer for the GGUF file at `path`."""
    try:
        from gguf import GGUFReader
        from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers
    except ImportError as exc:
        raise DependencyError(f"load.tokenizer: a .gguf tokenizer needs the `gguf` and `tokenizers` packages ({exc}); pip install gguf tokenizers") from exc
    try:
        reader = GGUFReader(path)
    except (OSError, ValueError) as exc:
        raise TokenizerError(f"load.tokenizer: cannot read GGUF file {path}: {exc}") from exc
    model = (_strings(reader, "tokenizer.ggml.model") or ["<missing>"])[0]
    pre = (_strings(reader, "tokenizer.ggml.pre") or ["default"])[0]
    if model != "gpt2":
        raise TokenizerError(
            f"load.tokenizer: {path.name} has a '{model}' tokenizer; only gpt2-style BPE GGUFs are supported: "
            "use `server`, a tokenizer.json or hf:ORG/NAME instead"
        )
    if pre not in PRE_REGEXES:
        raise TokenizerError(
            f"load.tokenizer: {path.name} uses llama.cpp pre-tokenizer '{pre}', not one of {sorted(PRE_REGEXES)}; "
            "use `server`, a tokenizer.json or hf:ORG/NAME instead"
        )
    tokens = _strings(reader, "tokenizer.ggml.tokens")
    merges = [tuple(m.split(" ", 1)) for m in _strings(reader, "tokenizer.ggml.merges")]
    types = _ints(reader, "tokenizer.ggml.token_type")
    tok = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges, ignore_merges=pre in _IGNORE_MERGES))
    splits = [pre_tokenizers.Split(Regex(r), behavior="isolated") for r in PRE_REGEXES[pre]]
    tok.pre_tokenizer = pre_tokenizers.Sequence([*splits, pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t, k in zip(tokens, types) if k == _CONTROL])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t, k in zip(tokens, types) if k == _USER_DEFINED])
    return tok
