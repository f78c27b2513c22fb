"""Ask a running server what it is (for tracking)."""

from __future__ import annotations

import httpx

from harness.server.endpoint import Endpoint


def server_version(endpoint: Endpoint) -> dict[str, str]:
    """Best-effort facts: vLLM's /version, llama.cpp's /props build_info."""
    info: dict[str, str] = {}
    with httpx.Client(timeout=5.0) as client:
        try:
            r = client.get(endpoint.base_url + "/version", headers=endpoint.headers())
            if r.status_code == 200 and isinstance(r.json(), dict) and "version" in r.json():
                info["server_version"] = str(r.json()["version"])
        except (httpx.HTTPError, ValueError):
            pass
        try:
            r = client.get(endpoint.base_url + "/props", headers=endpoint.headers())
            if r.status_code == 200 and isinstance(r.json(), dict):
                props = r.json()
                if "build_info" in props:
                    info["server_version"] = str(props["build_info"])
                if "total_slots" in props:
                    info["total_slots"] = str(props["total_slots"])
        except (httpx.HTTPError, ValueError):
            pass
    return info
