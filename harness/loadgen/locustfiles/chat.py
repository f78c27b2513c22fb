"""Streaming chat workload against an OpenAI-compatible endpoint: the locustfile `harness run` runs headless.

    locust -f "$(python -m harness.loadgen.locustfiles)" --host ... --headless -u 4 -t 60s --records out.jsonl

By hand with the web UI, use `locust -f "$(python -m harness.webui)"` (the same user plus the LLM
tab, quality and MLflow; harness/webui/). Custom options: --model, --records, --harness-load (JSON
of the spec's `load` block), --api-key-env. The user class lives in the harness package so the
harness and hand-run Locust measure exactly the same way.
"""

from harness.loadgen.chat_user import ChatUser  # noqa: F401  (Locust collects User classes from this module)
