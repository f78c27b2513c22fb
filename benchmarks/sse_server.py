"""A fast local streaming server for benchmarks: one process, SSE chunks at a set rate.

Speaks just enough of /v1/chat/completions (stream=true) and /v1/models. Each stream sends its
first content chunk `ttft` seconds after the request and then one chunk every `interval`
seconds, on absolute deadlines (no drift); it sends min(max_tokens, chunks) chunks, then usage
and [DONE], and closes the connection (or keeps it open for the next request with
`--keep-alive`). It reports its own lateness (actual - planned send time) so a benchmark can
tell server lag from client lag:

    python benchmarks/sse_server.py --port 0 --chunks 200 --interval 0.05 --ttft 0.1
    (prints "listening on PORT"; GET /stats returns JSON counters and send-lag percentiles)

Built for many thousands of chunks/s on one core: no task or coroutine per stream, each
stream is an asyncio Protocol whose next chunk is one `loop.call_at` timer, and a chunk is one
`transport.write` (HTTP/1.1 chunked encoding, as vLLM and llama-server send).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

STATS = {"streams": 0, "active": 0, "max_active": 0, "chunks": 0}
LAGS: list[float] = []
CHUNK = b'data: {"choices":[{"index":0,"delta":{"content":" tok"}}]}\n\n'


def _pct(xs: list[float], p: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def _chunked(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


CHUNK_FRAME = _chunked(CHUNK)


class Conn(asyncio.Protocol):
    """One HTTP/1.1 connection: parses requests, streams one response at a time."""

    def __init__(self, cfg: argparse.Namespace):
        self.cfg = cfg
        self.loop = asyncio.get_running_loop()
        self.buf = b""
        self.transport: asyncio.Transport | None = None
        self.streaming = False
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.streaming:
            self.streaming = False
            STATS["active"] -= 1
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if self.streaming:
            return
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buf[:end].decode("latin-1").split("\r\n")
        length = 0
        for line in head[1:]:
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        if len(self.buf) < end + 4 + length:
            return
        body_raw, self.buf = self.buf[end + 4 : end + 4 + length], self.buf[end + 4 + length :]
        method, path, _ = head[0].split(" ", 2)
        t_req = self.loop.time()
        try:
            body = json.loads(body_raw) if length else {}
        except ValueError:
            body = {}
        if method == "GET":
            self._get(path)
        else:
            self._start_stream(body, t_req)

    def _get(self, path: str) -> None:
        if path == "/stats":
            lags = LAGS[-200_000:]
            obj = {**STATS, "send_lag_p50_ms": _pct(lags, 50) * 1000, "send_lag_p99_ms": _pct(lags, 99) * 1000, "send_lag_max_ms": max(lags, default=0) * 1000}
        else:
            obj = {"object": "list", "data": [{"id": self.cfg.model, "object": "model"}]}
        data = json.dumps(obj).encode()
        assert self.transport is not None
        self.transport.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data))
        if not self.cfg.keep_alive:
            self.transport.close()

    def _start_stream(self, body: dict, t_req: float) -> None:
        assert self.transport is not None
        self.n = min(self.cfg.chunks, int(body.get("max_tokens") or self.cfg.chunks))
        self.i = 0
        self.t_first = t_req + self.cfg.ttft
        conn = b"keep-alive" if self.cfg.keep_alive else b"close"
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\nConnection: " + conn + b"\r\n\r\n"
        )
        self.streaming = True
        STATS["streams"] += 1
        STATS["active"] += 1
        STATS["max_active"] = max(STATS["max_active"], STATS["active"])
        self.timer = self.loop.call_at(self.t_first, self._tick)

    def _tick(self) -> None:
        if self.transport is None:
            return
        due = self.t_first + self.i * self.cfg.interval
        LAGS.append(self.loop.time() - due)
        self.transport.write(CHUNK_FRAME)
        STATS["chunks"] += 1
        self.i += 1
        if self.i < self.n:
            self.timer = self.loop.call_at(self.t_first + self.i * self.cfg.interval, self._tick)
            return
        usage = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": self.n, "total_tokens": 5 + self.n}}
        tail = b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}\n\ndata: ' + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n"
        self.transport.write(_chunked(tail) + b"0\r\n\r\n")
        self.streaming = False
        self.timer = None
        STATS["active"] -= 1
        if len(LAGS) > 400_000:
            del LAGS[:200_000]
        if not self.cfg.keep_alive:
            self.transport.close()
        elif self.buf:
            self.data_received(b"")


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--chunks", type=int, default=200)
    p.add_argument("--interval", type=float, default=0.05)
    p.add_argument("--ttft", type=float, default=0.1)
    p.add_argument("--model", default="bench-model")
    p.add_argument("--keep-alive", action="store_true", help="Keep connections open between requests (default: close after each)")
    cfg = p.parse_args()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Conn(cfg), "127.0.0.1", cfg.port, backlog=4096)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
