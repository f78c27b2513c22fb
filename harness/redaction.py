"""Secrets never reach a param, tag, log line or file the harness writes.

What counts as a secret: the values of the known key variables and of the spec's `api_key_env`
(read from the environment); the values of `server.env` variables and of `server.extra_args` flags
whose names look secret (`secret_name`: HF_TOKEN, MY_API_KEY, `--api-key K`, `--api-key=K`,
`--hf-token K`, `--token K`, `--db-password K`; not `--api-key-file PATH` nor
`--max-num-batched-tokens N`); and passwords inside URLs (`http://user:PASSWORD@host`). `redact`
replaces them with `***`; `scrub_folder` rewrites every text file of a run folder in place, whatever
its name (text is told by content, not suffix), so raw files and their MLflow copies are clean. A YAML
file is dumped from `redact_data`, so it stays loadable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

GIVEN_KEY_ENV = "HARNESS_SERVER_API_KEY"
"""Holds, while a launched server runs, the key the spec gave it (`--api-key K` in server.extra_args, or LLAMA_API_KEY /
VLLM_API_KEY in server.env): the endpoint's bearer key is read from it by name, like `server.api_key_env`'s."""
KNOWN_KEY_VARS = ("OPENAI_API_KEY", "VLLM_API_KEY", "LLAMA_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", GIVEN_KEY_ENV)
_SECRET_WORD = re.compile(r"(?:key|token|secret|password|passwd|credentials?)$")
_NOT_SECRET_LAST_WORD = frozenset({"file", "path", "dir", "fname", "filename"})
"""`--api-key-file PATH`, `--ssl-key-file PATH`, HF_TOKEN_PATH: where a secret is, not the secret."""
SECRET_SHORT_FLAGS = frozenset({"-hft"})
"""Short forms of secret flags that no name rule can tell (llama.cpp's -hft, --hf-token)."""
_PLAIN = re.compile(r"^(?:[-+]?[0-9.]+|true|false|yes|no|on|off|none|null|auto)$", re.I)
"""Values that are never a secret (a number, a boolean): redacting them would garble every file."""
MIN_LEN = 4
_URL_PASSWORD = re.compile(r"(?P<pre>[a-z][a-z0-9+.-]*://[^/@:\s]*:)(?P<pw>[^/@\s]+)(?P<at>@)", re.I)
MAX_SCRUB_BYTES = 512 * 1024 * 1024


def url_passwords(text: str) -> list[str]:
    return [m.group("pw") for m in _URL_PASSWORD.finditer(text or "")]


def secret_name(name: str) -> bool:
    """A variable or flag name holding a secret: one of its words ends in key, token, secret, password, passwd or
    credential(s) (HF_TOKEN, OPENAI_API_KEY, PGPASSWORD, --api-key, --hf-token, --token) and its last word does not name
    a place (--api-key-file). A word that only contains one does not count (TOKENIZERS_PARALLELISM, --max-num-batched-tokens)."""
    if name in SECRET_SHORT_FLAGS:
        return True
    words = [w for w in re.split(r"[^a-z0-9]+", name.lower()) if w]
    return bool(words) and words[-1] not in _NOT_SECRET_LAST_WORD and any(_SECRET_WORD.search(w) for w in words)


def flag_secrets(args: Sequence[str]) -> list[tuple[str, str]]:
    """(flag, value) of each secret-looking flag in an argv list, in order: `--api-key K` and `--api-key=K`.

    The value of `--flag V` is the next argument unless that is itself a long flag (`--hf-token --port 1`)."""
    out = []
    for i, arg in enumerate(args):
        if not arg.startswith("-"):
            continue
        name, eq, value = arg.partition("=")
        if not secret_name(name):
            continue
        if not eq:
            following = args[i + 1] if i + 1 < len(args) else ""
            value = "" if following.startswith("--") else following
        if value:
            out.append((name, value))
    return out


def _secret_parts(value: str) -> set[str]:
    """A secret value and, for a comma-separated list of keys (llama.cpp's `--api-key k1,k2`), each key."""
    parts = {value, *(p.strip() for p in value.split(",") if "," in value)}
    return {p for p in parts if p and not _PLAIN.match(p)}


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
            if secret_name(name) and value:
                values |= _secret_parts(value)
        for _flag, value in flag_secrets(getattr(server, "extra_args", None) or []):
            values |= _secret_parts(value)
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


def redact_data(data: Any, secrets: Iterable[str] = ()) -> Any:
    """A copy of nested dicts/lists with every string redacted: dumped afterwards, a YAML file stays loadable (`'***'`
    quoted), where redacting the dumped text would leave `- ***`, an alias YAML cannot read (`harness sync` reads it)."""
    secrets = list(secrets)
    if isinstance(data, str):
        return redact(data, secrets)
    if isinstance(data, Mapping):
        return {redact_data(k, secrets): redact_data(v, secrets) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact_data(v, secrets) for v in data]
    return data


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
