#!/usr/bin/env bash
# One command from a fresh clone: set up, run examples/local-quant-sweep.yaml end to end (the Q4_1 source vs
# llama-quantize's Q8_0 / Q3_K_M / Q2_K and a Q8_0 KV cache: fidelity, GSM8K, IFEval, load), compare.
# `bash scripts/quickstart.sh examples/local-smoke.yaml` runs the smoke sweep instead.
# Offline data: with ../shared next to the checkout (or HARNESS_DATA_DIR / NLTK_DATA set) the
# GSM8K/IFEval JSONL files are read locally; otherwise lm-eval loads the official Hub datasets.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${HARNESS_DATA_DIR:-}" ] && [ -d ../shared/datasets ]; then export HARNESS_DATA_DIR=$(cd ../shared/datasets && pwd); fi
if [ -z "${NLTK_DATA:-}" ] && [ -d ../shared/nltk_data ]; then export NLTK_DATA=$(cd ../shared/nltk_data && pwd); fi
.venv/bin/harness run "${1:-examples/local-quant-sweep.yaml}" "${@:2}"
