"""An independent reference client for the cross-check: plain asyncio sockets, its own HTTP and
SSE handling, its own statistics (numpy). It shares no code with the harness.

Closed loop: `concurrency` workers send streaming chat requests back to back for `duration`
seconds; requests started after `warmup` seconds are measured.
TTFT = send -> first data event with non-empty delta.content; TPOT = (e2e - TTFT)/(N - 1) with N
from usage; output tokens/s = sum N / (last measured end - window start).
"""

from __future__ import annotations

import asyncio
import json
import time
from urllib.parse import urlparse

import numpy as np


async def one_request(host: str, port: int, model: str, max_tokens: int, prompt: str, ignore_eos: bool = False) -> dict:
    req = {"model": model, "messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
           "stream": True, "stream_options": {"include_usage": True}, "temperature": 0}
    if ignore_eos:
        req["ignore_eos"] = True
    body = json.dumps(req).encode()
    t0 = time.perf_counter()
    start = time.time()
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"POST /v1/chat/completions HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
                 % (host.encode(), len(body), body))
    await writer.drain()
    ttft = None
    n = None
    buf = b""
    chunked = False
    head_done = False
    while True:
        data = await reader.read(65536)
        if not data:
            break
        now = time.perf_counter() - t0
        buf += data
        if not head_done:
            if b"\r\n\r\n" not in buf:
                continue
            head, buf = buf.split(b"\r\n\r\n", 1)
            chunked = b"chunked" in head.lower()
            head_done = True
        # dechunking is not needed for event detection: look for complete "data: ...\n\n" events
        while b"\n\n" in buf:
            event, buf = buf.split(b"\n\n", 1)
            for line in event.split(b"\n"):
                line = line.strip(b"\r")
                if chunked and not line.startswith(b"data:"):
                    continue
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    continue
                obj = json.loads(payload)
                for ch in obj.get("choices") or []:
                    if (ch.get("delta") or {}).get("content") and ttft is None:
                        ttft = now
                if obj.get("usage"):
                    n = obj["usage"].get("completion_tokens")
    e2e = time.perf_counter() - t0
    writer.close()
    return {"start": start, "ttft": ttft, "e2e": e2e, "n": n}


async def run(url: str, model: str, concurrency: int, duration: float, warmup: float, max_tokens: int, prompt: str, ignore_eos: bool = False) -> dict:
    u = urlparse(url)
    records: list[dict] = []
    t_begin = time.time()
    stop_at = t_begin + warmup + duration

    async def worker() -> None:
        while time.time() < stop_at:
            records.append(await one_request(u.hostname, u.port, model, max_tokens, prompt, ignore_eos))

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    t0 = min(r["start"] for r in records)
    lo, hi = t0 + warmup, t0 + warmup + duration
    m = [r for r in records if lo <= r["start"] < hi and r["ttft"] is not None and r["n"]]
    ttft = np.array([r["ttft"] for r in m]) * 1000
    tpot = np.array([(r["e2e"] - r["ttft"]) / (r["n"] - 1) for r in m if r["n"] > 1]) * 1000
    end = max(r["start"] + r["e2e"] for r in m)
    return {
        "requests": len(m),
        "ttft_p50_ms": float(np.percentile(ttft, 50)), "ttft_p99_ms": float(np.percentile(ttft, 99)),
        "tpot_p50_ms": float(np.percentile(tpot, 50)),
        "output_tokens_per_s": sum(r["n"] for r in m) / (end - lo),
    }
