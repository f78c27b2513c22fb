"""Turn a streamed response (bytes with arrival times) into a RequestRecord.

Pure code, no I/O: the Locust user feeds it what it reads, tests feed it hand-built timelines.
Definitions are in docs/metrics.md: TTFT is the first chunk with non-empty *content* or a piece of a
tool call (its name or argument text: generated tokens too); reasoning content only sets
`first_reasoning_s`; chunks without either (role, finish, usage) are not ITL points.

Errors (docs/metrics.md): the first error the server reports wins, with its own message — an error
event or `data: {"error": ...}` in the stream (`StreamError: <message>`), or a 200 answer that is not an
event stream at all, such as an OpenAI error JSON (`ErrorBody: <message>`); then the transport's own
failure (a timeout, a reset); then a stream that ended without `[DONE]`.
"""

from __future__ import annotations

import json

from harness.loadgen.record import RequestRecord
from harness.loadgen.sse import (MESSAGE_CHARS, SSEDecoder, body_message, cached_prompt_tokens, error_message, parse_chat_event,
                                 parse_error_event, tool_call_text)

HEAD_BYTES = 8192
"""A 200 answer's first bytes kept until its first event: a body that never becomes an event stream is read as such."""


class StreamTimeline:
    """Feed `(offset_s, raw_bytes)` as they arrive, then `finish(offset_s)`."""

    def __init__(self, rec: RequestRecord, keep_text: bool = False, withheld: bool = False):
        self.rec = rec
        self.keep_text = keep_text
        self.withheld = withheld
        """The server may hold the reply back until it parses (a tool-call request: vLLM streams a call only once its
        JSON parses): tokens generated with nothing streamed are then a reply with no tool call, for the structured
        check to count invalid, not a NoContent error."""
        self.text: list[str] = []
        self.calls: dict[int, dict[str, str]] = {}
        """Kept with the text: streamed tool calls by index, their name and argument pieces joined."""
        self._decoder = SSEDecoder()
        self._done = False
        self._chars = 0
        self._events = 0
        self._head = b""

    def feed(self, now: float, raw: bytes) -> None:
        if not self._events and len(self._head) < HEAD_BYTES:
            self._head += raw[: HEAD_BYTES - len(self._head)]
        for data in self._decoder.feed(raw):
            self._event(now, data)

    def _event(self, now: float, data: str) -> None:
        rec = self.rec
        self._events += 1
        chunk = parse_chat_event(data) if type(data) is str else parse_error_event(data)
        if chunk.error and rec.error is None:
            rec.error = chunk.error
        if chunk.reasoning and rec.first_reasoning_s is None:
            rec.first_reasoning_s = now
        called = tool_call_text(chunk.tool_calls) if chunk.tool_calls else ""
        if chunk.content or called:
            if rec.ttft_s is None:
                rec.ttft_s = now
            rec.chunk_offsets_s.append(now)
            self._chars += len(chunk.content) + len(called)
            if self.keep_text:
                self.text.append(chunk.content)
                self._call_pieces(chunk.tool_calls)
        if chunk.finish_reason:
            rec.finish_reason = chunk.finish_reason
        if chunk.usage:
            rec.prompt_tokens = chunk.usage.get("prompt_tokens")
            rec.completion_tokens = chunk.usage.get("completion_tokens")
            rec.cached_prompt_tokens = cached_prompt_tokens(chunk.usage)
        if chunk.done:
            self._done = True

    def finish(self, now: float, failure: str | None = None) -> RequestRecord:
        """The record, complete: `failure` is the transport's own error (a timeout, a reset), if the read ended on one."""
        rec = self.rec
        for data in self._decoder.close():
            self._event(now, data)
        rec.e2e_s = now
        rec.output_chars = self._chars
        if rec.error is None and not self._events and self._head.strip():
            rec.error = self._not_a_stream()
        if rec.error is None and failure is not None:
            rec.error = failure
        if rec.error is None and not self._done:
            rec.error = "IncompleteStream: the stream ended without [DONE]"
        if rec.error is None and rec.ttft_s is None and (rec.completion_tokens or 0) > 0 and not self.withheld:
            rec.error = "NoContent: usage reports tokens but no content arrived"
        rec.ok = rec.error is None
        return rec

    def _not_a_stream(self) -> str:
        """The error of a 200 answer without a single event: the server's error JSON, or whatever else it sent."""
        text = self._head.decode("utf-8", "replace")
        try:
            msg = error_message(json.loads(text))
        except ValueError:
            msg = None
        if msg is not None:
            return f"ErrorBody: {msg}"
        return f"NotAStream: a 200 answer without a single server-sent event: {body_message(text)[:MESSAGE_CHARS]}"

    def _call_pieces(self, pieces: tuple[dict, ...]) -> None:
        """Accumulate tool-call deltas per `index` (OpenAI streams a call's name once, then its arguments in pieces)."""
        for piece in pieces:
            fn = piece.get("function") if isinstance(piece.get("function"), dict) else {}
            index = piece.get("index")
            if not isinstance(index, int):  # no index: a named piece opens a call, the rest go on the last one
                index = len(self.calls) if fn.get("name") or not self.calls else max(self.calls)
            call = self.calls.setdefault(index, {"name": "", "arguments": ""})
            if isinstance(fn.get("name"), str):  # a name said again whole is kept once; one streamed in pieces is joined
                call["name"] = fn["name"] if fn["name"].startswith(call["name"]) else call["name"] + fn["name"]
            if isinstance(fn.get("arguments"), str):
                call["arguments"] += fn["arguments"]

    def reply(self) -> str:
        return "".join(self.text)

    def tool_calls(self) -> list[dict[str, str]]:
        """The streamed tool calls (`{"name", "arguments"}`), in index order; kept only with the text."""
        return [self.calls[i] for i in sorted(self.calls)]
