"""A fast local streaming server for benchmarks: asyncio, one process, SSE chunks at a set rate.

Speaks just enough of /v1/chat/completions (stream=true) and /v1/models. Each stream sends its
first content chunk `ttft` seconds after the request and then one chunk every `interval`
seconds, on absolute deadlines (no drift); it sends min(max_tokens, chunks) chunks, then usage
and [DONE], and closes the connection. It reports its own lateness (actual - planned send time)
so a benchmark can tell server lag from client lag:

    python benchmarks/sse_server.py --port 0 --chunks 200 --interval 0.05 --ttft 0.1
    (prints "listening on PORT"; GET /stats returns JSON counters and send-lag percentiles)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

STATS = {"streams": 0, "active": 0, "max_active": 0, "chunks": 0}
LAGS: list[float] = []


def _pct(xs: list[float], p: float) -> float:
    if not xs:
        return 0.0
    s = sorted(xs)
    k = (len(s) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, cfg: argparse.Namespace) -> None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
        t_req = time.monotonic()
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        length = 0
        for line in lines[1:]:
            if line.lower().startswith("content-length:"):
                length = int(line.split(":", 1)[1])
        body = json.loads(await reader.readexactly(length)) if length else {}
        if method == "GET":
            if path == "/stats":
                lags = LAGS[-200_000:]
                obj = {**STATS, "send_lag_p50_ms": _pct(lags, 50) * 1000, "send_lag_p99_ms": _pct(lags, 99) * 1000, "send_lag_max_ms": max(lags, default=0) * 1000}
            else:
                obj = {"object": "list", "data": [{"id": cfg.model, "object": "model"}]}
            data = json.dumps(obj).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s" % (len(data), data))
            await writer.drain()
            return
        n = min(cfg.chunks, int(body.get("max_tokens") or cfg.chunks))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n")
        STATS["streams"] += 1
        STATS["active"] += 1
        STATS["max_active"] = max(STATS["max_active"], STATS["active"])
        try:
            for i in range(n):
                due = t_req + cfg.ttft + i * cfg.interval
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                LAGS.append(time.monotonic() - due)
                writer.write(b'data: {"choices":[{"index":0,"delta":{"content":" tok"}}]}\n\n')
                STATS["chunks"] += 1
                await writer.drain()
            usage = {"choices": [], "usage": {"prompt_tokens": 5, "completion_tokens": n, "total_tokens": 5 + n}}
            writer.write(b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}\n\ndata: ' + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
            await writer.drain()
        finally:
            STATS["active"] -= 1
        if len(LAGS) > 400_000:
            del LAGS[:200_000]
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--chunks", type=int, default=200)
    p.add_argument("--interval", type=float, default=0.05)
    p.add_argument("--ttft", type=float, default=0.1)
    p.add_argument("--model", default="bench-model")
    cfg = p.parse_args()
    server = await asyncio.start_server(lambda r, w: handle(r, w, cfg), "127.0.0.1", cfg.port, backlog=4096)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
