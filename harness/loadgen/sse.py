"""Incremental Server-Sent Events parsing for OpenAI-style streams.

Pure code (no I/O, no gevent): the Locust user feeds it bytes as they arrive.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple


class SSEDecoder:
    """Feed raw bytes; get complete events' `data` payloads (multi-line data joined by '\\n').

    Runs once per received read in the load generator, so it splits a read's lines in one call
    and special-cases `data:` lines, the only field chat streams use.
    """

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []

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
        if self._data:
            data, self._data = "\n".join(self._data), []
            out.append(data)
        return out

    def _line(self, line: str) -> str | None:
        if line == "":
            if not self._data:
                return None
            data, self._data = "\n".join(self._data), []
            return data
        if line.startswith(":"):
            return None  # comment / keep-alive
        field, _, value = line.partition(":")
        if field == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        return None


class ChatChunk(NamedTuple):
    """What one chat-completions stream event carries (a NamedTuple: built once per chunk, so it must be cheap)."""

    content: str = ""
    reasoning: str = ""
    usage: dict[str, Any] | None = None
    finish_reason: str | None = None
    error: str | None = None
    done: bool = False


_decode = json.JSONDecoder().decode
_DONE = ChatChunk(done=True)


def parse_chat_event(data: str) -> ChatChunk:
    """Interpret one `data:` payload of /v1/chat/completions with stream=true."""
    if data == "[DONE]" or data.strip() == "[DONE]":
        return _DONE
    try:
        obj = _decode(data)
    except json.JSONDecodeError:
        return ChatChunk(error=f"malformed stream event: {data[:120]!r}")
    if not isinstance(obj, dict):
        return ChatChunk(error=f"unexpected stream event: {data[:120]!r}")
    if "error" in obj:
        err = obj["error"]
        msg = err.get("message") if isinstance(err, dict) else str(err)
        return ChatChunk(error=f"server error in stream: {msg}")
    choices = obj.get("choices") or ()
    usage = obj.get("usage")
    usage = usage if isinstance(usage, dict) else None
    if len(choices) == 1:  # the usual case: one choice, one delta
        choice = choices[0]
        delta = choice.get("delta") or {}
        return ChatChunk(
            delta.get("content") or "",
            delta.get("reasoning_content") or delta.get("reasoning") or "",
            usage,
            choice.get("finish_reason"),
        )
    content, reasoning, finish = [], [], None
    for choice in choices:
        delta = choice.get("delta") or {}
        if delta.get("content"):
            content.append(delta["content"])
        r = delta.get("reasoning_content") or delta.get("reasoning")
        if r:
            reasoning.append(r)
        finish = choice.get("finish_reason") or finish
    return ChatChunk(content="".join(content), reasoning="".join(reasoning), usage=usage, finish_reason=finish)
