#!/usr/bin/env bash
# Issue 11's CPU proof: examples/local-decide.yaml (llama.cpp --parallel 1 vs 4, repeats in interleaved blocks,
# capacity at SLO per repeat) run twice, each into its own MLflow store; the reports of both runs are copied to
# benchmarks/results/cpu-decide/run-<k>/ so a reader can check that the second run reaches the same decision (or
# an explicit tie). Usage: bash benchmarks/cpu_decide.sh [RUNS=2]   (about 11 minutes a run on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=benchmarks/results/cpu-decide
RUNS=${1:-2}
mkdir -p "$OUT"
for k in $(seq 1 "$RUNS"); do
  work=$(mktemp -d)
  echo "[cpu-decide] run $k in $work"
  start=$(date +%s)
  MLFLOW_TRACKING_URI="sqlite:///$work/mlflow.db" .venv/bin/harness run examples/local-decide.yaml \
      --set tracking.run_dir="$work/runs" > "$work/stdout.txt" 2> "$work/stderr.txt" || true
  end=$(date +%s)
  dest="$OUT/run-$k"; rm -rf "$dest"; mkdir -p "$dest"
  sweep=$(ls -d "$work"/runs/local-decide-* | head -1)
  cp "$sweep"/report/{report.md,table.csv,recommendation.json,*.png} "$dest"/ 2>/dev/null || true
  cp "$work/stdout.txt" "$dest/compare.txt"
  grep -E "^\[|capacity at SLO|load:|recommend|FAILED" "$work/stderr.txt" > "$dest/progress.txt" || true
  .venv/bin/python - "$work/mlflow.db" "$dest/repeats.csv" <<'PY'
import csv, sys
from mlflow.tracking import MlflowClient
c = MlflowClient(tracking_uri=f"sqlite:///{sys.argv[1]}")
exp = c.get_experiment_by_name("local-decide")
rows = []
for r in c.search_runs([exp.experiment_id], "tags.`harness.kind` = 'repeat'"):
    m = r.data.metrics
    rows.append({"variant": r.data.tags["harness.variant"], "block": int(r.data.tags["harness.block"]),
                 **{k: m.get(k) for k in ("perf/capacity_rps_at_slo", "perf/ttft_p50_ms", "perf/tpot_p50_ms",
                                          "perf/output_tokens_per_s", "perf/error_rate", "perf/capacity_measurements")}})
rows.sort(key=lambda x: (x["block"], x["variant"]))
with open(sys.argv[2], "w", newline="") as fh:
    w = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["variant"])
    w.writeheader()
    w.writerows(rows)
print(f"{len(rows)} repeat runs")
PY
  echo "wall_s=$((end - start))" > "$dest/timing.txt"
  echo "[cpu-decide] run $k: $((end - start)) s; $(grep -m1 -i 'recommend' "$dest/compare.txt" || echo 'no recommendation line')"
done
