"""The fidelity requests: greedy chat completions with top-k log-probabilities, and teacher forcing.

How a server scores a given continuation is read from its first reply (no engine names):
- entries of `logprobs.content[]` carrying an integer `id` (llama-server's shape: `id`, `token`,
  `bytes`, `logprob`, `top_logprobs[]` alike): generate under a GBNF `grammar` admitting only the
  reference's text; llama-server takes `top_logprobs` before the grammar and the sampler, so each
  position gives the server's distribution after the reference's prefix;
- a top-level `prompt_token_ids` field (vLLM's shape, null unless asked; its entries have
  `token`, `bytes`, `logprob`, no ids): ask with `return_token_ids` for the generated ids and the
  templated prompt's ids, then `POST /v1/completions` with prompt = prompt ids + the reference's
  ids and `prompt_logprobs: k`, which returns at every position the top k (plus the actual token)
  as `{id: {logprob, rank, decoded_token}}`;
- neither: no teacher forcing (compare up to the first divergence).
A server that refuses the scoring request (HTTP 4xx) raises ForcingUnavailable.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from harness.errors import FidelityError, FidelityUnsupported
from harness.fidelity.prompts import FidelityPrompt
from harness.fidelity.records import Entry, Generation
from harness.server.endpoint import Endpoint


class ForcingUnavailable(FidelityError):
    """The server cannot score a given continuation (no prompt log-probabilities, or no token ids to send)."""


@dataclass(frozen=True)
class Dialect:
    """What a server's answers allow: extra fields for generation requests and how it scores a continuation."""

    scoring: Literal["prompt_logprobs", "grammar"] | None
    chat_extras: dict[str, Any] = field(default_factory=dict)

    @property
    def how(self) -> str:
        return {"prompt_logprobs": "prompt_logprobs", "grammar": "a grammar admitting only the reference's text"}.get(
            self.scoring or "", "nothing")


PLAIN = Dialect(None)
GRAMMAR = Dialect("grammar")
PROMPT_LOGPROBS = Dialect("prompt_logprobs", {"return_token_ids": True})


def detect(answer: dict[str, Any]) -> Dialect:
    """The dialect a plain chat completion with logprobs shows (see the module docstring)."""
    try:
        content = answer["choices"][0]["logprobs"]["content"] or []
    except (KeyError, IndexError, TypeError):
        return PLAIN
    if content and all(isinstance(item, dict) and isinstance(item.get("id"), int) for item in content):
        return GRAMMAR
    if "prompt_token_ids" in answer:
        return PROMPT_LOGPROBS
    return PLAIN


class FidelityClient:
    """One endpoint's fidelity requests (thread-safe: httpx.Client is)."""

    def __init__(self, endpoint: Endpoint, http: httpx.Client, seed: int, dialect: Dialect | None = None):
        self.endpoint = endpoint
        self.http = http
        self.seed = seed
        self.dialect = dialect
        """None until `probe()` (or given by the caller)."""

    def probe(self, prompt: FidelityPrompt, max_tokens: int, top_k: int) -> Dialect:
        """Learn the dialect from one plain request (once); a failed request leaves the plain dialect, an answer
        without `logprobs.content` raises FidelityUnsupported (no prompt could be measured)."""
        if self.dialect is None:
            try:
                answer = self._post("/v1/chat/completions", self._chat_body(prompt.text, max_tokens, top_k))
            except FidelityError:
                self.dialect = PLAIN
                return self.dialect
            choice = (answer.get("choices") or [{}])[0]
            if not isinstance(choice, dict) or not isinstance((choice.get("logprobs") or {}).get("content"), list):
                raise FidelityUnsupported(f"{self.endpoint.base_url} answers chat completions without log-probabilities "
                                          "(no choices[0].logprobs.content for `logprobs: true, top_logprobs`)")
            self.dialect = detect(answer)
        return self.dialect

    @property
    def can_force(self) -> bool:
        return self.dialect is not None and self.dialect.scoring is not None

    def _chat_body(self, text: str, max_tokens: int, top_k: int) -> dict[str, Any]:
        return {"model": self.endpoint.model, "messages": [{"role": "user", "content": text}],
                "max_tokens": max_tokens, "temperature": 0.0, "seed": self.seed,
                "logprobs": True, "top_logprobs": top_k, "stream": False}

    def generate(self, prompt: FidelityPrompt, max_tokens: int, top_k: int) -> Generation:
        body = self._chat_body(prompt.text, max_tokens, top_k)
        body.update(self.dialect.chat_extras if self.dialect else {})
        started = time.monotonic()
        answer = self._post("/v1/chat/completions", body)
        return parse_chat(prompt, answer, time.monotonic() - started)

    def force(self, own: Generation, reference: Generation, top_k: int) -> tuple[tuple[Entry, ...], ...]:
        """This server's top-k at each of the reference's positions, given the prompt and the reference's prefix."""
        if not reference.tokens:
            return ()
        if self.dialect is GRAMMAR:
            return self._force_by_grammar(reference, top_k)
        if own.prompt_token_ids is None:
            raise ForcingUnavailable("the server did not return the prompt's token ids (return_token_ids)")
        if reference.token_ids is None:
            raise ForcingUnavailable(f"the reference has no token ids for {reference.prompt_id}")
        ids = list(own.prompt_token_ids) + list(reference.token_ids)
        body = {"model": self.endpoint.model, "prompt": ids, "max_tokens": 1, "temperature": 0.0,
                "prompt_logprobs": top_k, "add_special_tokens": False}
        answer = self._post_forcing("/v1/completions", body, "prompt_logprobs")
        scored = (answer.get("choices") or [{}])[0].get("prompt_logprobs")
        if not isinstance(scored, list) or len(scored) != len(ids):
            raise ForcingUnavailable("the server returned no prompt_logprobs for the scored continuation")
        start = len(own.prompt_token_ids)
        try:
            return tuple(
                tuple((str(v.get("decoded_token") or ""), int(k), float(v["logprob"])) for k, v in (step or {}).items())
                for step in scored[start:]
            )
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise FidelityError(f"unexpected prompt_logprobs shape: {exc}") from exc

    def _force_by_grammar(self, reference: Generation, top_k: int) -> tuple[tuple[Entry, ...], ...]:
        """llama-server: generate under a grammar admitting only the reference's text. Its top_logprobs are the
        model's distribution before the grammar, so each position scores the reference's prefix. The grammar fixes
        the text, not its tokenization: from the first token that differs from the reference's, the prefixes part,
        so the positions after it are left out."""
        body = self._chat_body(reference.prompt, len(reference.tokens), top_k)
        body["grammar"] = f"root ::= {gbnf_literal(reference.text)}"
        answer = self._post_forcing("/v1/chat/completions", body, "a grammar")
        forced = parse_chat(FidelityPrompt(reference.prompt_id, reference.prompt), answer)
        n = min(len(forced.tokens), len(reference.tokens))
        split = next((j for j in range(n) if not _same_step(forced, reference, j)), None)
        return forced.top[: n if split is None else split + 1]

    def _post_forcing(self, path: str, body: dict[str, Any], what: str) -> dict[str, Any]:
        """`_post`, where a 4xx answer means the server cannot score a given continuation this way."""
        try:
            return self._post(path, body)
        except FidelityError as exc:
            if "HTTP 4" in str(exc):
                raise ForcingUnavailable(f"the server refused {what}: {exc}") from exc
            raise

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self.endpoint.base_url + path
        try:
            r = self.http.post(url, json=body, headers=self.endpoint.headers())
        except httpx.HTTPError as exc:
            raise FidelityError(f"POST {path}: {type(exc).__name__}: {exc}") from exc
        if r.status_code != 200:
            raise FidelityError(f"POST {path}: HTTP {r.status_code}: {r.text[:300]}")
        try:
            answer = r.json()
        except ValueError as exc:
            raise FidelityError(f"POST {path}: the answer is not JSON: {r.text[:200]}") from exc
        if not isinstance(answer, dict):
            raise FidelityError(f"POST {path}: the answer is not a JSON object")
        return answer


