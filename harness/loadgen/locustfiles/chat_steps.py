"""The chat workload with a stepped / ramped user count (`load.pattern: steps` with `users`).

    locust -f "$(python -m harness.loadgen.locustfiles --steps)" --host ... --headless \
        --harness-load '{"pattern": "steps", "steps": [{"duration_s": 30, "users": 2}, {"duration_s": 30, "users": 8, "spawn_rate": 0.5}]}'

Locust uses the shape class it finds here instead of --users / --run-time.
"""

from harness.loadgen.chat_user import ChatUser  # noqa: F401  (Locust collects User classes from this module)
from harness.loadgen.shape import StepsShape  # noqa: F401  (and the shape class)
