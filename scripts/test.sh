#!/usr/bin/env bash
# The test suite: unit, integration (real llama-server, Locust, lm-eval) and end-to-end tiers.
# Tests and CI read datasets, NLTK data and vLLM fixtures from ../shared (HARNESS_SHARED_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${HARNESS_SHARED_DIR:-$(cd .. && pwd)/shared}
export HARNESS_SHARED_DIR="$SHARED"
export HARNESS_DATA_DIR=${HARNESS_DATA_DIR:-$SHARED/datasets}
export NLTK_DATA=${NLTK_DATA:-$SHARED/nltk_data}
export HF_DATASETS_OFFLINE=1 HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
exec .venv/bin/python -m pytest "${@:-tests}"
