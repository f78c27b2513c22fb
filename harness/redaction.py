"""Secrets never reach a param, tag, log line or file the harness writes.

What counts as a secret: the values of the known key variables and of the spec's `api_key_env`
(read from the environment), values in `server.env` whose names look secret (KEY, TOKEN,
SECRET, PASSWORD), and passwords inside URLs (`http://user:PASSWORD@host`). `redact` replaces
them with `***`; `scrub_folder` rewrites every text file of a run folder in place, whatever its
name (text is told by content, not suffix), so raw files and their MLflow copies are clean.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

KNOWN_KEY_VARS = ("OPENAI_API_KEY", "VLLM_API_KEY", "LLAMA_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL", re.I)
MIN_LEN = 4
_URL_PASSWORD = re.compile(r"(?P<pre>[a-z][a-z0-9+.-]*://[^/@:\s]*:)(?P<pw>[^/@\s]+)(?P<at>@)", re.I)
MAX_SCRUB_BYTES = 512 * 1024 * 1024


def url_passwords(text: str) -> list[str]:
    return [m.group("pw") for m in _URL_PASSWORD.finditer(text or "")]


def secret_values(servers: Iterable[Any] = (), environ: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value for these ServerSpecs (and the known key variables) in `environ` (default os.environ)."""
    env = os.environ if environ is None else environ
    names = set(KNOWN_KEY_VARS)
    # any other variable named like a credential, when its value is long enough not to be a common word
    values: set[str] = {v for n, v in env.items() if n.endswith(("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD")) and len(v) >= 12}
    for server in servers:
        if getattr(server, "api_key_env", None):
            names.add(server.api_key_env)
        for name, value in (getattr(server, "env", None) or {}).items():
            if SECRET_NAME.search(name) and value:
                values.add(value)
        openai = getattr(server, "openai", None)
        for url in (getattr(openai, "base_url", ""), getattr(openai, "metrics_url", "") or ""):
            values.update(url_passwords(url))
    values.update(env[n] for n in names if env.get(n))
    return sorted((v for v in values if len(v) >= MIN_LEN), key=len, reverse=True)  # longest first


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret and every URL password replaced by ***."""
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return _URL_PASSWORD.sub(lambda m: f"{m.group('pre')}***{m.group('at')}", text)


def _is_text(data: bytes) -> bool:
    if b"\x00" in data[:8192]:
        return False
    try:
        data[:8192].decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > 8180  # a multi-byte character cut by the sample's end
    return True


def scrub_file(path: Path, secrets: list[str]) -> bool:
    """Rewrite `path` without secrets when it is text and holds one; True when it changed."""
    if not secrets:
        return False
    try:
        if path.stat().st_size > MAX_SCRUB_BYTES:
            return False
        data = path.read_bytes()
    except OSError:
        return False
    if not _is_text(data) or not any(s.encode() in data for s in secrets):
        return False
    text = redact(data.decode("utf-8", "replace"), secrets)
    tmp = path.with_name(path.name + ".scrub")
    tmp.write_text(text)
    os.replace(tmp, path)
    return True


def scrub_folder(folder: Path, secrets: list[str]) -> int:
    """Scrub every text file under `folder` (any name); the number of files changed."""
    if not secrets or not folder.is_dir():
        return 0
    return sum(scrub_file(p, secrets) for p in sorted(folder.rglob("*")) if p.is_file() and not p.is_symlink())
