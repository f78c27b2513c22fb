"""The endpoint every later stage talks to."""

from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Endpoint:
    """An OpenAI-compatible endpoint. The API key is read from the environment on use, never stored."""

    base_url: str
    """e.g. http://127.0.0.1:8080 (no /v1)."""
    model: str
    """Model name to send in requests."""
    metrics_url: str | None = None
    """Prometheus endpoint, or None when not scraped."""
    api_key_env: str | None = None
    """Name of the environment variable holding the key."""
    engine: str = "unknown"
    """A `server.kind` (harness/server/engines/), or "unknown"."""
    info: dict[str, str] = field(default_factory=dict)
    """Facts learned from the server (version, build) for tracking."""

    @property
    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None

    def headers(self) -> dict[str, str]:
        key = self.api_key
        return {"Authorization": f"Bearer {key}"} if key else {}
