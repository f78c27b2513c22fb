#!/usr/bin/env bash
# The GPU proof of issue 18 (and issue 17's "a 5-10% effect decided"): examples/vllm-7b-llama2-awq.yaml, the
# Llama-2-7B-AWQ tuning study (synthetic weights, six knobs against vLLM's defaults), run by
# `device_run.sh start study7b` from a snapshot of the checkout, with device_run.sh's environment.
# The model folder (Llama-2-7B's config.json with the published AWQ quantization_config + the embedded tokenizer) is
# materialised on the CPU machine (harness.server.synthetic.materialise(shape, Path(".gpu-model"))) and carried.
#   1. colocate.py: the study's own vLLM argv per variant (gpu_memory_utilization 0.18 each) and its attach spec
#   2. the servers started one after the other (a server that fails to start is left out and said so)
#   3. `harness run` of the attach spec: interleaved blocks, one server measured at a time, the others idle
#   4. compare, MLflow export, each server's /metrics and one streamed reply (real captures for the fixtures)
# Results under /root/res (collected by device_run.sh). Env: SPEC (another study of the same shape, e.g.
# examples/vllm-7b-prefix-pool.yaml or vllm-7b-agentic.yaml), SPECS="a.yaml b.yaml" (the servers of the first,
# each spec measured in turn on those whose argv it shares), SHARE (0.18), ONLY="base,kv-fp8" (start only those);
# for a dry run on a CPU machine: RES, VLLM_CMD ("python3 tests/fakes/fake_vllm.py"), EXTRA_SETS ("--set load.duration_s=3").
set -u
RES=${RES:-/root/res}; SHAPE=${SHAPE:-llama-2-7b-awq}; MODEL=${MODEL_DIR:-$(pwd)/.gpu-model/synthetic/$SHAPE}
[ -n "${SPECS:-}" ] && SPEC=${SPECS%% *}; SPEC=${SPEC:-examples/vllm-7b-llama2-awq.yaml}; STEM=$(basename $SPEC .yaml); COLO=$RES/colo
mkdir -p $RES
log() { echo "[$(date +%T)] $*"; }
declare -A PIDOF=() PORTOF=() T0=()
launch() { # variant: start its server, return once its KV cache is allocated (the next may then profile memory
  local v=$1  # without counting this one's growth), it died, or 300 s passed
  T0[$v]=$SECONDS
  PORTOF[$v]=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['port'])" $COLO/argv/$v.json)
  python3 -c "import json,sys; print(' '.join(json.load(open(sys.argv[1]))['argv']))" $COLO/argv/$v.json > $RES/serve_$v.cmd
  setsid nohup python3 -c "import json,os,sys; a=json.load(open(sys.argv[1]))['argv']; os.execvp(a[0], a)" \
    $COLO/argv/$v.json > $RES/server_$v.log 2>&1 < /dev/null &  # a fresh log: its KV-cache line is this start's
  PIDOF[$v]=$!
  for i in $(seq 1 300); do
    grep -q "GPU KV cache size" $RES/server_$v.log 2>/dev/null && { log "$v KV cache allocated after $((SECONDS - T0[$v]))s"; return 0; }
    kill -0 ${PIDOF[$v]} 2>/dev/null || return 0
    curl -sf -o /dev/null http://127.0.0.1:${PORTOF[$v]}/health && return 0
    sleep 1
  done
}
healthy() { # variant -> 0 healthy (within 420 s of its start), 1 died or timed out
  local v=$1
  while [ $((SECONDS - T0[$v])) -lt 420 ]; do
    if curl -sf -o /dev/null http://127.0.0.1:${PORTOF[$v]}/health; then
      log "$v healthy after $((SECONDS - T0[$v]))s"; echo "start $v s $((SECONDS - T0[$v]))" >> $RES/minutes.txt; return 0
    fi
    if ! kill -0 ${PIDOF[$v]} 2>/dev/null; then log "$v died: $(grep -E 'Error|error' $RES/server_$v.log | tail -3)"; return 1; fi
    sleep 1
  done
  log "$v not healthy in 420 s"; kill -KILL -- -${PIDOF[$v]} 2>/dev/null; return 1
}
stop_all() { for p in "${PIDOF[@]}"; do kill -TERM -- -$p 2>/dev/null; done; sleep 8; for p in "${PIDOF[@]}"; do kill -KILL -- -$p 2>/dev/null; done; }
log "study7b start"; nvidia-smi --query-gpu=name,memory.total,driver_version,power.limit --format=csv,noheader | tee $RES/gpu.txt
python3 -m pip list 2>/dev/null | grep -iE "^(vllm|torch|transformers|mlflow|lm.eval|locust|nvidia-ml-py) " > $RES/versions.txt
cp $MODEL/config.json $RES/model-config.json || { log "no model folder at $MODEL (carry .gpu-model)"; touch $RES/DONE; exit 1; }
python3 scripts/vllm-gpu/colocate.py $SPEC $MODEL $COLO --share ${SHARE:-0.18} ${VLLM_CMD:+--vllm "$VLLM_CMD"} > /dev/null || { log "colocate failed"; touch $RES/DONE; exit 1; }
ok=""; order=""
for v in $(ls $COLO/argv | sed 's/\.json$//' | python3 -c "
import sys, yaml; order=[v['name'] for v in yaml.safe_load(open('$SPEC'))['variants']]; got=set(sys.stdin.read().split())
print(' '.join(v for v in order if v in got and (not '${ONLY:-}' or v in '${ONLY:-}'.split(','))))"); do
  launch $v; order="$order $v"
done
for v in $order; do healthy $v && ok="$ok,$v"; done
ok=${ok#,}; log "serving: $ok"; echo "serving $ok" >> $RES/minutes.txt
[ -n "$ok" ] || { log "no server started: nothing to measure"; stop_all; touch $RES/DONE; exit 1; }
nvidia-smi --query-gpu=memory.used,memory.total --format=csv,noheader >> $RES/gpu.txt
for SP in ${SPECS:-$SPEC}; do  # each spec measured on the servers started above (its argv must be theirs)
  ST=$(basename $SP .yaml); C=$RES/colo-$ST; SP_OK=""
  python3 scripts/vllm-gpu/colocate.py $SP $MODEL $C --share ${SHARE:-0.18} ${VLLM_CMD:+--vllm "$VLLM_CMD"} > /dev/null || { log "$ST: colocate failed"; continue; }
  for v in ${ok//,/ }; do [ -f $C/argv/$v.json ] && cmp -s $C/argv/$v.json $COLO/argv/$v.json && SP_OK="$SP_OK,$v"; done
  SP_OK=${SP_OK#,}; [ -n "$SP_OK" ] || { log "$ST: no running server has its argv: skipped"; continue; }
  python3 scripts/vllm-gpu/colocate.py $SP $MODEL $C --share ${SHARE:-0.18} ${VLLM_CMD:+--vllm "$VLLM_CMD"} --only "$SP_OK" > /dev/null
  t0=$SECONDS; log "$ST on $SP_OK"
  MLFLOW_TRACKING_URI=sqlite:///$RES/$ST.db python3 -m harness run $C/$ST-colocated.yaml --set tracking.run_dir=$RES/runs ${EXTRA_SETS:-} > $RES/$ST.log 2>&1
  log "$ST harness rc=$?"; tail -6 $RES/$ST.log
  echo "$ST wall_s $((SECONDS - t0))" >> $RES/minutes.txt
  MLFLOW_TRACKING_URI=sqlite:///$RES/$ST.db python3 -m harness compare $ST-colocated > $RES/$ST-compare.txt 2>&1
  python3 scripts/vllm-gpu/export_mlflow.py sqlite:///$RES/$ST.db $ST-colocated $RES/$ST-export 2>&1 | tail -1
  cp -r $(ls -d reports/$ST-colocated-* 2>/dev/null | tail -1) $RES/report-$ST 2>/dev/null
done
for v in ${ok//,/ }; do  # real captures: /metrics after the load, a streamed reply with usage (the second: cached)
  curl -s http://127.0.0.1:${PORTOF[$v]}/metrics > $RES/metrics_$v.txt
  for n in 1 2; do curl -sN http://127.0.0.1:${PORTOF[$v]}/v1/chat/completions -H 'Content-Type: application/json' -d "{\"model\": \"$SHAPE\", \"messages\": [{\"role\": \"system\", \"content\": \"$(printf 'You are a careful assistant. %.0s' $(seq 1 40))\"}, {\"role\": \"user\", \"content\": \"Say hi.\"}], \"max_tokens\": 8, \"stream\": true, \"stream_options\": {\"include_usage\": true}}" > $RES/chat_stream_$v.sse; done
done
stop_all; log "study7b done"; touch $RES/DONE
