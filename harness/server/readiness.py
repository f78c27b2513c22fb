"""Wait until a server is really ready: health, model listed, one completion answered.

Retries run under a deadline (tenacity) and race the server process: if it exits, waiting
stops at once with the tail of its log.
"""

from __future__ import annotations

import time
from typing import Protocol

import httpx
import tenacity

from harness.errors import ReadinessTimeout, ServerExitedError
from harness.server.endpoint import Endpoint
from harness.server.process import likely_cause


class _Watched(Protocol):
    def poll(self) -> int | None: ...
    def log_tail(self, lines: int = 40) -> str: ...


class NotReady(Exception):
    """One readiness probe failed (retried)."""


def _check_alive(proc: _Watched | None, engine: str | None = None) -> None:
    if proc is not None and (code := proc.poll()) is not None:
        log = proc.log_tail(60)
        raise ServerExitedError(f"server exited with code {code} before it was ready", code, log, likely_cause(log, engine))


def probe(endpoint: Endpoint, client: httpx.Client, warmup_max_tokens: int) -> None:
    """One full readiness check; raises NotReady with the reason."""
    try:
        health = client.get(endpoint.base_url + "/health")
        if health.status_code != 200:
            raise NotReady(f"/health answered {health.status_code}")
        models = client.get(endpoint.base_url + "/v1/models", headers=endpoint.headers())
        if models.status_code != 200:
            raise NotReady(f"/v1/models answered {models.status_code}")
        ids = [m.get("id") for m in models.json().get("data", [])]
        if endpoint.model not in ids:
            raise NotReady(f"/v1/models lists {ids}, not '{endpoint.model}'")
        body = {
            "model": endpoint.model,
            "messages": [{"role": "user", "content": "Say hello."}],
            "max_tokens": warmup_max_tokens,
            "temperature": 0,
        }
        chat = client.post(endpoint.base_url + "/v1/chat/completions", json=body, headers=endpoint.headers())
        if chat.status_code != 200:
            raise NotReady(f"warm-up completion answered {chat.status_code}: {chat.text[:200]}")
        if not chat.json().get("choices"):
            raise NotReady("warm-up completion had no choices")
    except (httpx.HTTPError, ValueError) as exc:
        raise NotReady(f"{type(exc).__name__}: {exc}") from exc


def wait_ready(
    endpoint: Endpoint,
    deadline_s: float,
    proc: _Watched | None = None,
    warmup_max_tokens: int = 8,
    poll_s: float = 0.5,
) -> float:
    """Block until `endpoint` is ready; returns the seconds it took."""
    started = time.monotonic()
    last: list[str] = ["no probe yet"]

    def attempt() -> None:
        _check_alive(proc, endpoint.engine)
        try:
            with httpx.Client(timeout=httpx.Timeout(30.0, connect=2.0)) as client:
                probe(endpoint, client, warmup_max_tokens)
        except NotReady as exc:
            last[0] = str(exc)
            _check_alive(proc, endpoint.engine)
            raise

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception_type(NotReady),
        stop=tenacity.stop_after_delay(deadline_s),
        wait=tenacity.wait_exponential(multiplier=poll_s, max=5.0),
        reraise=True,
    )
    try:
        retrying(attempt)
    except NotReady:
        log = proc.log_tail(40) if proc is not None else ""
        raise ReadinessTimeout(
            f"server at {endpoint.base_url} not ready after {deadline_s:.0f}s (last check: {last[0]}); "
            "raise server.startup_timeout_s if it is still loading"
            + (f"\n--- last lines of the server log ---\n{log}" if log else "")
        ) from None
    return time.monotonic() - started
