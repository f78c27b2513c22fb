#!/usr/bin/env bash
# The GPU proofs of issues 11-13 in one staged session (run by `device_run.sh start proofs`, from a snapshot of
# the checkout, with device_run.sh's environment). Results under /root/res (collected by device_run.sh):
#   1. four vLLM servers side by side on the GPU (bf16, bf16 max_num_seqs 8, fp8 weights, fp8 KV cache)
#   2. issue 11: examples/vllm-decide.yaml attached to them: 5 variants (bf16 twice: A/A) x 3 interleaved repeats
#   3. issue 12: benchmarks/fidelity_endpoints.py: fp8 and kv-fp8 against bf16, with bf16's noise floor
#   4. issue 13: examples/vllm-smoke.yaml --variant bf16 launched by the harness (roofline from the model's
#      config, NVML power and tokens per joule, quality under load)
# Env: ONLY_CAPACITY=1 runs only examples/vllm-capacity.yaml (capacity at SLO, 3 servers) and examples/vllm-loglikelihood.yaml
#   (issue 12: mc_facts through local-completions on bf16 and fp8, and the official lm-eval CLI on bf16: equal accuracies); SKIP="decide fidelity launched" to leave steps out; PROMPTS (fidelity prompts, default 200).
set -u
RES=/root/res; MODEL=${MODEL:-/root/smol}; NAME=smollm2-135m-instruct
log() { echo "[$(date +%T)] $*"; }
skip() { case " ${SKIP:-} " in *" $1 "*) return 0;; esac; return 1; }
declare -A PORTS=([bf16]=8001 [seqs8]=8002 [fp8]=8003 [kvfp8]=8004)
declare -A ARGS=([bf16]="" [seqs8]="--max-num-seqs 8" [fp8]="--quantization fp8" [kvfp8]="--kv-cache-dtype fp8")
declare -A PIDOF=()
start_one() { # tag
  local tag=$1
  echo "vllm serve $MODEL --served-model-name $NAME --dtype bfloat16 --max-model-len 4096 --max-num-seqs 64 --gpu-memory-utilization 0.18 --seed 0 --port ${PORTS[$tag]} ${ARGS[$tag]}" > $RES/serve_$tag.cmd
  # shellcheck disable=SC2086
  setsid nohup python3 -m vllm.entrypoints.cli.main serve $MODEL --served-model-name $NAME --dtype bfloat16 \
    --max-model-len 4096 --max-num-seqs 64 --gpu-memory-utilization 0.18 --seed 0 --host 127.0.0.1 \
    --port ${PORTS[$tag]} ${ARGS[$tag]} >> $RES/server_$tag.log 2>&1 < /dev/null &
  PIDOF[$tag]=$!
}
wait_healthy() { # tag -> 0 healthy, 1 died or timed out
  local tag=$1
  for i in $(seq 1 300); do
    curl -sf -o /dev/null http://127.0.0.1:${PORTS[$tag]}/health && { log "$tag healthy"; return 0; }
    kill -0 ${PIDOF[$tag]} 2>/dev/null || { log "$tag died: $(tail -3 $RES/server_$tag.log)"; return 1; }
    sleep 1
  done; return 1
}
start_all() { # [tags...] (default all four)
  # staggered: an engine profiling its memory must not see another's warm-up; one that dies is retried alone
  # (the second capacity session lost fp8's first two repeats to "No available memory for the cache blocks")
  local tags=("$@"); [ ${#tags[@]} -gt 0 ] || tags=(bf16 seqs8 fp8 kvfp8)
  for tag in "${tags[@]}"; do start_one $tag; sleep 12; done
  local retry=()
  for tag in "${tags[@]}"; do wait_healthy $tag || retry+=($tag); done
  for tag in "${retry[@]}"; do log "retry $tag"; start_one $tag; wait_healthy $tag; done
  nvidia-smi --query-gpu=memory.used,memory.total --format=csv,noheader
}
stop_all() { for p in "${PIDOF[@]}"; do kill -TERM -- -$p 2>/dev/null; done; sleep 8; for p in "${PIDOF[@]}"; do kill -KILL -- -$p 2>/dev/null; done; }
log "proofs start"; nvidia-smi --query-gpu=name,memory.total,driver_version,power.limit --format=csv,noheader | tee $RES/gpu.txt
python3 -m pip list 2>/dev/null | grep -iE "^(vllm|torch|transformers|mlflow|lm.eval|locust|nvidia-ml-py) " > $RES/versions.txt
if [ -n "${ONLY_CAPACITY:-}" ]; then   # issue 11's capacity at SLO: three servers, examples/vllm-capacity.yaml
  start_all bf16 seqs8 fp8
  log "capacity: harness run examples/vllm-capacity.yaml"
  MLFLOW_TRACKING_URI=sqlite:///$RES/capacity.db python3 -m harness run examples/vllm-capacity.yaml \
    --set tracking.run_dir=$RES/runs > $RES/capacity.log 2>&1; log "capacity rc=$?"
  MLFLOW_TRACKING_URI=sqlite:///$RES/capacity.db python3 -m harness compare vllm-capacity > $RES/capacity-compare.txt 2>&1
  python3 scripts/vllm-gpu/export_mlflow.py sqlite:///$RES/capacity.db vllm-capacity $RES/capacity-export 2>&1 | tail -2
  if ! skip loglikelihood; then  # issue 12: a loglikelihood task through local-completions, harness vs the official CLI
    log "loglikelihood: harness run examples/vllm-loglikelihood.yaml"
    MLFLOW_TRACKING_URI=sqlite:///$RES/ll.db python3 -m harness run examples/vllm-loglikelihood.yaml \
      --set quality.tokenizer=$MODEL --set tracking.run_dir=$RES/runs > $RES/loglikelihood.log 2>&1; log "loglikelihood rc=$?"
    MLFLOW_TRACKING_URI=sqlite:///$RES/ll.db python3 -m harness compare vllm-loglikelihood >> $RES/loglikelihood.log 2>&1
    python3 -m lm_eval --model local-completions --model_args \
      "model=$NAME,base_url=http://127.0.0.1:8001/v1/completions,num_concurrent=4,max_retries=3,tokenizer_backend=huggingface,tokenizer=$MODEL" \
      --tasks mc_facts --include_path evals/tasks --output_path $RES/ll-official --log_samples --seed 1234 \
      > $RES/ll-official.log 2>&1; log "official lm-eval rc=$?"
    python3 - "$RES" >> $RES/loglikelihood.log 2>&1 <<'PY'
import glob, json, sys
res = sys.argv[1]
official = json.load(open(sorted(glob.glob(f"{res}/ll-official/**/results_*.json", recursive=True))[-1]))["results"]["mc_facts"]
ours = json.load(open(sorted(glob.glob(f"{res}/runs/vllm-loglikelihood-*/bf16/quality/**/results_*.json", recursive=True))[-1]))["results"]["harness_mc_facts"]
for k in ("acc,none", "acc_norm,none"):
    print(f"mc_facts {k}: official CLI {official[k]:.6f}  harness {ours[k]:.6f}  equal={official[k] == ours[k]}")
PY
    tail -3 $RES/loglikelihood.log
  fi
  stop_all; log "proofs done"; touch $RES/DONE; exit 0
fi
if ! skip decide || ! skip fidelity; then
  start_all
  if ! skip decide; then
    log "decide: harness run examples/vllm-decide.yaml"
    MLFLOW_TRACKING_URI=sqlite:///$RES/decide.db python3 -m harness run examples/vllm-decide.yaml \
      --set tracking.run_dir=$RES/runs > $RES/decide.log 2>&1; log "decide rc=$?"
    MLFLOW_TRACKING_URI=sqlite:///$RES/decide.db python3 -m harness compare vllm-decide > $RES/decide-compare.txt 2>&1
    python3 scripts/vllm-gpu/export_mlflow.py sqlite:///$RES/decide.db vllm-decide $RES/decide-export 2>&1 | tail -2
  fi
  if ! skip fidelity; then
    log "fidelity: fp8, kv-fp8 vs bf16"
    python3 benchmarks/fidelity_endpoints.py --model $NAME --baseline bf16=http://127.0.0.1:8001 \
      --candidate fp8=http://127.0.0.1:8003 --candidate kv-fp8=http://127.0.0.1:8004 --candidate bf16-seqs8=http://127.0.0.1:8002 \
      --prompts ${PROMPTS:-200} --out $RES/fidelity > $RES/fidelity.log 2>&1; log "fidelity rc=$?"
  fi
  stop_all
fi
if ! skip launched; then
  log "launched: harness run examples/vllm-smoke.yaml --variant bf16"
  MLFLOW_TRACKING_URI=sqlite:///$RES/mlflow.db python3 -m harness run examples/vllm-smoke.yaml --variant bf16 \
    --set server.model=$MODEL --set server.vllm.executable=/root/bin/vllm --set tracking.run_dir=$RES/runs \
    --set quality.limit=20 --set load.duration_s=30 > $RES/sweep.log 2>&1; log "launched rc=$?"
  MLFLOW_TRACKING_URI=sqlite:///$RES/mlflow.db python3 -m harness compare vllm-smoke > $RES/compare.txt 2>&1
  python3 scripts/vllm-gpu/export_mlflow.py sqlite:///$RES/mlflow.db vllm-smoke $RES/export 2>&1 | tail -2
fi
log "proofs done"; touch $RES/DONE
