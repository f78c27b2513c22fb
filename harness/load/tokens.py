"""Client-side token counts of the replies, made after the Locust run, in the parent process.

`load.tokenizer` picks the counter (`make_counter`): the server's own POST /tokenize, a local
`tokenizers` tokenizer (tokenizer.json, a GGUF vocabulary, or tokenizer.json from the Hub).
The load generator only keeps each reply's text; nothing here runs in its hot path.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from harness.errors import DependencyError, TokenizerError
from harness.load.records import RequestRecord
from harness.server.endpoint import Endpoint
from harness.server.engines import engine, engines_behind

log = logging.getLogger(__name__)

SERVER_WORKERS = 8
"""Concurrent /tokenize requests."""


class TokenCounter(Protocol):
    name: str
    """What counts, for messages (`server /tokenize at ...`, a file name)."""

    def count(self, texts: Sequence[str]) -> list[int]:
        """Tokens in each text, without special tokens added (BOS/EOS); raises TokenizerError."""
        ...


@dataclass
class LocalCounter:
    """A `tokenizers.Tokenizer`."""

    tokenizer: Any
    name: str

    def count(self, texts: Sequence[str]) -> list[int]:
        return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]


class ServerCounter:
    """The server's POST /tokenize in the request shape of each engine that may serve it (its own first), whichever answers.

    llama.cpp: `content` -> `tokens`; vLLM: `prompt` -> `count` (harness/server/engines/, `Engine.tokenize_body`).
    """

    def __init__(self, endpoint: Endpoint, timeout_s: float = 30.0):
        self.endpoint = endpoint
        self.url = endpoint.base_url.rstrip("/") + "/tokenize"
        self.name = f"server /tokenize at {self.url}"
        self.timeout_s = timeout_s
        self.shapes = [e.kind for e in engines_behind(endpoint.engine) if e.tokenize_body(endpoint.model, "") is not None]
        """Engines whose request shape is still to try, the one that works first once one has."""

    def _body(self, shape: str, text: str) -> dict[str, Any]:
        body = engine(shape).tokenize_body(self.endpoint.model, text)
        assert body is not None  # only engines with a /tokenize shape are in self.shapes
        return body

    def _one(self, client: httpx.Client, text: str) -> int:
        if not text:
            return 0
        problem = "nothing: no engine with a /tokenize request is registered"
        for shape in list(self.shapes):
            try:
                resp = client.post(self.url, json=self._body(shape, text))
            except httpx.HTTPError as exc:
                raise TokenizerError(f"{self.name}: {type(exc).__name__}: {exc}") from exc
            n = _token_count(resp) if resp.status_code == 200 else None
            if n:  # llama.cpp answers `tokens: []` to a body without `content`: try the other shape
                self.shapes = [shape]
                return n
            problem = ("no tokens" if resp.status_code == 200 else f"HTTP {resp.status_code}") + f": {resp.text[:200]}"
        raise TokenizerError(f"{self.name} answered {problem}")

    def count(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        with httpx.Client(headers=self.endpoint.headers(), timeout=self.timeout_s) as client:
            first = self._one(client, texts[0])  # settles the request shape
            with ThreadPoolExecutor(SERVER_WORKERS) as pool:
                rest = list(pool.map(lambda t: self._one(client, t), texts[1:]))
        return [first, *rest]


def _token_count(resp: httpx.Response) -> int | None:
    """`count` (vLLM) or the length of `tokens` (llama.cpp, vLLM); None for any other answer."""
    try:
        data = resp.json()
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("count"), int):
        return data["count"]
    return len(data["tokens"]) if isinstance(data.get("tokens"), list) else None


@functools.lru_cache(maxsize=4)
def _local(value: str) -> LocalCounter:
    """A local tokenizer, built once per process (a rate sweep reuses it at every point)."""
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise DependencyError(f"load.tokenizer: {value!r} needs the `tokenizers` package; pip install tokenizers") from exc
    if value.startswith("hf:"):
        return LocalCounter(Tokenizer.from_file(_from_hub(value.removeprefix("hf:").removeprefix("//"))), value)
    path = Path(value).expanduser()
    if path.suffix == ".gguf":
        from harness.load.gguf_tokenizer import tokenizer_from_gguf

        return LocalCounter(tokenizer_from_gguf(path), path.name)
    file = path / "tokenizer.json" if path.is_dir() else path
    try:
        return LocalCounter(Tokenizer.from_file(str(file)), str(file))
    except Exception as exc:  # tokenizers raises a bare Exception on a bad file
        raise TokenizerError(f"load.tokenizer: {file} is not a tokenizers tokenizer.json: {exc}") from exc


def _from_hub(repo: str) -> str:
    try:
        from huggingface_hub import hf_hub_download
    except ImportError as exc:
        raise DependencyError("load.tokenizer: hf:ORG/NAME needs the `huggingface_hub` package") from exc
    try:
        return hf_hub_download(repo, "tokenizer.json")
    except Exception as exc:  # offline, missing repo or file, gated repo
        raise TokenizerError(
            f"load.tokenizer: could not download tokenizer.json of {repo} from the Hugging Face Hub "
            f"({type(exc).__name__}); when offline, point load.tokenizer at a local tokenizer.json, a .gguf file or `server`"
        ) from exc


def make_counter(value: str, endpoint: Endpoint) -> TokenCounter:
    """The counter `load.tokenizer` names (a validated spec value); raises TokenizerError or DependencyError."""
    if value == "server":
        return ServerCounter(endpoint)
    return _local(value)


def count_records(records: Sequence[RequestRecord], counter: TokenCounter) -> str | None:
    """Set `client_completion_tokens` on records with a kept reply; the reason on failure (counts left unset)."""
    todo = [r for r in records if r.ok and r.output_text is not None]
    try:
        counts = counter.count([r.output_text or "" for r in todo])
    except Exception as exc:  # noqa: BLE001 - counting must never lose the run: the summary says why its counts are missing
        reason = str(exc) if isinstance(exc, TokenizerError) else f"{counter.name}: {type(exc).__name__}: {exc}"
        log.warning("client-side token counts skipped: %s", reason)
        return reason[:500]
    for rec, n in zip(todo, counts):
        rec.client_completion_tokens = n
    return None
