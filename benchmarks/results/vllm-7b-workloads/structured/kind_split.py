"""JSON-schema requests against plain ones in the same blocks: the per-block ratio of TTFT p50 and TPOT p50 (json /
chat, both measured in the same window on the same server), with a paired t interval on the log-ratios.

usage: python kind_split.py SQLITE_DB [EXPERIMENT] > kind_split.txt   (the sqlite store study7b.sh wrote; the
per-block values are also written to kind_split.csv beside this file)"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient
from scipy import stats

PAIRS = {"TTFT p50": ("perf/ttft_chat_p50_ms", "perf/ttft_json_p50_ms"), "TPOT p50": ("perf/tpot_chat_p50_ms", "perf/tpot_json_p50_ms")}


def main() -> None:
    db, experiment = sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else "vllm-7b-structured-colocated"
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    exp = client.get_experiment_by_name(experiment)
    runs = [r for r in client.search_runs([exp.experiment_id], order_by=["start_time ASC"])
            if r.data.tags.get("harness.kind") == "repeat" and "perf/ttft_json_p50_ms" in r.data.metrics]
    rows = [{"sweep": r.data.tags.get("mlflow.parentRunId", "")[:8], "block": r.data.tags.get("harness.block"),
             **{m: r.data.metrics[m] for pair in PAIRS.values() for m in pair},
             "invalid_output_rate": r.data.metrics.get("perf/invalid_output_rate"),
             "error_rate": r.data.metrics.get("perf/error_rate")} for r in runs]
    with open(Path(__file__).with_name("kind_split.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    n = len(rows)
    print(f"{n} blocks (sweeps {', '.join(dict.fromkeys(r['sweep'] for r in rows))}); ratio json / chat, paired t on log-ratios")
    for label, (chat, js) in PAIRS.items():
        logs = [math.log(r[js] / r[chat]) for r in rows]
        mean = sum(logs) / n
        sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1))
        out = [f"{label}: x{math.exp(mean):.3f}", f"sd {sd:.3f}"]
        for level in (0.95, 0.90):
            t = stats.t.ppf(1 - (1 - level) / 2, n - 1) * sd / math.sqrt(n)
            out.append(f"{level:.0%} [{math.exp(mean - t):.3f}, {math.exp(mean + t):.3f}]")
        print("  " + ", ".join(out))


if __name__ == "__main__":
    main()
