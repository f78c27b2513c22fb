"""Raw per-request records: the ground truth every performance metric is computed from.

Written (one JSON line each) by the Locust process; read back by the harness (harness/load/records.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

EXIT_RECORDS_UNWRITABLE = 75
"""Exit code of a load-generator process that could not write a record (disk full, read-only): it stops at once."""
UNWRITABLE_SUFFIX = ".unwritable"
"""`<records>.unwritable.<pid>`: the empty marker such a process leaves for the harness."""


@dataclass
class RequestRecord:
    """One chat request as the client saw it. Times: `t_start` is epoch seconds, the rest offsets from it."""

    t_start: float
    """Epoch seconds when the request was sent."""
    ok: bool = False
    status: int | None = None
    """HTTP status, None when no response arrived."""
    error: str | None = None
    """`Kind: message`, the server's own message where it sent one (`ErrorBody`, `StreamError`, `HTTP 503`, ...; docs/metrics.md)."""
    ttft_s: float | None = None
    """Request sent -> first chunk with non-empty content."""
    first_reasoning_s: float | None = None
    """Request sent -> first chunk with reasoning content, when the model emits any."""
    chunk_offsets_s: list[float] = field(default_factory=list)
    """Arrival offset of every chunk carrying content."""
    e2e_s: float | None = None
    """Request sent -> stream finished."""
    prompt_tokens: int | None = None
    """From the server's usage."""
    completion_tokens: int | None = None
    """From the server's usage."""
    cached_prompt_tokens: int | None = None
    """Prompt tokens the server served from its prefix cache (`usage.prompt_tokens_details.cached_tokens`); None when
    its usage did not say (vLLM says only with `--enable-prompt-tokens-details`)."""
    max_tokens: int | None = None
    prompt_tokens_target: int | None = None
    output_chars: int = 0
    finish_reason: str | None = None
    retry_after_s: float | None = None
    """A 429/503 answer's `Retry-After` (seconds); the user waited that long (at most RETRY_AFTER_MAX_S) before its next request."""
    backoff_s: float | None = None
    """Closed loop: after this failed request (without a Retry-After), how long the user backed off before its next one."""
    timed_out: bool = False
    """No complete answer within `load.request_timeout_s`: the client gave up on it (`e2e_s` is then about that timeout)."""
    reconnected: bool = False
    """The first attempt failed on a stale pooled connection and was retried once on a fresh one."""
    t_scheduled: float | None = None
    """Open loop: epoch seconds the pacer scheduled this request for (None in closed loop)."""
    send_lag_s: float | None = None
    """Open loop: `t_start - t_scheduled`, how late the client sent it (a busy pool or a slow client)."""
    conversation: int = 0
    """Conversation (or session) number within this user (multi-turn, agentic)."""
    turn: int = 0
    """Turn within the conversation, from 0."""
    kind: str = "chat"
    """The request's kind (`chat`, or a structured kind such as `json` / `tools`): metrics are split by it."""
    prefix_group: int | None = None
    """Prefix pools and traces: the shared-prefix group of the prompt."""
    history: str | None = None
    """A trace session's later turn: `server` when its history resent the server's own reply, `stand-in` when seeded
    words stood in for it; None otherwise."""
    output_valid: bool | None = None
    """Structured requests: the reply parsed and validated (JSON schema, tool-call shape); None when not checked."""
    invalid_reason: str | None = None
    """Why a structured reply was invalid (short)."""
    ignore_eos: bool = False
    """`ignore_eos` was sent."""
    min_tokens: int | None = None
    """`min_tokens` sent, if any."""
    user: int = 0
    pid: int = 0
    output_text: str | None = None
    """The reply's content, kept only when `load.tokenizer` is set (for client-side token counts)."""
    client_completion_tokens: int | None = None
    """Tokens in `output_text` by `load.tokenizer`, counted by the parent process after the run (never written by Locust)."""

    def to_json(self) -> str:
        # vars(), not asdict(): asdict deep-copies every chunk offset, which costs the load generator ~1 ms per record
        return json.dumps(vars(self), separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict) -> "RequestRecord":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**known)
