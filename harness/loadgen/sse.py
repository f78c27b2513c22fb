"""Incremental Server-Sent Events parsing for OpenAI-style streams, and the server's own error messages.

Pure code (no I/O, no gevent): the Locust user feeds it bytes as they arrive. A server reports an error
in a stream three ways, all kept as `ErrorEvent`s or error chunks with its message: an `event: error`
event, llama.cpp's `error: {...}` line (an SSE field no spec defines, so a plain SSE reader drops it),
and a `data: {"error": {...}}` payload (OpenAI, vLLM).
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple


class ErrorEvent(str):
    """The payload of an error event (`event: error`, or llama.cpp's `error:` line): a `str` the decoder marks."""


class SSEDecoder:
    """Feed raw bytes; get complete events' `data` payloads (multi-line data joined by '\\n').

    Runs once per received read in the load generator, so it splits a read's lines in one call
    and special-cases `data:` lines, the only field chat streams use. An error event comes back as an
    `ErrorEvent` (even one without data); other named events as their plain data.
    """

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []
        self._error = False
        """The event being read is an error (`event: error`, or an `error:` line)."""

    def feed(self, chunk: bytes) -> list[str]:
        buf = self._buf + chunk if self._buf else chunk
        if b"\n" not in buf:
            self._buf = buf
            return []
        *lines, self._buf = buf.split(b"\n")
        out: list[str] = []
        for raw in lines:
            if raw.startswith(b"data:"):
                value = raw[6:] if raw[5:6] == b" " else raw[5:]
                self._data.append(value.rstrip(b"\r").decode("utf-8", "replace"))
                continue
            event = self._line(raw.rstrip(b"\r").decode("utf-8", "replace"))
            if event is not None:
                out.append(event)
        return out

    def close(self) -> list[str]:
        """Flush a final event not followed by a blank line."""
        out: list[str] = []
        if self._buf:
            out += self.feed(b"\n")
        if self._data or self._error:
            out.append(self._dispatch())
        return out

    def _dispatch(self) -> str:
        data, self._data = "\n".join(self._data), []
        if self._error:
            self._error = False
            return ErrorEvent(data)
        return data

    def _line(self, line: str) -> str | None:
        if line == "":
            return self._dispatch() if self._data or self._error else None
        if line.startswith(":"):
            return None  # comment / keep-alive
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            self._data.append(value)
        elif field == "event":
            self._error = value == "error"
        elif field == "error":  # llama.cpp: `error: {"code": 500, "message": ..., "type": ...}`
            self._error = True
            self._data.append(value)
        return None


class ChatChunk(NamedTuple):
    """What one chat-completions stream event carries (a NamedTuple: built once per chunk, so it must be cheap)."""

    content: str = ""
    reasoning: str = ""
    usage: dict[str, Any] | None = None
    finish_reason: str | None = None
    error: str | None = None
    done: bool = False
    tool_calls: tuple[dict[str, Any], ...] = ()
    """`delta.tool_calls` as received: streamed pieces of tool calls (`index`, `function.name`, `function.arguments`)."""


_decode = json.JSONDecoder().decode
_DONE = ChatChunk(done=True)


MESSAGE_CHARS = 240
"""The longest server message kept in a record's error."""


def error_message(obj: Any) -> str | None:
    """The server's own message of a parsed OpenAI-style error, else None.

    `{"error": {"message": ...}}` (OpenAI, vLLM, llama.cpp), `{"error": "text"}`, vLLM's older bare
    `{"object": "error", "message": ...}`, and an error event's own `{"message": ...}`.
    """
    if not isinstance(obj, dict):
        return None
    err = obj.get("error")
    if err in (None, "", {}, False):
        if obj.get("object") != "error":
            return None
        err = obj
    if isinstance(err, dict):
        msg = err.get("message") or err.get("msg")
        return str(msg)[:MESSAGE_CHARS] if msg else json.dumps(err)[:MESSAGE_CHARS]
    return str(err)[:MESSAGE_CHARS]


def body_message(text: str) -> str:
    """What an error answer's body says: its error message (or FastAPI's `detail`) when it is JSON, else the text itself."""
    try:
        obj = _decode(text)
    except ValueError:
        return text.strip()[:MESSAGE_CHARS]
    msg = error_message(obj)
    if msg is None and isinstance(obj, dict) and obj.get("detail"):
        msg = str(obj["detail"])[:MESSAGE_CHARS]
    return msg if msg is not None else text.strip()[:MESSAGE_CHARS]


def cached_prompt_tokens(usage: dict[str, Any]) -> int | None:
    """Prompt tokens the server served from its cache: `usage.prompt_tokens_details.cached_tokens` (OpenAI; vLLM with
    `--enable-prompt-tokens-details`), None when the server did not say (no details, a null, not a count)."""
    details = usage.get("prompt_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else None
    return cached if isinstance(cached, int) and not isinstance(cached, bool) and cached >= 0 else None


def parse_error_event(data: str) -> ChatChunk:
    """Interpret an error event's payload: its message (JSON or plain text) as a `StreamError`."""
    try:
        obj = _decode(data)
    except ValueError:
        obj = None
    msg = error_message(obj) or (str(obj["message"])[:MESSAGE_CHARS] if isinstance(obj, dict) and obj.get("message") else None)
    return ChatChunk(error=f"StreamError: {msg or data.strip()[:MESSAGE_CHARS] or 'an error event without a message'}")


def parse_chat_event(data: str) -> ChatChunk:
    """Interpret one `data:` payload of /v1/chat/completions with stream=true."""
    if data == "[DONE]" or data.strip() == "[DONE]":
        return _DONE
    try:
        obj = _decode(data)
    except json.JSONDecodeError:
        return ChatChunk(error=f"MalformedStream: an event is not JSON: {data[:120]!r}")
    if not isinstance(obj, dict):
        return ChatChunk(error=f"MalformedStream: an event is not a JSON object: {data[:120]!r}")
    if "error" in obj or obj.get("object") == "error":
        msg = error_message(obj)
        if msg is not None:
            return ChatChunk(error=f"StreamError: {msg}")
    choices = obj.get("choices") or ()
    usage = obj.get("usage")
    usage = usage if isinstance(usage, dict) else None
    if len(choices) == 1:  # the usual case: one choice, one delta
        choice = choices[0]
        delta = choice.get("delta") or {}
        calls = delta.get("tool_calls")
        return ChatChunk(
            delta.get("content") or "",
            delta.get("reasoning_content") or delta.get("reasoning") or "",
            usage,
            choice.get("finish_reason"),
            tool_calls=tuple(c for c in calls if isinstance(c, dict)) if isinstance(calls, list) else (),
        )
    content, reasoning, finish, tool_calls = [], [], None, []
    for choice in choices:
        delta = choice.get("delta") or {}
        if delta.get("content"):
            content.append(delta["content"])
        r = delta.get("reasoning_content") or delta.get("reasoning")
        if r:
            reasoning.append(r)
        if isinstance(delta.get("tool_calls"), list):
            tool_calls += [c for c in delta["tool_calls"] if isinstance(c, dict)]
        finish = choice.get("finish_reason") or finish
    return ChatChunk(content="".join(content), reasoning="".join(reasoning), usage=usage, finish_reason=finish,
                     tool_calls=tuple(tool_calls))


def tool_call_text(calls: tuple[dict[str, Any], ...]) -> str:
    """The generated text a chunk's tool-call pieces carry (names and argument fragments): non-empty means the chunk
    carries output tokens, timed like content (TTFT, ITL)."""
    out = []
    for call in calls:
        fn = call.get("function")
        if isinstance(fn, dict):
            out += [v for v in (fn.get("name"), fn.get("arguments")) if isinstance(v, str)]
    return "".join(out)
