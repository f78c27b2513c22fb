#!/usr/bin/env bash
# GPU-machine side (no network), from the checkout root, after the parts of build_parts.sh were staged
# with ../shared/gpu-vllm/dev_stage.sh (copied to .gpu-parts/tools). One phase per call:
#   install        after p1..p3: vLLM + its deps (dev_install.sh), the harness's deps, the data; import check
#   model          after p5: GGUF -> HF bf16 folder /root/smol (gguf_to_hf.py)
#   start [WORK] [SECS]  launch WORK (default `work`; `proofs`: scripts/vllm-gpu/proofs.sh, the issue 11-13 GPU
#                  proofs; `decide7b`: scripts/vllm-gpu/decide7b.sh, issue 17's 7B decisions; `study7b`: scripts/vllm-gpu/study7b.sh, issue 18's
#                  Llama-2-7B-AWQ study) in the background (setsid: it outlives the call) and wait like `wait`
#   wait [SECS]    wait for `work` to finish (or SECS, default 540), then `collect`
#   collect        copy the results so far to $OUT (results.tgz + the small text files)
#   work           sweep (examples/vllm-smoke.yaml) -> compare -> export -> reference comparison
# Env: VARIANTS="bf16 bf16-seqs8 fp8" (default all of the spec), REF_RATES="16", REF_CONC="" (closed-loop points),
#      REF_PROMPTS (prompts per bench run, default 400), REF_REPEATS (rounds), SKIP_SWEEP=1 (only the reference comparison).
set -u
T=${T:-$(pwd)/.gpu-parts/tools}
. $T/dev_common.sh
REPO=$(pwd); RES=/root/res; HSITE=/root/hsite; DATA=/root/data
export PYTHONPATH=$SITE:$HSITE:$REPO HARNESS_DATA_DIR=$DATA/datasets NLTK_DATA=$DATA/nltk_data \
       MLFLOW_TRACKING_URI=sqlite:///$RES/mlflow.db HF_DATASETS_OFFLINE=1
mkdir -p $RES /root/bin
log() { echo "[$(date +%T)] $*"; }
collect() {
  mkdir -p "${OUT:-/tmp/out}"
  tar czf "${OUT:-/tmp/out}/results.tgz" -C /root --exclude='*.jsonl' --exclude='records*' res 2>/dev/null
  tar czf "${OUT:-/tmp/out}/raw.tgz" -C /root res/runs 2>/dev/null
  for f in sweep.log reference.log driver.log compare.txt decide.log decide-compare.txt fidelity.log gpu.txt capacity.log capacity-compare.txt loglikelihood.log ll-official.log vllm-7b-aa.log vllm-7b-effect.log plan-vllm-7b-aa.log plan-vllm-7b-effect.log vllm-7b-llama2-awq.log vllm-7b-llama2-awq-compare.txt minutes.txt; do [ -f $RES/$f ] && cp $RES/$f "${OUT:-/tmp/out}/"; done
  ls -la "${OUT:-/tmp/out}"
}
case ${1:-} in
install)
  bash $T/dev_install.sh 2>&1 | tail -8
  cut_file harness.txz && mkdir -p $HSITE && tar xJf $STAGE/harness.txz -C $HSITE && rm $STAGE/harness.txz
  cut_file data.txz && mkdir -p $DATA && tar xJf $STAGE/data.txz -C $DATA && rm $STAGE/data.txz
  printf '#!/bin/sh\nexec python3 -m vllm.entrypoints.cli.main "$@"\n' > /root/bin/vllm; chmod +x /root/bin/vllm
  python3 -c "import time; t=time.time(); import mlflow, lm_eval, harness.pipeline, harness.cli; print('harness deps ok', mlflow.__version__, lm_eval.__version__, round(time.time()-t,1), 's')" 2>&1 | tail -3
  python3 -m harness validate examples/vllm-smoke.yaml --set server.model=/root/smol >/dev/null && echo "spec ok"
  python3 -m locust --version; python3 -m lm_eval --help >/dev/null && echo "lm_eval cli ok"
  ;;
model)
  cut_file model.gguf || exit 1
  python3 $T/gguf_to_hf.py $STAGE/model.gguf $MODEL 2>&1 | grep -v "it/s\]" | tail -3; ls $MODEL
  ;;
start)
  # run from a snapshot: the next call re-sends (replaces) the checkout while the sweep is running
  rm -rf /root/hrepo; mkdir -p /root/hrepo; tar -C "$REPO" --exclude=./.gpu-parts -cf - . | tar -C /root/hrepo -xf -
  rm -f $RES/DONE; WORK=${2:-work}
  (cd /root/hrepo && T=$T setsid nohup bash scripts/vllm-gpu/device_run.sh $WORK > $RES/driver.log 2>&1 < /dev/null &)
  sleep 2; exec bash scripts/vllm-gpu/device_run.sh wait "${3:-420}"   # model + start + wait must fit one 600 s call
  ;;
wait)
  end=$((SECONDS + ${2:-540}))
  while [ ! -f $RES/DONE ] && [ $SECONDS -lt $end ]; do sleep 5; done
  tail -25 $RES/driver.log; tail -5 $RES/sweep.log 2>/dev/null; tail -5 $RES/reference.log 2>/dev/null
  collect
  ;;
collect) collect ;;
proofs) exec bash scripts/vllm-gpu/proofs.sh ;;
decide7b) exec bash scripts/vllm-gpu/decide7b.sh ;;
study7b) exec bash scripts/vllm-gpu/study7b.sh ;;
work)
  log "work start"; nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  python3 -m pip list 2>/dev/null | grep -iE "^(vllm|torch|transformers|mlflow|lm.eval|locust) " > $RES/versions.txt
  SETS="--set server.model=$MODEL --set server.vllm.executable=/root/bin/vllm --set tracking.run_dir=$RES/runs"
  VSEL=""; for v in ${VARIANTS:-}; do VSEL="$VSEL --variant $v"; done
  if [ -z "${SKIP_SWEEP:-}" ]; then
    log "sweep: harness run examples/vllm-smoke.yaml $SETS $VSEL"
    python3 -m harness run examples/vllm-smoke.yaml $SETS $VSEL > $RES/sweep.log 2>&1; log "sweep rc=$?"
    python3 -m harness compare vllm-smoke > $RES/compare.txt 2>&1; log "compare rc=$?"
    python3 scripts/vllm-gpu/export_mlflow.py "$MLFLOW_TRACKING_URI" vllm-smoke $RES/export 2>&1 | tail -2
  fi
  log "reference: rates ${REF_RATES:-16} concurrency ${REF_CONC:-}"
  python3 benchmarks/vllm_reference.py --spec examples/vllm-smoke.yaml --variant bf16 $SETS --tokenizer $MODEL \
    --vllm /root/bin/vllm --rates ${REF_RATES:-16} ${REF_CONC:+--concurrency $REF_CONC} ${REF_PROMPTS:+--num-prompts $REF_PROMPTS} ${REF_REPEATS:+--repeats $REF_REPEATS} \
    --out $RES/reference > $RES/reference.log 2>&1
  log "reference rc=$?"; touch $RES/DONE
  ;;
*) echo "usage: device_run.sh install|model|start [work|proofs|decide7b|study7b]|wait|collect|work|proofs|decide7b|study7b"; exit 2 ;;
esac
