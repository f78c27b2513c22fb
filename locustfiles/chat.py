"""`locust -f locustfiles/chat.py` from a checkout: the web UI's locustfile (harness/webui/locustfile.py).

The harness's own headless runs use the packaged harness/loadgen/locustfiles/chat.py (the same user class).
"""

from harness.webui.locustfile import ChatUser, plugin  # noqa: F401  (Locust collects User classes; the plugin's listeners)
