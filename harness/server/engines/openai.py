"""Attach to a running OpenAI-compatible endpoint (`server.kind: openai`): nothing is launched.

Whatever serves it is unknown, so its metric names, /tokenize shape and version come from every
registered engine (see `engines_behind`).
"""

from __future__ import annotations

from harness.server.endpoint import Endpoint
from harness.server.engines.base import Engine
from harness.spec.model import ServerSpec


class OpenAI(Engine):
    kind = "openai"
    launches = False
    health_path = "/v1/models"  # the one path every OpenAI-compatible server has
    prompt_logprobs = None  # whatever serves the endpoint: unknown until lm-eval asks

    def endpoint(self, server: ServerSpec, port: int | None) -> Endpoint:
        assert server.openai is not None  # the spec requires it for kind=openai
        metrics_url = server.openai.metrics_url
        if metrics_url is None:
            metrics_url = server.openai.base_url + "/metrics"
        return Endpoint(
            base_url=server.openai.base_url,
            model=server.served_model_name,
            metrics_url=metrics_url or None,
            api_key_env=server.api_key_env,
            engine=self.kind,
        )


ENGINE = OpenAI()
