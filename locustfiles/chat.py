"""`locust -f locustfiles/chat.py` from a checkout: the packaged locustfile (harness/loadgen/locustfiles/chat.py)."""

from harness.loadgen.locustfiles.chat import ChatUser  # noqa: F401  (Locust collects User classes from this module)
