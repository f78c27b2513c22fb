"""Recompute a sweep's server-side metrics from its saved /metrics scrapes (every scrape is kept in
<variant>/server/metrics.jsonl), over the same load window the sweep used, with the current
harness.server.metrics code. Used for benchmarks/results/vllm-h100: the sweep ran with a
histogram-quantile estimator that read near-zero values in vLLM's lowest bucket as half the bucket
(queue time p50 = 0.15 s); the fixed estimator bounds that bucket by the window's _sum.

usage: python scripts/vllm-gpu/recompute_server_metrics.py RUN_FOLDER OUT.csv
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from harness.load.records import read_records  # noqa: E402
from harness.server.metrics import parse_metrics, summarize  # noqa: E402

KEYS = ["queue_time_s_mean", "queue_time_s_p50", "queue_time_s_p90", "queue_time_s_p99", "ttft_s_p50", "ttft_s_p90", "ttft_s_p99",
        "tpot_s_p50", "tpot_s_p99", "itl_s_p50", "e2e_s_p50", "prefill_s_p50", "decode_s_p50", "requests_running_mean",
        "requests_running_max", "requests_waiting_mean", "requests_waiting_max", "kv_cache_usage_max", "prompt_tokens",
        "generation_tokens", "preemptions", "prefix_cache_hit_rate"]


def main() -> int:
    folder, out = Path(sys.argv[1]), Path(sys.argv[2])
    exp = yaml.safe_load((folder / "experiment.yaml").read_text())
    warmup, duration = float(exp["load"]["warmup_s"]), float(exp["load"]["duration_s"])
    rows = []
    for variant in [v["name"] for v in exp["variants"]]:
        scrapes_file = folder / variant / "server" / "metrics.jsonl"
        if not scrapes_file.is_file():
            continue
        series = [parse_metrics(d["text"], d["t"]) for d in map(json.loads, scrapes_file.read_text().splitlines())]
        records = read_records(sorted((folder / variant / "load").glob("records.jsonl*")))
        start = records[0].t_start + warmup
        end = start + duration
        before = ([s for s in series if s.t <= start] or series[:1])[-1]
        after = ([s for s in series if s.t >= end] or series[-1:])[0]
        m = summarize(before, after, series)
        rows.append({"variant": variant, "scrapes": len(series), **{k: m.get(k, "") for k in KEYS}})
    with out.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=["variant", "scrapes", *KEYS])
        w.writeheader()
        w.writerows(rows)
    for r in rows:
        print(r["variant"], {k: (round(v, 5) if isinstance(v, float) else v) for k, v in r.items() if k.startswith(("queue", "ttft", "tpot"))})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
