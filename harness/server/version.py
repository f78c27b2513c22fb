"""Ask a running server what it is (for tracking)."""

from __future__ import annotations

import httpx

from harness.server.endpoint import Endpoint
from harness.server.engines import engines_behind


def server_version(endpoint: Endpoint) -> dict[str, str]:
    """Best-effort facts from each engine that may serve it (vLLM's /version, llama.cpp's /props); its own engine's first win."""
    info: dict[str, str] = {}
    with httpx.Client(timeout=5.0) as client:
        for eng in engines_behind(endpoint.engine):
            for key, value in eng.server_info(client, endpoint).items():
                info.setdefault(key, value)
    return info
