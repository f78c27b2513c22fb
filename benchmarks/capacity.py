"""Capacity of the load generator itself: the harness's Locust user against benchmarks/sse_server.py.

For each (users, processes): a closed-loop run of long streams (`--chunks` chunks `--interval`
apart), then: concurrent streams the server saw, content chunks/s the client received inside the
measured window (total and per process), the client's event-loop lag (p50/p99 of a 5 ms timer's
oversleep, the `perf/client_lag_*` metric), and how far measured ITL is from the programmed
interval (p99 |ITL - interval|), next to the server's own send lag.

    .venv/bin/python benchmarks/capacity.py --out benchmarks/results/capacity.json

Goal (issue 3): one process >= 1000 concurrent streams and >= 20,000 chunks/s with p99 lag < 5 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._machine import cpu_jiffies, steal_pct, tree_cpu_s  # noqa: E402
from benchmarks._server import SSEServer  # noqa: E402
from harness.load.runner import LoadRun  # noqa: E402
from harness.load.stats import percentile  # noqa: E402
from harness.server.endpoint import Endpoint  # noqa: E402
from harness.spec.load import LoadSpec  # noqa: E402


def _sample(pid: int) -> tuple[float, float]:
    return time.time(), tree_cpu_s(pid)


def one(users: int, processes: int, a: argparse.Namespace) -> dict:
    with SSEServer(a.chunks, a.interval, a.ttft, ["--keep-alive"] if a.keep_alive else []) as srv, tempfile.TemporaryDirectory() as tmp:
        spec = LoadSpec(
            users=users, processes=processes, spawn_rate=a.spawn_rate, warmup_s=a.warmup, duration_s=a.duration,
            prompt_tokens={"mean": 16}, output_tokens={"mean": a.chunks, "max": a.chunks}, request_timeout_s=60,
            reuse_connections=a.keep_alive, http_client=a.http_client,
        )
        ep = Endpoint(base_url=srv.url, model="bench-model")
        t = time.time()
        run = LoadRun(spec, ep, Path(tmp)).start()
        # CPU of client and server, and the machine's steal, over the measured part of the run
        time.sleep(a.warmup + 1)
        client0, server0, j0 = _sample(run.proc.pid or 0), _sample(srv.proc.pid), cpu_jiffies()
        time.sleep(max(a.duration - 2, 1))
        client1, server1, j1 = _sample(run.proc.pid or 0), _sample(srv.proc.pid), cpu_jiffies()
        res = run.finish()
        server = srv.stats()
    t_lo, t_hi = client0[0], client1[0]
    sampled_chunks = sum(1 for r in res.records for o in r.chunk_offsets_s if t_lo <= r.t_start + o < t_hi)
    client_cpu_s, server_cpu_s = client1[1] - client0[1], server1[1] - server0[1]
    lo, hi = res.window_start, res.window_end
    arrivals = [r.t_start + o for r in res.records for o in r.chunk_offsets_s]
    in_window = [x for x in arrivals if lo <= x < hi]
    chunks_per_s = len(in_window) / (hi - lo)
    itl_err = [abs((b - x) - a.interval) * 1000 for r in res.records for x, b in zip(r.chunk_offsets_s, r.chunk_offsets_s[1:]) if lo <= r.t_start + x < hi]
    s = res.summary
    return {
        "users": users, "processes": processes, "wall_s": round(time.time() - t, 1),
        "server_max_concurrent_streams": server["max_active"],
        "chunks_per_s": round(chunks_per_s), "chunks_per_s_per_process": round(chunks_per_s / processes),
        # each stream: `chunks` chunks over ttft + (chunks - 1) x interval, then the next request starts
        "programmed_chunks_per_s": round(min(users, server["max_active"]) * a.chunks / (a.ttft + (a.chunks - 1) * a.interval)),
        "client_loop_lag_p50_ms": round(s.client_lag_ms.p50, 2), "client_loop_lag_p99_ms": round(s.client_lag_ms.p99, 2),
        "itl_error_p50_ms": round(percentile(itl_err, 50), 2), "itl_error_p99_ms": round(percentile(itl_err, 99), 2),
        "ttft_p50_ms": round(s.ttft_ms.p50, 1), "ttft_p99_ms": round(s.ttft_ms.p99, 1), "programmed_ttft_ms": a.ttft * 1000,
        "server_send_lag_p99_ms": round(server["send_lag_p99_ms"], 2),
        "errors": s.errors, "requests": s.requests,
        # CPU per 1000 chunks received while measured (client: all its processes): what each side's path costs
        "client_cpu_ms_per_1k_chunks": round(1e6 * client_cpu_s / max(sampled_chunks, 1), 1),
        "client_cpu_cores": round(client_cpu_s / (t_hi - t_lo), 2),
        "server_cpu_ms_per_1k_chunks": round(1e6 * server_cpu_s / max(sampled_chunks, 1), 1),
        # share of the machine's CPU time the hypervisor gave to other guests meanwhile (vmstat's 'st')
        "cpu_steal_pct": steal_pct(j0, j1),
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--points", default="100x1,300x1,1000x1,1000x2,2000x2", help="users x processes, comma separated")
    p.add_argument("--chunks", type=int, default=200)
    p.add_argument("--interval", type=float, default=0.045)
    p.add_argument("--ttft", type=float, default=0.1)
    p.add_argument("--warmup", type=float, default=6)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--spawn-rate", type=float, default=500)
    p.add_argument("--keep-alive", action="store_true", help="server keeps connections open and the harness reuses them (load.reuse_connections)")
    p.add_argument("--http-client", default="auto", choices=["auto", "reactor", "requests"], help="load.http_client")
    p.add_argument("--out", type=Path)
    a = p.parse_args()
    rows = []
    for point in a.points.split(","):
        users, procs = (int(x) for x in point.split("x"))
        row = one(users, procs, a)
        print(json.dumps(row), flush=True)
        rows.append(row)
    meta = {"cpus": os.cpu_count(), "python": platform.python_version(), "machine": platform.machine(), "chunks": a.chunks, "interval_s": a.interval,
            "warmup_s": a.warmup, "duration_s": a.duration, "keep_alive": a.keep_alive, "http_client": a.http_client, "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    if a.out:
        a.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
