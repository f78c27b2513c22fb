"""Streaming chat workload against an OpenAI-compatible endpoint.

    locust -f "$(python -m harness.loadgen.locustfiles)" --host http://127.0.0.1:8080   # web UI on :8089
    locust -f locustfiles/chat.py --host ... --headless -u 4 -t 60s --records out.jsonl   # from a checkout

Custom options (also settable in the web UI): --model, --records, --harness-load (JSON of the
spec's `load` block), --api-key-env. The user class lives in the harness package so the
harness and hand-run Locust measure exactly the same way.
"""

from harness.loadgen.chat_user import ChatUser  # noqa: F401  (Locust collects User classes from this module)
