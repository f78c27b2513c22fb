#!/usr/bin/env bash
# Real captures of the engine signals issue 18 maps (speculative decoding, prefix cache, cached tokens per reply),
# for when the device time left cannot hold a whole study: vLLM only (parts p1..p3 staged and dev_install.sh run),
# one server on the Llama-2-7B-AWQ shape with n-gram speculative decoding and --enable-prompt-tokens-details,
# 48 streamed requests sharing a long system prompt (12 at a time), then /metrics and one more streamed reply.
# usage (GPU machine, checkout root): bash scripts/vllm-gpu/capture_signals.sh   -> $OUT/signals/
set -u
T=${T:-$(pwd)/.gpu-parts/tools}; . $T/dev_common.sh
M=$(pwd)/.gpu-model/synthetic/llama-2-7b-awq; D=${OUT:-/tmp/out}/signals; mkdir -p $D
log() { echo "[$(date +%T)] $*"; }
ARGS=(serve $M --load-format dummy --served-model-name llama-2-7b-awq --max-model-len 2048 --gpu-memory-utilization 0.5
      --seed 0 --host 127.0.0.1 --port 8011 --enable-prompt-tokens-details
      --speculative-config '{"method": "ngram", "num_speculative_tokens": 3, "prompt_lookup_max": 4, "prompt_lookup_min": 2}')
echo "vllm ${ARGS[*]}" > $D/serve.cmd
t0=$SECONDS
setsid nohup python3 -m vllm.entrypoints.cli.main "${ARGS[@]}" > $D/server.log 2>&1 < /dev/null &
PID=$!
for i in $(seq 1 300); do
  curl -sf -o /dev/null http://127.0.0.1:8011/health && break
  kill -0 $PID 2>/dev/null || { log "died"; tail -20 $D/server.log; exit 1; }
  sleep 1
done
log "healthy after $((SECONDS - t0)) s"; curl -s http://127.0.0.1:8011/metrics > $D/metrics_idle.txt
SYS=$(python3 -c "print(' '.join(['the quick brown fox jumps over the lazy dog'] * 40))")
body() { printf '{"model": "llama-2-7b-awq", "messages": [{"role": "system", "content": "%s"}, {"role": "user", "content": "Question %s: say something."}], "max_tokens": 64, "ignore_eos": true, "stream": true, "stream_options": {"include_usage": true}}' "$SYS" "$1"; }
for wave in 1 2 3 4; do
  for k in $(seq 1 12); do curl -sN http://127.0.0.1:8011/v1/chat/completions -H 'Content-Type: application/json' -d "$(body $wave-$k)" > $D/reply_${wave}_${k}.sse & done
  wait
done
body last > $D/request.json
curl -sN http://127.0.0.1:8011/v1/chat/completions -H 'Content-Type: application/json' -d "$(body last)" > $D/chat_stream_cached.sse
curl -s http://127.0.0.1:8011/metrics > $D/metrics_after_load.txt
log "captured $(grep -c '^vllm:' $D/metrics_after_load.txt) metric lines; $(grep -o '"cached_tokens":[0-9]*' $D/chat_stream_cached.sse)"
grep -E "^vllm:(spec_decode|prefix_cache|prompt_tokens_cached|num_preemptions)" $D/metrics_after_load.txt | head -20
kill -TERM -- -$PID 2>/dev/null; sleep 3; kill -KILL -- -$PID 2>/dev/null
rm -f $D/reply_*.sse; echo "capture wall s $((SECONDS - t0))" >> $D/minutes.txt
