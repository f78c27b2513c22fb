"""Incremental Server-Sent Events parsing for OpenAI-style streams.

Pure code (no I/O, no gevent): the Locust user feeds it bytes as they arrive.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


class SSEDecoder:
    """Feed raw bytes; get complete events' `data` payloads (multi-line data joined by '\\n')."""

    def __init__(self) -> None:
        self._buf = b""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> Iterator[str]:
        self._buf += chunk
        while True:
            nl = self._buf.find(b"\n")
            if nl < 0:
                return
            raw, self._buf = self._buf[:nl], self._buf[nl + 1 :]
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            event = self._line(line)
            if event is not None:
                yield event

    def close(self) -> Iterator[str]:
        """Flush a final event not followed by a blank line."""
        if self._buf:
            event = self._line(self._buf.rstrip(b"\r").decode("utf-8", "replace"))
            self._buf = b""
            if event is not None:
                yield event
        if self._data:
            data, self._data = "\n".join(self._data), []
            yield data

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


@dataclass(frozen=True)
class ChatChunk:
    """What one chat-completions stream event carries."""

    content: str = ""
    reasoning: str = ""
    usage: dict[str, Any] | None = None
    finish_reason: str | None = None
    error: str | None = None
    done: bool = False


def parse_chat_event(data: str) -> ChatChunk:
    """Interpret one `data:` payload of /v1/chat/completions with stream=true."""
    if data.strip() == "[DONE]":
        return ChatChunk(done=True)
    try:
        obj = json.loads(data)
    except json.JSONDecodeError:
        return ChatChunk(error=f"malformed stream event: {data[:120]!r}")
    if not isinstance(obj, dict):
        return ChatChunk(error=f"unexpected stream event: {data[:120]!r}")
    if "error" in obj:
        err = obj["error"]
        msg = err.get("message") if isinstance(err, dict) else str(err)
        return ChatChunk(error=f"server error in stream: {msg}")
    content, reasoning, finish = [], [], None
    for choice in obj.get("choices") or []:
        delta = choice.get("delta") or {}
        if delta.get("content"):
            content.append(delta["content"])
        r = delta.get("reasoning_content") or delta.get("reasoning")
        if r:
            reasoning.append(r)
        finish = choice.get("finish_reason") or finish
    usage = obj.get("usage") if isinstance(obj.get("usage"), dict) else None
    return ChatChunk(content="".join(content), reasoning="".join(reasoning), usage=usage, finish_reason=finish)
