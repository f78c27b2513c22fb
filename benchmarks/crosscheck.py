"""Cross-check: the harness (Locust subprocess) and the independent asyncio reference client
(benchmarks/reference_client.py) at the same closed-loop load on the same server; ratios of
TTFT p50/p99, TPOT p50 and output tokens/s (goal: within +-3%).

The server is benchmarks/sse_server.py with programmed timing (so both clients should see the
same thing), or any endpoint via --url (e.g. a running llama-server).

    .venv/bin/python benchmarks/crosscheck.py --out benchmarks/results/crosscheck.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._server import SSEServer  # noqa: E402
from benchmarks.reference_client import run as reference_run  # noqa: E402
from harness.load.runner import LoadRun  # noqa: E402
from harness.server.endpoint import Endpoint  # noqa: E402
from harness.spec.load import LoadSpec  # noqa: E402

PROMPT = "the of and to in is was he for it with as his on be at by had are but from"


def harness_run(url: str, model: str, a: argparse.Namespace) -> dict:
    spec = LoadSpec(users=a.concurrency, spawn_rate=1000, warmup_s=a.warmup, duration_s=a.duration,
                    prompt_tokens={"mean": 20}, output_tokens={"mean": a.max_tokens, "max": a.max_tokens}, request_timeout_s=60)
    with tempfile.TemporaryDirectory() as tmp:
        s = LoadRun(spec, Endpoint(base_url=url, model=model), Path(tmp)).start().finish().summary
    return {"requests": s.requests, "ttft_p50_ms": s.ttft_ms.p50, "ttft_p99_ms": s.ttft_ms.p99, "tpot_p50_ms": s.tpot_ms.p50,
            "output_tokens_per_s": s.output_tokens_per_s, "client_lag_p99_ms": s.client_lag_ms.p99}


def compare(url: str, model: str, a: argparse.Namespace) -> dict:
    h = harness_run(url, model, a)
    r = asyncio.run(reference_run(url, model, a.concurrency, a.duration, a.warmup, a.max_tokens, PROMPT))
    keys = ("ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms", "output_tokens_per_s")
    ratios = {k: h[k] / r[k] for k in keys}
    return {"concurrency": a.concurrency, "harness": h, "reference": r, "ratios": ratios,
            "within_3pct": {k: abs(v - 1) <= 0.03 for k, v in ratios.items()}}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", help="an existing endpoint; default: start benchmarks/sse_server.py")
    p.add_argument("--model", default="bench-model")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--ttft", type=float, default=0.2)
    p.add_argument("--interval", type=float, default=0.02)
    p.add_argument("--warmup", type=float, default=3)
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    if a.url:
        row = compare(a.url, a.model, a)
        server = {"url": a.url}
    else:
        with SSEServer(a.max_tokens, a.interval, a.ttft) as srv:
            row = compare(srv.url, a.model, a)
        server = {"sse_server": {"ttft_s": a.ttft, "interval_s": a.interval, "chunks": a.max_tokens}}
    print(json.dumps(row, indent=1))
    meta = {"cpus": os.cpu_count(), "python": platform.python_version(), "when": time.strftime("%Y-%m-%d %H:%M:%S"), **server,
            "warmup_s": a.warmup, "duration_s": a.duration}
    if a.out:
        a.out.write_text(json.dumps({"meta": meta, **row}, indent=1) + "\n")


if __name__ == "__main__":
    main()
