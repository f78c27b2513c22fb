#!/usr/bin/env bash
# The GPU proof of issue 17 ("Decisions that say something") on a 7B-shaped model (issue 18's synthetic://
# source): run by `device_run.sh start decide7b` from a snapshot of the checkout, with device_run.sh's environment.
# The model folder (config.json of Llama-2-7B with the published AWQ quantization_config + the embedded tokenizer)
# is materialised on the CPU machine (harness.server.synthetic.materialise(shape, Path(".gpu-model"))) and
# carried; vLLM serves it with --load-format dummy (random weights, real kernels and memory traffic).
#   1. one server alone (max_num_seqs 64): `harness plan` from a 2-block pilot, then the A/A pair
#      (examples/vllm-7b-aa.yaml: the same server under two names) with adaptive repeats -> equivalent within 5%?
#   2. a second server (max_num_seqs 30 at 32 users: ~6% fewer running requests) started next to the first, which
#      stays idle while the other is measured (a restart per block costs ~2 min of GPU); adaptive repeats of
#      examples/vllm-7b-effect.yaml -> worse?
# Results under /root/res (collected by device_run.sh). Env: SKIP="aa effect plan" leaves steps out.
set -u
RES=/root/res; SHAPE=${SHAPE:-llama-2-7b-awq}; MODEL=${MODEL_DIR:-$(pwd)/.gpu-model/synthetic/$SHAPE}
mkdir -p $RES
log() { echo "[$(date +%T)] $*"; }
skip() { case " ${SKIP:-} " in *" $1 "*) return 0;; esac; return 1; }
declare -A PORTS=([base]=8001 [seqs30]=8002)
declare -A ARGS=([base]="--max-num-seqs 64" [seqs30]="--max-num-seqs 30")
declare -A PIDOF=()
start_one() { # tag
  local tag=$1
  echo "vllm serve $MODEL --load-format dummy --served-model-name $SHAPE --max-model-len 4096 --gpu-memory-utilization 0.40 --seed 0 --port ${PORTS[$tag]} ${ARGS[$tag]}" > $RES/serve_$tag.cmd
  # shellcheck disable=SC2086
  setsid nohup python3 -m vllm.entrypoints.cli.main serve $MODEL --load-format dummy --served-model-name $SHAPE \
    --max-model-len 4096 --gpu-memory-utilization 0.40 --seed 0 --host 127.0.0.1 --port ${PORTS[$tag]} ${ARGS[$tag]} \
    >> $RES/server_$tag.log 2>&1 < /dev/null &
  PIDOF[$tag]=$!
}
wait_healthy() { # tag -> 0 healthy, 1 died or timed out; one retry on "No available memory for the cache blocks"
  local tag=$1
  for i in $(seq 1 420); do
    curl -sf -o /dev/null http://127.0.0.1:${PORTS[$tag]}/health && { log "$tag healthy after ${i}s"; return 0; }
    if ! kill -0 ${PIDOF[$tag]} 2>/dev/null; then
      log "$tag died: $(tail -3 $RES/server_$tag.log)"
      return 1
    fi
    sleep 1
  done; return 1
}
stop_all() { for p in "${PIDOF[@]}"; do kill -TERM -- -$p 2>/dev/null; done; sleep 8; for p in "${PIDOF[@]}"; do kill -KILL -- -$p 2>/dev/null; done; }
harness() { # log-name args... (MLflow store per study)
  local name=$1; shift
  MLFLOW_TRACKING_URI=sqlite:///$RES/$name.db python3 -m harness "$@" --set tracking.run_dir=$RES/runs > $RES/$name.log 2>&1
  local rc=$?; log "$name rc=$rc"; tail -4 $RES/$name.log
}
study() { # spec-stem [plan]: `harness plan` from a 2-block pilot first (the A/A's pilot sizes both: same server noise)
  local stem=$1 t0=$SECONDS
  if [ "${2:-}" = plan ] && ! skip plan; then harness plan-$stem plan examples/$stem.yaml --pilot-blocks 2; fi
  harness $stem run examples/$stem.yaml
  MLFLOW_TRACKING_URI=sqlite:///$RES/$stem.db python3 -m harness compare $stem > $RES/$stem-compare.txt 2>&1
  python3 scripts/vllm-gpu/export_mlflow.py sqlite:///$RES/$stem.db $stem $RES/$stem-export 2>&1 | tail -1
  echo "$stem wall_s $((SECONDS - t0))" >> $RES/minutes.txt
}
log "decide7b start"; nvidia-smi --query-gpu=name,memory.total,driver_version,power.limit --format=csv,noheader | tee $RES/gpu.txt
python3 -m pip list 2>/dev/null | grep -iE "^(vllm|torch|transformers|mlflow|lm.eval|locust|nvidia-ml-py) " > $RES/versions.txt
ls $MODEL > $RES/model-files.txt; cp $MODEL/config.json $RES/model-config.json
t0=$SECONDS; start_one base; wait_healthy base || { stop_all; touch $RES/DONE; exit 1; }
echo "start base s $((SECONDS - t0))" >> $RES/minutes.txt
skip aa || study vllm-7b-aa plan
if ! skip effect; then
  t0=$SECONDS; start_one seqs30; wait_healthy seqs30 && echo "start seqs30 s $((SECONDS - t0))" >> $RES/minutes.txt && study vllm-7b-effect
fi
nvidia-smi --query-gpu=memory.used,memory.total --format=csv,noheader >> $RES/gpu.txt
stop_all; log "decide7b done"; touch $RES/DONE
