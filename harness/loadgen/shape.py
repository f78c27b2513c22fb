"""Locust LoadTestShape for closed-loop steps and ramps (`load.pattern: steps` with `users`).

Imported only inside a Locust process (via harness/loadgen/locustfiles/chat_steps.py). The steps come from the
`--harness-load` option, so the shape and the users read one spec.
"""

from __future__ import annotations

from locust import LoadTestShape

from harness.loadgen.pacer import step_at
from harness.spec.load import LoadSpec


class StepsShape(LoadTestShape):
    """Follows `load.steps`; the run ends with the last step."""

    _spec: LoadSpec | None = None

    def tick(self) -> tuple[int, float] | None:
        if self._spec is None:
            opts = self.runner.environment.parsed_options
            self._spec = LoadSpec.model_validate_json(opts.harness_load)
        return step_at(self._spec, self.get_run_time())
