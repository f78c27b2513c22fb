"""The chat workload with the harness's web-UI parts (an LLM tab; quality and MLflow from the start form).

    locust -f "$(python -m harness.webui)" --host http://127.0.0.1:8080   # web UI on http://127.0.0.1:8089

Start-form fields besides Locust's: --model, --records, --harness-load (the spec's `load` block as
JSON), --api-key-env, --quality-tasks, --quality-limit, --mlflow-experiment, --mlflow-tracking-uri,
--variant. The user class is the one `harness run` measures with (harness/loadgen/chat_user.py).
"""

from harness.loadgen.chat_user import ChatUser  # noqa: F401  (Locust collects User classes from this module)
from harness.webui import plugin  # noqa: F401  (its listeners: the LLM tab, quality, MLflow)
