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
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._machine import cpu_jiffies, steal_pct  # noqa: E402
from benchmarks._server import SSEServer  # noqa: E402
from benchmarks.reference_client import run as reference_run  # noqa: E402
from harness.load.runner import LoadRun  # noqa: E402
from harness.server.endpoint import Endpoint  # noqa: E402
from harness.spec.load import LoadSpec  # noqa: E402

PROMPT = "the of and to in is was he for it with as his on be at by had are but from"


def harness_run(url: str, model: str, a: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        # the reference's prompt, as a one-line dataset, so both send identical requests
        prompts = Path(tmp) / "prompt.jsonl"
        prompts.write_text(json.dumps({"messages": [{"role": "user", "content": PROMPT}]}) + "\n")
        spec = LoadSpec(users=a.concurrency, spawn_rate=1000, warmup_s=a.warmup, duration_s=a.duration, dataset={"path": str(prompts)},
                        output_tokens={"mean": a.max_tokens, "max": a.max_tokens}, ignore_eos=a.ignore_eos, request_timeout_s=60)
        s = LoadRun(spec, Endpoint(base_url=url, model=model), Path(tmp) / "load").start().finish().summary
    return {"requests": s.requests, "ttft_p50_ms": s.ttft_ms.p50, "ttft_p99_ms": s.ttft_ms.p99, "tpot_p50_ms": s.tpot_ms.p50,
            "output_tokens_per_s": s.output_tokens_per_s, "client_lag_p99_ms": s.client_lag_ms.p99}


def _steal_pct(run):
    """Run `run()`; also return the share of machine CPU time stolen by the hypervisor meanwhile."""
    before = cpu_jiffies()
    out = run()
    out["cpu_steal_pct"] = steal_pct(before, cpu_jiffies())
    return out


def compare(url: str, model: str, a: argparse.Namespace) -> dict:
    """`--repeats` pairs, the order alternating (harness first, then reference first, ...) so drift in a real
    server's speed does not favour one client; ratios are of the medians over the repeats."""
    hs: list[dict] = []
    rs: list[dict] = []
    for i in range(a.repeats):
        pair = [lambda: hs.append(_steal_pct(lambda: harness_run(url, model, a))),
                lambda: rs.append(_steal_pct(lambda: asyncio.run(reference_run(url, model, a.concurrency, a.duration, a.warmup, a.max_tokens, PROMPT, a.ignore_eos))))]
        for step in pair if i % 2 == 0 else pair[::-1]:
            step()
    keys = ("ttft_p50_ms", "ttft_p99_ms", "tpot_p50_ms", "output_tokens_per_s")
    h = {k: statistics.median(x[k] for x in hs) for k in keys}
    r = {k: statistics.median(x[k] for x in rs) for k in keys}
    ratios = {k: h[k] / r[k] for k in keys}
    return {"concurrency": a.concurrency, "repeats": a.repeats, "harness": h, "reference": r, "ratios": ratios,
            "within_3pct": {k: abs(v - 1) <= 0.03 for k, v in ratios.items()}, "harness_runs": hs, "reference_runs": rs}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--url", help="an existing endpoint; default: start benchmarks/sse_server.py")
    p.add_argument("--llamacpp", action="store_true", help="launch the embedded default (llama-server + SmolLM2, as `harness run` does) and check against it")
    p.add_argument("--parallel", type=int, default=8, help="--llamacpp: llama-server slots")
    p.add_argument("--threads", type=int, default=None, help="--llamacpp: llama-server CPU threads (default: its own); fewer than the cores leaves the clients a core")
    p.add_argument("--model", default="bench-model")
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--ttft", type=float, default=0.2)
    p.add_argument("--interval", type=float, default=0.02)
    p.add_argument("--warmup", type=float, default=3)
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--ignore-eos", action="store_true", help="ask a real model server for exactly --max-tokens tokens (both clients)")
    p.add_argument("--repeats", type=int, default=1, help="pairs of runs, alternating which client goes first (use >= 3 on a real server)")
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    if a.url:
        row = compare(a.url, a.model, a)
        server = {"url": a.url}
    elif a.llamacpp:
        from harness.server.launch import serve
        from harness.spec import build_spec, resolve_variants

        llamacpp = {"parallel": a.parallel, "ctx_size": 4096 * a.parallel, **({"threads": a.threads} if a.threads else {})}
        spec = build_spec({"name": "crosscheck", "server": {"llamacpp": llamacpp}}, {}, [])
        (variant,) = resolve_variants(spec)
        with tempfile.TemporaryDirectory() as tmp, serve(variant, Path(tmp)) as running:
            row = compare(running.endpoint.base_url, running.endpoint.model, a)
            server = {"llamacpp": {"argv": running.argv[1:], "model": running.endpoint.model}}
    else:
        with SSEServer(a.max_tokens, a.interval, a.ttft) as srv:
            row = compare(srv.url, a.model, a)
        server = {"sse_server": {"ttft_s": a.ttft, "interval_s": a.interval, "chunks": a.max_tokens}}
    print(json.dumps(row, indent=1))
    meta = {"cpus": os.cpu_count(), "python": platform.python_version(), "when": time.strftime("%Y-%m-%d %H:%M:%S"), **server,
            "warmup_s": a.warmup, "duration_s": a.duration, "max_tokens": a.max_tokens, "ignore_eos": a.ignore_eos}
    if a.out:
        a.out.write_text(json.dumps({"meta": meta, **row}, indent=1) + "\n")


if __name__ == "__main__":
    main()
