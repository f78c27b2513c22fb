"""Attach to a running OpenAI-compatible endpoint (`server.kind: openai`): nothing is launched.

Whatever serves it is unknown, so its metric names, /tokenize shape and version come from every
registered engine (see `engines_behind`).
"""

from __future__ import annotations

from harness.server.endpoint import Endpoint
from harness.server.engines.base import Engine
from harness.spec.model import EMBEDDED_MODEL, ServerSpec


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

    def described_model(self, server: ServerSpec) -> str:
        """`server.model` when set; else the served model name. The spec's default model (the embedded GGUF) says
        nothing about what an attached endpoint serves: its bits per weight (Q4_1's 5) would be a wrong guess."""
        return server.served_model_name if server.model == EMBEDDED_MODEL else server.model

    def quantization(self, server: ServerSpec) -> str:
        return super().quantization(server) if server.model != EMBEDDED_MODEL else "unknown"


ENGINE = OpenAI()
