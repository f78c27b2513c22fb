#!/usr/bin/env bash
# One command from a fresh clone: set up, run examples/local-smoke.yaml end to end, compare.
# Offline data: with ../shared next to the checkout (or HARNESS_DATA_DIR / NLTK_DATA set) the
# GSM8K/IFEval JSONL files are read locally; otherwise lm-eval loads the official Hub datasets.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -z "${HARNESS_DATA_DIR:-}" ] && [ -d ../shared/datasets ]; then export HARNESS_DATA_DIR=$(cd ../shared/datasets && pwd); fi
if [ -z "${NLTK_DATA:-}" ] && [ -d ../shared/nltk_data ]; then export NLTK_DATA=$(cd ../shared/nltk_data && pwd); fi
.venv/bin/harness run "${1:-examples/local-smoke.yaml}" "${@:2}"
