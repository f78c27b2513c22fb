"""`locust -f locustfiles/chat_steps.py` from a checkout: the packaged locustfile (harness/loadgen/locustfiles/chat_steps.py)."""

from harness.loadgen.locustfiles.chat_steps import ChatUser, StepsShape  # noqa: F401  (Locust collects these from this module)