def parse_chat(prompt: FidelityPrompt, answer: dict[str, Any], seconds: float = 0.0) -> Generation:
    """A chat completion with `logprobs` -> Generation (llama-server's and vLLM's shapes)."""
    try:
        choice = answer["choices"][0]
        content = (choice.get("logprobs") or {}).get("content")
        text = (choice.get("message") or {}).get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise FidelityError(f"unexpected chat completion shape: {exc}") from exc
    if content is None:
        raise FidelityError("the chat completion has no logprobs.content: the endpoint must support "
                            "`logprobs: true` and `top_logprobs` in chat completions")
    tokens, ids, logprobs, top = [], [], [], []
    try:
        for item in content:
            token, tid, lp = str(item["token"]), item.get("id"), float(item["logprob"])
            entries = [(str(t["token"]), t.get("id"), float(t["logprob"])) for t in item.get("top_logprobs") or []]
            if not any(_same(e, token, tid) for e in entries):
                entries.append((token, tid, lp))
            tokens.append(token)
            ids.append(tid)
            logprobs.append(lp)
            top.append(tuple(entries))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FidelityError(f"unexpected logprobs.content entry: {type(exc).__name__}: {exc}") from exc
    token_ids: tuple[int, ...] | None = tuple(int(i) for i in ids) if ids and all(i is not None for i in ids) else None
    returned = choice.get("token_ids")
    if token_ids is None and isinstance(returned, list) and len(returned) == len(tokens):
        token_ids = tuple(int(i) for i in returned)  # vLLM with return_token_ids
    if not tokens:
        token_ids = ()
    prompt_ids = answer.get("prompt_token_ids")
    return Generation(
        prompt_id=prompt.id, prompt=prompt.text, text=text, finish_reason=choice.get("finish_reason"),
        tokens=tuple(tokens), token_ids=token_ids, logprobs=tuple(logprobs), top=tuple(top),
        prompt_token_ids=tuple(int(i) for i in prompt_ids) if isinstance(prompt_ids, list) else None,
        seconds=seconds,
    )


def gbnf_literal(text: str) -> str:
    """`text` as a GBNF string literal (llama.cpp grammars): quotes, backslashes and non-printables escaped."""
    out = []
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04X}")
        else:
            out.append(f"\\U{code:08X}")
    return '"' + "".join(out) + '"'


def _same_step(a: Generation, b: Generation, j: int) -> bool:
    if a.token_ids is not None and b.token_ids is not None:
        return a.token_ids[j] == b.token_ids[j]
    return a.tokens[j] == b.tokens[j]


def _same(entry: Entry, token: str, tid: int | None) -> bool:
    return entry[1] == tid if tid is not None and entry[1] is not None else entry[0] == token
