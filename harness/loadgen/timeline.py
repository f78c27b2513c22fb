"""Turn a streamed response (bytes with arrival times) into a RequestRecord.

Pure code, no I/O: the Locust user feeds it what it reads, tests feed it hand-built timelines.
Definitions are in docs/metrics.md: TTFT is the first chunk with non-empty *content*; reasoning
content only sets `first_reasoning_s`; chunks without content (role, finish, usage) are not ITL
points.
"""

from __future__ import annotations

from harness.loadgen.record import RequestRecord
from harness.loadgen.sse import SSEDecoder, parse_chat_event


class StreamTimeline:
    """Feed `(offset_s, raw_bytes)` as they arrive, then `finish(offset_s)`."""

    def __init__(self, rec: RequestRecord, keep_text: bool = False):
        self.rec = rec
        self.keep_text = keep_text
        self.text: list[str] = []
        self._decoder = SSEDecoder()
        self._done = False
        self._chars = 0

    def feed(self, now: float, raw: bytes) -> None:
        for data in self._decoder.feed(raw):
            self._event(now, data)

    def _event(self, now: float, data: str) -> None:
        rec = self.rec
        chunk = parse_chat_event(data)
        if chunk.error:
            rec.error = chunk.error
        if chunk.reasoning and rec.first_reasoning_s is None:
            rec.first_reasoning_s = now
        if chunk.content:
            if rec.ttft_s is None:
                rec.ttft_s = now
            rec.chunk_offsets_s.append(now)
            self._chars += len(chunk.content)
            if self.keep_text:
                self.text.append(chunk.content)
        if chunk.finish_reason:
            rec.finish_reason = chunk.finish_reason
        if chunk.usage:
            rec.prompt_tokens = chunk.usage.get("prompt_tokens")
            rec.completion_tokens = chunk.usage.get("completion_tokens")
        if chunk.done:
            self._done = True

    def finish(self, now: float) -> RequestRecord:
        rec = self.rec
        for data in self._decoder.close():
            self._event(now, data)
        rec.e2e_s = now
        rec.output_chars = self._chars
        if rec.error is None and not self._done:
            rec.error = "IncompleteStream: the stream ended without [DONE]"
        if rec.error is None and rec.ttft_s is None and (rec.completion_tokens or 0) > 0:
            rec.error = "NoContent: usage reports tokens but no content arrived"
        rec.ok = rec.error is None
        return rec

    def reply(self) -> str:
        return "".join(self.text)
